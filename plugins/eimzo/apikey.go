package eimzo

import (
	"encoding/hex"
	"math/big"

	"github.com/signet-agent/signet/sdk/gost"
)

// E-IMZO API keys. A key is the vendor's GOST R 34.10-2001
// signature, on the CryptoPro-A curve, over the domain name:
//
//	H   = GOST94(GOST94(ascii(domain)))   (CryptoPro hash parameters)
//	e   = LE(H) mod q (0 → 1)
//	key = hex(s ‖ r), 32 bytes each, big-endian — 128 hex digits
//
// Only the vendor holds the private key, so Signet can check a key
// offline but never mint one. The check is a verification of public data:
// the gost package's lack of constant-time arithmetic does not matter
// here.

// apiKeyHexLen is the length of an API key in hex digits.
const apiKeyHexLen = 2 * gost.SignatureSize

// maxAPIKeyDomain bounds the domain hashed for a key (a DNS name is at
// most 253 characters); longer domains have no key.
const maxAPIKeyDomain = 253

// vendorAPIKeyPub is the vendor's API-key verification key on
// CryptoPro-A (the one E-IMZO checks keys with; it verifies every
// published domain/key pair, see apikey_test.go).
var vendorAPIKeyPub = func() *gost.PublicKey {
	x, _ := new(big.Int).SetString("29c7371abeb628c21dea54d24e6f17ad5de119bc495dcd402b27e642efa78cbd", 16)
	y, _ := new(big.Int).SetString("be1401d23a79d1270d13332a0b4b1aefa533d2f75133c3cbc0061d8e47869749", 16)
	pub, err := gost.NewPublicKey(gost.CurveCryptoProA, x, y)
	if err != nil {
		panic("eimzo: vendor API-key public key: " + err.Error())
	}
	return pub
}()

// apiKeyDigest is H = GOST94(GOST94(domain)) with the CryptoPro hash
// parameters.
func apiKeyDigest(domain string) [gost.Size94]byte {
	h := gost.Sum94CryptoPro([]byte(domain))
	return gost.Sum94CryptoPro(h[:])
}

// verifyAPIKey reports whether key (128 hex digits, either case) is the
// vendor's API key for domain (already lower-cased by the caller, as
// E-IMZO's keys are issued for lower-case host names). A key of the
// wrong length or with a non-hex digit is rejected before any
// arithmetic.
func verifyAPIKey(domain, key string) bool {
	if len(key) != apiKeyHexLen || len(domain) > maxAPIKeyDomain {
		return false
	}
	sig, err := hex.DecodeString(key)
	if err != nil {
		return false
	}
	h := apiKeyDigest(domain)
	return gost.Verify(vendorAPIKeyPub, h[:], sig) == nil
}
