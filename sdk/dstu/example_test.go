package dstu_test

import (
	"fmt"

	"github.com/signet-agent/signet/sdk/dstu"
)

func Example() {
	key, err := dstu.GenerateKey(dstu.Curve257, nil) // crypto/rand
	if err != nil {
		panic(err)
	}
	digest := dstu.Sum34311([]byte("Заява"))
	sig, err := key.Sign(nil, digest[:], nil) // r‖s, little-endian halves
	if err != nil {
		panic(err)
	}
	// The compressed key is what a certificate carries.
	pub, err := dstu.ParseCompressed(dstu.Curve257, key.PublicKey.Compressed())
	if err != nil {
		panic(err)
	}
	fmt.Println(len(sig), pub.Verify(digest[:], sig) == nil)
	// Output: 64 true
}
