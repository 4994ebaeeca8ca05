// Package gost implements the Russian GOST primitives that Uzbekistan's
// O'zDSt standards are built on, as far as Signet needs them: the GOST
// 28147-89 block cipher (encryption only, as the building block of the
// hash), the GOST R 34.11-94 hash (RFC 5831; with the CryptoPro parameters
// it is what E-IMZO calls O'zDSt 1106:2009), and GOST R 34.10-2001
// signatures (RFC 5832) on the CryptoPro curves A, B and C, which O'zDSt
// 1092:2009 uses unchanged. The E-IMZO plugin uses it to verify the
// vendor's API keys offline.
//
//	pub, err := gost.ParsePublicKey(gost.CurveCryptoProA, rawKey) // 64 bytes, x‖y little-endian
//	if err != nil {
//		return err
//	}
//	digest := gost.Sum94CryptoPro(message)
//	if err := gost.Verify(pub, digest[:], sig); err != nil { // sig: 64 bytes, s‖r big-endian
//		return err // wraps ErrSignature or ErrPublicKey, saying what is wrong
//	}
//
// What a caller needs to know:
//
//   - Byte order follows RFC 4491 and CryptoPro (and E-IMZO): a digest is
//     the chaining value little-endian, and e = digest read little-endian
//     mod q (0 becomes 1); a signature is s‖r, 32 bytes each, big-endian; a
//     public key is x‖y, 32 bytes each, little-endian.
//   - [Verify] takes exactly 64-byte signatures and 32-byte digests,
//     [ParsePublicKey] exactly 64 bytes; every rejection wraps
//     [ErrSignature], [ErrPublicKey] or [ErrPrivateKey].
//   - The curves and S-boxes are shared values: never modify them.
//   - Nothing here is constant time. Verifying and hashing public data is
//     safe; [Sign] and [GenerateKey] are for tests, not for a key whose
//     timing an attacker can observe.
//
// Design (parameter sets, the cross-check against OpenSSL's GOST engine,
// constant-time notes): docs/gost.md.
package gost
