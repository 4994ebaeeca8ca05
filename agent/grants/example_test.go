package grants_test

import (
	"fmt"
	"time"

	"github.com/signet-agent/signet/agent/grants"
)

// The consent layer creates a grant when the person allows "5 signatures
// within 10 minutes", and consults it before asking again.
func Example() {
	store := grants.New()
	g, err := store.Add(grants.Grant{
		Origin:    "https://portal.example",
		Plugin:    "cipher",
		KeyURI:    "pkcs11:token=Signet;object=key1;type=private",
		Operation: "sign",
		Uses:      5,
		Expires:   time.Now().Add(10 * time.Minute),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Cipher hands g.ID to the page as its accessTokenUuid; later requests
	// present it.
	used, ok := store.ConsumeID(g.ID, "https://portal.example", "cipher",
		"pkcs11:token=Signet;object=key1;type=private", "sign", time.Now())
	fmt.Println(ok, used.Remaining)

	// Another origin cannot use it, with or without the token.
	_, ok = store.Consume("https://evil.example", "cipher",
		"pkcs11:token=Signet;object=key1;type=private", "sign", time.Now())
	fmt.Println(ok)

	store.Revoke(g.ID)
	fmt.Println(len(store.List()))
	// Output:
	// true 4
	// false
	// 0
}
