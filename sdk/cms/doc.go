// Package cms builds and verifies Cryptographic Message Syntax (RFC 5652)
// messages for Signet and for third-party plugins: SignedData (attached,
// detached, streamed, co-signed), CAdES-BES/-T attributes (ESS
// signingCertificateV2, RFC 3161 signatureTimeStampToken), and
// EnvelopedData (files envelope*.go, keywrap.go, ecdh.go).
//
// # Why this package owns its encoder and parser
//
// The public PKCS#7 libraries were evaluated: github.com/smallstep/pkcs7,
// go.mozilla.org/pkcs7 and github.com/digitorus/pkcs7. None of them signs
// with RSA-PSS, none can take GOST or O'zDSt algorithms without forking, none
// streams (they hold the content, often twice), and all keep the digest and
// cipher choices in package-level variables, which is unsafe in a server
// that signs for many callers concurrently. CMS is a small ASN.1 structure,
// so this package encodes it itself with encoding/asn1 and
// golang.org/x/crypto/cryptobyte and keeps every choice in per-call options
// (SignOptions, VerifyOptions). github.com/digitorus/timestamp is used only
// for the RFC 3161 request encoding and, in tests, to build TSA responses.
//
// # BER input
//
// cryptobyte and encoding/asn1 accept only DER, but Java producers
// (BouncyCastle, hence E-IMZO) emit BER: indefinite lengths and chunked
// (constructed) OCTET STRINGs. Every parser entry point first runs
// normalizeBER (ber.go), which rewrites BER to DER, bounded in nesting depth
// and element count; input that is already DER is returned unchanged, so
// byte-exact fields (signed attributes, SignerInfos) are preserved.
//
// # Algorithms
//
// Signature algorithms are table entries in a Registry (registry.go): each
// entry says which public keys it handles, which AlgorithmIdentifier it
// writes for a digest, how to sign with a crypto.Signer and how to verify.
// DefaultRegistry has RSA PKCS#1 v1.5, RSA-PSS, ECDSA and Ed25519 (RFC 8419:
// SHA-512 digest, signature over the DER signed attributes). GOST R
// 34.10-2012/Streebog and O'zDSt 1092/1106 OIDs are defined in oids.go so
// that they can be added as entries (with their digest) without changing any
// caller. Options may name a Registry; nil means the built-in table, which
// is never modified (DefaultRegistry returns a copy for callers to extend).
// RSA-PSS is written with the content digest as PSS hash, MGF1 with the
// same hash and a salt as long as the hash (what OpenSSL writes too).
//
// # Concurrency and ownership
//
// All functions are safe for concurrent use; nothing here holds state
// between calls. Private keys stay behind crypto.Signer / crypto.Decrypter:
// the package hands the signer a digest (or, for Ed25519, the small signed
// attribute encoding) and never sees key material. Large content is hashed
// as it is read; see SignDetached, SignDigest and SignAttachedStream.
//
// # Output formats and interoperability
//
// Sign, SignDetached, SignDigest, CoSign and AttachTimestamp write DER.
// SignAttachedStream writes BER (indefinite-length wrappers, as
// BouncyCastle's streaming generator does) because the signature is only
// known after the content has been written. Every variant is checked
// against OpenSSL in the tests (`openssl cms -verify -cades`), except
// Ed25519: OpenSSL 3.0 cannot sign or verify Ed25519 in CMS, so the tests
// check those signatures with `openssl pkeyutl -verify -rawin` over the
// signed attributes instead.
//
// E-IMZO's create_pkcs7 response fields map to SignerInfo.SignatureHex
// (signature_hex) and SignerInfo.SerialHex (signer_serial_number);
// AttachTimestampBySerial is attach_timestamp_token_pkcs7.
//
// # Test helpers
//
// Package cmstest runs an in-process RFC 3161 TSA for tests in any package.
//
// # Files
//
// oids.go (shared OIDs), asn1.go (shared ASN.1 structures), ber.go (BER to
// DER), registry.go (algorithms), sign.go, parse.go, verify.go, cosign.go,
// timestamp.go, der.go (allocation-free DER writer for the signing hot
// path). Envelope code (envelope*.go, keywrap.go, ecdh.go) reuses
// the OIDs and structures here and adds only its own.
package cms
