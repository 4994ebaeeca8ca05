// Package dstu implements the Ukrainian DSTU 4145-2002 digital signature
// over the standard's ten binary-field curves (polynomial basis, m = 163 …
// 431, OIDs 1.2.804.2.1.1.1.1.3.1.1.2.0 … .9), the GOST 34.311-95 hash
// (GOST R 34.11-94 with the DKE S-box, on sdk/gost's code), and the
// encodings Ukrainian CAs and their clients use: certificate keys
// (compressed points, little-endian, parameters by OID or explicit),
// signatures as little-endian r‖s, PKCS#8 keys, IIT Key-6.dat, the GOST
// PBES2 scheme and PKCS#12 files with DSTU keys.
//
//	cert, _ := x509.ParseCertificate(der) // crypto/x509 leaves PublicKey nil
//	pub, err := dstu.ParsePKIXPublicKey(cert.RawSubjectPublicKeyInfo)
//	if err != nil {
//		return err // wraps ErrPublicKey, ErrParameters or ErrNotDSTU
//	}
//	digest := dstu.Sum34311(message)
//	if err := pub.Verify(digest[:], sig); err != nil { // sig: r‖s little-endian
//		return err // wraps ErrSignature
//	}
//
//	key, err := dstu.ParseKey6(key6dat, password) // wrong password: ErrPassword
//	sig, err = key.Sign(rand.Reader, digest[:], nil)
//
// What a caller needs to know:
//
//   - A digest becomes the field element h read little-endian and reduced
//     modulo the field polynomial (as jkurwa and IIT's software do); a
//     signature is r‖s, each half little-endian in ceil(bitlen(N)/8) bytes
//     (certificates wrap it in an OCTET STRING, CMS does not).
//   - Public keys are checked when parsed: on the curve, not the point at
//     infinity, in the subgroup of order N. Explicit curve parameters are
//     accepted only when they are one of the standard's curves.
//   - Signing is constant time in d and e: a Montgomery ladder over a fixed
//     number of bits with constant-time field arithmetic, and fixed-width
//     Montgomery arithmetic mod N (the one exception is in
//     docs/dstu4145.md). Verification and parsing work on public data.
//   - Curves, S-boxes and PackedDKE are shared values: never modify them.
//
// Design, sources and what is cross-checked against the independent
// implementation (jkurwa): docs/dstu4145.md.
package dstu
