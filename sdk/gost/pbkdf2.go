package gost

import (
	"crypto/hmac"
	"hash"

	"golang.org/x/crypto/pbkdf2"
)

// NewHMACStreebog256 and NewHMACStreebog512 return HMAC over Streebog
// (HMAC_GOSTR3411_2012_256 and _512 of RFC 7836 §4.1.1; OIDs
// 1.2.643.7.1.1.4.1 and 1.2.643.7.1.1.4.2).
func NewHMACStreebog256(key []byte) hash.Hash { return hmac.New(NewStreebog256, key) }

// NewHMACStreebog512 is NewHMACStreebog256 with Streebog-512.
func NewHMACStreebog512(key []byte) hash.Hash { return hmac.New(NewStreebog512, key) }

// PBKDF2Streebog512 is PBKDF2 (RFC 8018 §5.2) with HMAC-Streebog-512 as
// the PRF, the password-based KDF of RFC 9337 and of GOST PKCS#12 files.
// The caller bounds iter.
func PBKDF2Streebog512(password, salt []byte, iter, keyLen int) []byte {
	return pbkdf2.Key(password, salt, iter, keyLen, NewStreebog512)
}
