package cms

import (
	"crypto"
	"crypto/x509/pkix"
	"fmt"
	"io"

	"github.com/signet-agent/signet/sdk/dstu"
)

// Ukrainian algorithms: DSTU 4145-2002 signatures with the GOST 34.311-95
// digest, as Ukrainian CAs and their clients write them in CMS (the
// signature value is r‖s, each half little-endian; see sdk/dstu).
var (
	OIDDigestGOST34311 = dstu.OIDGOST34311
	OIDSignatureDSTU   = dstu.OIDDSTU4145
)

func gost34311Digest() DigestAlgorithm {
	return DigestAlgorithm{Name: "GOST34311", OID: OIDDigestGOST34311, New: dstu.New34311}
}

func dstuEntry() SignatureAlgorithm {
	return SignatureAlgorithm{
		Name:             "DSTU4145",
		DefaultDigestOID: OIDDigestGOST34311,
		Supports: func(pub crypto.PublicKey, d *DigestAlgorithm) bool {
			k, ok := pub.(*dstu.PublicKey)
			// A key whose parameters name another S-box hashes with it;
			// only the standard DKE's digest is registered.
			return ok && k.SBox == nil && (d == nil || d.OID.Equal(OIDDigestGOST34311))
		},
		Identifier: func(*DigestAlgorithm) (pkix.AlgorithmIdentifier, error) {
			return pkix.AlgorithmIdentifier{Algorithm: OIDSignatureDSTU}, nil
		},
		Matches: func(alg pkix.AlgorithmIdentifier) bool { return alg.Algorithm.Equal(OIDSignatureDSTU) },
		Sign: func(rand io.Reader, s crypto.Signer, _ *DigestAlgorithm, _, digest []byte) ([]byte, error) {
			return s.Sign(rand, digest, crypto.Hash(0))
		},
		Verify: func(pub crypto.PublicKey, _ pkix.AlgorithmIdentifier, _ *DigestAlgorithm, _, digest, sig []byte) error {
			k, ok := pub.(*dstu.PublicKey)
			if !ok {
				return fmt.Errorf("DSTU 4145 signature but %T key", pub)
			}
			if err := k.Verify(digest, sig); err != nil {
				return errBadSignature
			}
			return nil
		},
	}
}
