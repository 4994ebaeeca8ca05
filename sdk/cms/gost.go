package cms

import (
	"crypto"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"

	"github.com/signet-agent/signet/sdk/gost"
)

// The GOST and O'zDSt entries of the built-in registry. Digests are
// written with NULL parameters and the signatureAlgorithm of a GOST R
// 34.10-2001/2012 SignerInfo is the key's algorithm OID with NULL, as
// OpenSSL's GOST engine and CryptoPro write them; O'zDSt signers carry
// 1.2.860.3.15.1.1.2.2.2.2 with NULL, as E-IMZO writes it. On reading,
// both the key OID and the signature-with-digest OID are accepted.

func gostDigests() []DigestAlgorithm {
	return []DigestAlgorithm{
		{Name: "Streebog-256", OID: gost.OIDDigestStreebog256, New: gost.NewStreebog256, NullParameters: true},
		{Name: "Streebog-512", OID: gost.OIDDigestStreebog512, New: gost.NewStreebog512, NullParameters: true},
		{Name: "GOST R 34.11-94", OID: gost.OIDDigest94, New: gost.New94CryptoPro, NullParameters: true},
		{Name: "O'zDSt 1106:2009", OID: gost.OIDDigestOzDSt1106, New: gost.New94CryptoPro, NullParameters: true},
	}
}

// GOST signature entry names, for SignOptions.Algorithm: the national
// names (gost.KeyType's String), as reports show them.
const (
	AlgorithmGOST2012_256 = "GOST R 34.10-2012 (256)"
	AlgorithmGOST2012_512 = "GOST R 34.10-2012 (512)"
	AlgorithmGOST2001     = "GOST R 34.10-2001"
	AlgorithmOzDSt1092    = "O'zDSt 1092:2009"
)

func gostEntries() []SignatureAlgorithm {
	return []SignatureAlgorithm{
		gostEntry(AlgorithmGOST2012_256, gost.KeyGOST2012_256),
		gostEntry(AlgorithmGOST2012_512, gost.KeyGOST2012_512),
		gostEntry(AlgorithmGOST2001, gost.KeyGOST2001),
		gostEntry(AlgorithmOzDSt1092, gost.KeyOzDSt1092),
	}
}

// gostEntry signs and verifies keys of type t with t's own hash: the
// signature is s‖r over the digest of the signed attributes.
func gostEntry(name string, t gost.KeyType) SignatureAlgorithm {
	writeOID := t.KeyOID()
	if t == gost.KeyOzDSt1092 {
		writeOID = t.SignatureOID()
	}
	return SignatureAlgorithm{
		Name:             name,
		DefaultDigestOID: t.DigestOID(),
		Supports: func(pub crypto.PublicKey, d *DigestAlgorithm) bool {
			k, ok := pub.(*gost.PublicKey)
			return ok && k.Type == t && (d == nil || d.OID.Equal(t.DigestOID()))
		},
		Identifier: func(d *DigestAlgorithm) (pkix.AlgorithmIdentifier, error) {
			if !d.OID.Equal(t.DigestOID()) {
				return pkix.AlgorithmIdentifier{}, fmt.Errorf("%w: %s with %s", ErrUnsupportedAlgorithm, t, d.Name)
			}
			return pkix.AlgorithmIdentifier{Algorithm: writeOID, Parameters: asn1NULL}, nil
		},
		Matches: func(alg pkix.AlgorithmIdentifier) bool {
			return alg.Algorithm.Equal(t.KeyOID()) || alg.Algorithm.Equal(t.SignatureOID())
		},
		Sign: func(rand io.Reader, s crypto.Signer, _ *DigestAlgorithm, _, digest []byte) ([]byte, error) {
			return s.Sign(rand, digest, crypto.Hash(0))
		},
		Verify: func(pub crypto.PublicKey, _ pkix.AlgorithmIdentifier, d *DigestAlgorithm, _, digest, sig []byte) error {
			k, ok := pub.(*gost.PublicKey)
			if !ok {
				return fmt.Errorf("%s signature but %T key", t, pub)
			}
			if k.Curve.Size() != len(digest) {
				return fmt.Errorf("%s signature with %s: a %d-byte digest for a %d-bit key", t, d.Name, len(digest), 8*k.Curve.Size())
			}
			err := gost.Verify(k, digest, sig)
			if errors.Is(err, gost.ErrSignature) {
				return errBadSignature
			}
			return err
		},
	}
}
