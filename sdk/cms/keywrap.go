package cms

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/sha1"
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

// CMS Triple-DES key wrap (RFC 3217 §3), decrypt side only: OpenSSL wraps
// the content key this way for EC recipients when the content cipher is
// Triple-DES (its default cipher).

// des3WrapIV is the fixed IV of the outer encryption (RFC 3217 §3.1).
var des3WrapIV = []byte{0x4a, 0xdd, 0xa2, 0x2c, 0x79, 0xe8, 0x21, 0x05}

// des3KeyUnwrap unwraps a 24-byte Triple-DES key wrapped with a 24-byte
// KEK and checks its SHA-1 integrity value in constant time.
func des3KeyUnwrap(kek, wrapped []byte) ([]byte, error) {
	if len(wrapped) != 40 {
		return nil, fmt.Errorf("cms: 3DES key unwrap: wrapped key length %d is not 40", len(wrapped))
	}
	block, err := des.NewTripleDESCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("cms: 3DES key unwrap: %w", err)
	}
	temp3 := make([]byte, 40)
	cipher.NewCBCDecrypter(block, des3WrapIV).CryptBlocks(temp3, wrapped)
	temp2 := make([]byte, 40)
	for i := range temp3 {
		temp2[i] = temp3[39-i]
	}
	iv, temp1 := temp2[:8], temp2[8:]
	cekICV := make([]byte, 32)
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(cekICV, temp1)
	cek, icv := cekICV[:24], cekICV[24:]
	sum := sha1.Sum(cek)
	if subtle.ConstantTimeCompare(sum[:8], icv) != 1 {
		clear(cekICV)
		return nil, errKeyUnwrap
	}
	return cek, nil
}
