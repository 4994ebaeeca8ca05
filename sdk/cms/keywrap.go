package cms

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// AES key wrap (RFC 3394), used by ECDH key agreement recipients (RFC 5753)
// to protect the content-encryption key with the key-encryption key derived
// from the shared secret. Only the default initial value A6A6A6A6A6A6A6A6 is
// supported; RFC 5649 (key wrap with padding) is not used by CMS AES-CBC
// recipients because content-encryption keys are multiples of 8 bytes.

// keyWrapIV is the default initial value of RFC 3394 §2.2.3.1.
var keyWrapIV = [8]byte{0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}

// errKeyUnwrap is returned when the integrity check of an unwrapped key
// fails. Callers turn it into the generic ErrDecryptionFailed.
var errKeyUnwrap = errors.New("cms: key unwrap integrity check failed")

// keyWrap wraps plaintext key material (a multiple of 8 bytes, at least 16)
// with kek (16, 24 or 32 bytes) per RFC 3394 §2.2.1.
func keyWrap(kek, plaintext []byte) ([]byte, error) {
	if len(plaintext) < 16 || len(plaintext)%8 != 0 {
		return nil, fmt.Errorf("cms: key wrap: key length %d is not a multiple of 8 of at least 16", len(plaintext))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("cms: key wrap: %w", err)
	}
	n := len(plaintext) / 8
	out := make([]byte, 8+len(plaintext))
	copy(out[8:], plaintext)
	var a [8]byte
	copy(a[:], keyWrapIV[:])
	var b [16]byte
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			copy(b[:8], a[:])
			copy(b[8:], out[8*i:8*i+8])
			block.Encrypt(b[:], b[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(a[:], binary.BigEndian.Uint64(b[:8])^t)
			copy(out[8*i:8*i+8], b[8:])
		}
	}
	copy(out[:8], a[:])
	return out, nil
}

// keyUnwrap reverses keyWrap (RFC 3394 §2.2.2) and checks the integrity
// value in constant time. Any failure after the length check is reported as
// errKeyUnwrap without detail.
func keyUnwrap(kek, wrapped []byte) ([]byte, error) {
	if len(wrapped) < 24 || len(wrapped)%8 != 0 {
		return nil, fmt.Errorf("cms: key unwrap: wrapped key length %d is invalid", len(wrapped))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("cms: key unwrap: %w", err)
	}
	n := len(wrapped)/8 - 1
	out := make([]byte, len(wrapped)-8)
	copy(out, wrapped[8:])
	var a [8]byte
	copy(a[:], wrapped[:8])
	var b [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(a[:])^t)
			copy(b[8:], out[8*(i-1):8*i])
			block.Decrypt(b[:], b[:])
			copy(a[:], b[:8])
			copy(out[8*(i-1):8*i], b[8:])
		}
	}
	if subtle.ConstantTimeCompare(a[:], keyWrapIV[:]) != 1 {
		clear(out)
		return nil, errKeyUnwrap
	}
	return out, nil
}
