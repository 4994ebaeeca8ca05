package dstutest

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/dstu"
)

type tbsCertificate struct {
	Version            int `asn1:"optional,explicit,default:0,tag:0"`
	SerialNumber       *big.Int
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Issuer             asn1.RawValue
	Validity           struct{ NotBefore, NotAfter time.Time }
	Subject            asn1.RawValue
	PublicKey          asn1.RawValue
	Extensions         []pkix.Extension `asn1:"optional,explicit,tag:3"`
}

type certificate struct {
	TBS                asn1.RawValue
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          asn1.BitString
}

// Certificate returns a self-signed certificate for key as Ukrainian CAs
// shape them: DSTU 4145 public key by curve OID with the DKE, the
// signature an OCTET STRING of little-endian r‖s over the GOST 34.311-95
// digest of the TBSCertificate.
func Certificate(t testing.TB, key *dstu.PrivateKey, cn string) *x509.Certificate {
	t.Helper()
	name, err := asn1.Marshal(pkix.Name{CommonName: cn, Country: []string{"UA"}}.ToRDNSequence())
	require.NoError(t, err)
	spki, err := dstu.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	alg := pkix.AlgorithmIdentifier{Algorithm: dstu.OIDDSTU4145}
	keyUsage, err := asn1.Marshal(asn1.BitString{Bytes: []byte{0xC0}, BitLength: 2}) // digitalSignature, nonRepudiation
	require.NoError(t, err)
	now := time.Now().UTC().Truncate(time.Second)
	tbs := tbsCertificate{
		Version:            2,
		SerialNumber:       big.NewInt(now.UnixNano()),
		SignatureAlgorithm: alg,
		Issuer:             asn1.RawValue{FullBytes: name},
		Subject:            asn1.RawValue{FullBytes: name},
		PublicKey:          asn1.RawValue{FullBytes: spki},
		Extensions:         []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 15}, Critical: true, Value: keyUsage}},
	}
	tbs.Validity.NotBefore, tbs.Validity.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
	tbsDER, err := asn1.Marshal(tbs)
	require.NoError(t, err)
	digest := dstu.Sum34311(tbsDER)
	sig, err := key.Sign(nil, digest[:], nil)
	require.NoError(t, err)
	sigOctets, err := asn1.Marshal(sig)
	require.NoError(t, err)
	der, err := asn1.Marshal(certificate{
		TBS:                asn1.RawValue{FullBytes: tbsDER},
		SignatureAlgorithm: alg,
		Signature:          asn1.BitString{Bytes: sigOctets, BitLength: 8 * len(sigOctets)},
	})
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert
}
