// Package gost implements the Russian GOST signature and hash algorithms
// and the Uzbek O'zDSt standards built on them: GOST R 34.11-2012
// (Streebog-256/512, RFC 6986), GOST R 34.10-2012 signatures with 256-
// and 512-bit keys on the TC26 curves (RFC 7091, RFC 7836, including the
// twisted Edwards sets in their Weierstrass form), GOST R 34.11-94 (RFC
// 5831; with the CryptoPro parameters it is O'zDSt 1106:2009), GOST R
// 34.10-2001 (RFC 5832; on the CryptoPro curves it is O'zDSt 1092:2009),
// and the symmetric primitives key containers need: the GOST R 34.12-2015
// block ciphers Kuznyechik and Magma with CTR-ACPKM and the GOST R 34.13
// MAC (CMAC), GOST 28147-89 (encryption, decryption, CFB with CryptoPro key
// meshing; also the building block of the 94 hash), and HMAC and PBKDF2
// over Streebog (RFC 7836). Keys implement crypto.Signer and encode as
// SubjectPublicKeyInfo and PKCS#8 (RFC 9215, RFC 4491).
//
//	priv, err := gost.GenerateKeyOf(gost.KeyGOST2012_256, gost.CurveTC26_256A, rand.Reader)
//	if err != nil {
//		return err
//	}
//	h := priv.Type.NewHash() // Streebog-256
//	h.Write(message)
//	sig, err := priv.Sign(rand.Reader, h.Sum(nil), nil) // s‖r, 64 bytes
//	if err != nil {
//		return err
//	}
//	err = gost.Verify(&priv.PublicKey, h.Sum(nil), sig) // wraps ErrSignature on failure
//
// What a caller needs to know:
//
//   - Byte order follows RFC 4491/9215 and CryptoPro (and OpenSSL's
//     engine and E-IMZO): a digest is a byte string and e = digest read
//     little-endian mod q (0 becomes 1); a signature is s‖r, each
//     Curve.Size() bytes (32 or 64) big-endian; a public key is x‖y, each
//     Curve.Size() bytes little-endian; a private key in PKCS#8 is d
//     little-endian.
//   - [KeyType] fixes the hash, the OIDs and the national name of a key;
//     the same curve serves several types and parameter-set OIDs
//     ([CurveByOID]).
//   - Every size is checked exactly and every rejection wraps
//     [ErrSignature], [ErrPublicKey] or [ErrPrivateKey]; public keys on
//     the cofactor-4 curves are checked to lie in the subgroup of order q.
//   - Signing and key generation are constant time in the secret scalar
//     and the nonce (fixed-limb Montgomery arithmetic, complete addition
//     formulas, a fixed window read by scanning); docs/gost.md lists the
//     exact exceptions. Never change a PrivateKey's D after creating it.
//   - The curves and S-boxes are shared values: never modify them.
//   - The symmetric ciphers are table-based and not constant time; they
//     decrypt key files once, at unlock, on the person's own machine.
//
// Design (parameter sets, the cross-checks against OpenSSL's GOST engine,
// constant-time notes): docs/gost.md.
package gost
