package eimzo

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk"
	"github.com/signet-agent/signet/sdk/cms"
)

// Internal tests (package eimzo) of the CMS algorithm choice and of
// cp_list. The X.500 name parser is sdk/x500's (tested there;
// pkcs10_test.go checks it end to end).

// TestPKCS7SignOptions checks the one place that picks CMS algorithms
// (internal: no O'zDSt key can be put in a test key store yet).
func TestPKCS7SignOptions(t *testing.T) {
	cert := func(pub crypto.PublicKey) *x509.Certificate {
		spki, err := x509.MarshalPKIXPublicKey(pub)
		require.NoError(t, err)
		return &x509.Certificate{RawSubjectPublicKeyInfo: spki, PublicKey: pub}
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	require.NoError(t, err)
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	chain := []*x509.Certificate{{Raw: []byte{1}}}
	for _, tt := range []struct {
		name string
		pub  crypto.PublicKey
		want crypto.Hash
	}{
		{"RSA", &rsaKey.PublicKey, crypto.SHA256},
		{"P-256", &p256.PublicKey, crypto.SHA256},
		{"P-384", &p384.PublicKey, crypto.SHA384},
		{"P-521", &p521.PublicKey, crypto.SHA512},
		{"Ed25519", edPub, 0}, // sdk/cms default: SHA-512 (RFC 8419)
	} {
		opts, err := signOptions(sdk.Key{Certificate: cert(tt.pub), Chain: chain})
		if assert.NoError(t, err, tt.name) {
			assert.Equal(t, tt.want, opts.Digest, tt.name)
			assert.Len(t, opts.Chain, 1, "%s: the key's chain goes into the message", tt.name)
		}
	}

	spkiOf := func(oid asn1.ObjectIdentifier) []byte {
		der, err := asn1.Marshal(struct {
			Alg struct{ Algorithm asn1.ObjectIdentifier }
			Key asn1.BitString
		}{struct{ Algorithm asn1.ObjectIdentifier }{oid}, asn1.BitString{Bytes: make([]byte, 66), BitLength: 528}})
		require.NoError(t, err)
		return der
	}
	// O'zDSt 1092: E-IMZO's digest and signature OIDs, no ESS attribute.
	opts, err := signOptions(sdk.Key{Certificate: &x509.Certificate{RawSubjectPublicKeyInfo: spkiOf(cms.OIDPublicKeyOzDSt1092_2)}, Chain: chain})
	if assert.NoError(t, err, "O'zDSt key") {
		assert.Equal(t, "1.2.860.3.15.1.3.2.1.1", opts.DigestOID.String())
		assert.Equal(t, cms.AlgorithmOzDSt1092, opts.Algorithm)
		assert.True(t, opts.NoSigningCertificate, "E-IMZO writes no signingCertificateV2")
		assert.Len(t, opts.Chain, 1)
	}
	// O'zMSt 286 is not supported yet.
	_, err = signOptions(sdk.Key{Certificate: &x509.Certificate{RawSubjectPublicKeyInfo: spkiOf(cms.OIDPublicKeyOzMSt286)}})
	e := asError(err)
	assert.Equal(t, StatusRuntime, e.Status, "O'zMSt key: %v", err)
	assert.Contains(t, e.reason("ru"), "OZMST-286-2024-2 пока не поддерживается")
	_, err = signOptions(sdk.Key{})
	assert.Equal(t, StatusKeyIDNotForCert, asError(err).Status, "no certificate: %v", err)
}

// FuzzPolicyList fuzzes cp_list: it either parses into OIDs that encode as
// a policies extension or fails with -1023/-2023.
func FuzzPolicyList(f *testing.F) {
	for _, s := range []string{"1.2.860.3.16.1.2", "2.5.4.3", "0.39", "1.40", "3.1", "1..2", "01.2", "1.2.2147483648", " 1.2 , 2.3 ", ","} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		oids, _, err := parsePolicies([]string{s}, 0)
		if err != nil {
			st := asError(err).Status
			require.True(t, st == StatusNoPolicies || st == StatusBadPolicyOID, "cp_list %q: status %d", s, st)
			return
		}
		require.False(t, s != "" && len(oids) == 0, "cp_list %q: no OIDs and no error", s)
		_, err = policiesExtension(oids)
		require.NoError(t, err, "cp_list %q", s)
	})
}
