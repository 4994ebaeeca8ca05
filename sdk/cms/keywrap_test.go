package cms

import (
	"bytes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"crypto/sha1"
	"errors"
	"fmt"
	"testing"
)

func TestDES3KeyWrapRoundTrip(t *testing.T) {
	kek := make([]byte, 24)
	cek := make([]byte, 24)
	iv := make([]byte, 8)
	for _, b := range [][]byte{kek, cek, iv} {
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
	}
	wrapped, err := des3KeyWrap(kek, cek, iv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := des3KeyUnwrap(kek, wrapped)
	if err != nil || !bytes.Equal(got, cek) {
		t.Fatalf("unwrap: %x, %v", got, err)
	}
	for i := range wrapped {
		bad := append([]byte{}, wrapped...)
		bad[i] ^= 0x80
		if _, err := des3KeyUnwrap(kek, bad); !errors.Is(err, errKeyUnwrap) {
			t.Fatalf("byte %d tampered: err = %v", i, err)
		}
	}
	if _, err := des3KeyUnwrap(kek, wrapped[:32]); err == nil {
		t.Fatal("short input accepted")
	}
}

// des3KeyWrap is the inverse of des3KeyUnwrap, for tests.
func des3KeyWrap(kek, cek, iv []byte) ([]byte, error) {
	if len(cek) != 24 || len(iv) != 8 {
		return nil, fmt.Errorf("cms: 3DES key wrap: key %d bytes, IV %d bytes", len(cek), len(iv))
	}
	block, err := des.NewTripleDESCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("cms: 3DES key wrap: %w", err)
	}
	sum := sha1.Sum(cek)
	cekICV := append(append([]byte{}, cek...), sum[:8]...)
	temp1 := make([]byte, 32)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(temp1, cekICV)
	temp2 := append(append([]byte{}, iv...), temp1...)
	temp3 := make([]byte, 40)
	for i := range temp2 {
		temp3[i] = temp2[39-i]
	}
	out := make([]byte, 40)
	cipher.NewCBCEncrypter(block, des3WrapIV).CryptBlocks(out, temp3)
	return out, nil
}
