// Package gost implements the Russian GOST primitives that Uzbekistan's
// O'zDSt standards are built on, as far as Signet needs them:
//
//   - GOST 28147-89 block encryption with a configurable S-box (Cipher;
//     encryption only — it is here as the building block of the hash),
//   - GOST R 34.11-94 (RFC 5831), a hash.Hash; New94CryptoPro uses the
//     CryptoPro hash parameter set, which is what E-IMZO calls
//     O'zDSt 1106:2009,
//   - GOST R 34.10-2001 (RFC 5832) signatures on the CryptoPro curves A, B
//     and C (RFC 4357), which O'zDSt 1092:2009 uses unchanged.
//
// # What it is for
//
// Now: verifying E-IMZO vendor API keys offline (plugins/eimzo): an API
// key is the vendor's signature over a domain name. Later: verifying and
// creating O'zDSt 1092/1106 signatures in CMS (a separate issue). No Go
// GOST library was available from the module proxy, hence this package;
// it was written from the RFCs and checked against their examples, the
// published hash vectors, the vendor's published API keys and, when it
// is installed, OpenSSL's GOST engine.
//
// # Byte conventions
//
// These follow RFC 4491 / CryptoPro, which E-IMZO uses too:
//
//   - A GOST R 34.11-94 digest is the 256-bit chaining value as a
//     little-endian byte string (the test vectors are written in that
//     byte order: "" → 981e5f3c…56c0 with the CryptoPro S-box).
//   - Signing a digest uses e = (digest read little-endian) mod q, with
//     0 replaced by 1.
//   - A signature is 64 bytes: s then r, each 32 bytes big-endian.
//   - A public key is 64 bytes: x then y, each 32 bytes little-endian
//     (the OCTET STRING inside a GOST SubjectPublicKeyInfo).
//
// # Not constant time
//
// The elliptic-curve arithmetic uses math/big and branches on scalar
// bits; the hash and cipher use table lookups indexed by data. That is
// fine for verification and hashing of public data (API keys,
// certificates, signed documents), which is what Signet does with it. It
// is NOT fit for signing with a key that an attacker could time on a
// shared machine: Sign and GenerateKey exist for tests and for a later
// issue, where signing keys stay in tokens and this code signs nothing
// secret. Nothing here is validated beyond what the tests show.
//
// # Bounds
//
// Verify accepts exactly 64-byte signatures and 32-byte digests and
// ParsePublicKey exactly 64 bytes; every rejection is an error wrapping
// ErrSignature, ErrPublicKey or ErrPrivateKey that says what is wrong.
// The hash keeps its length in 64 bits (messages up to 2^61 bytes).
package gost
