package certs

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"

	"github.com/signet-agent/signet/sdk/gost"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The E-IMZO root CA (self-signed, 2016–2036) and the issuing CA it
// certified in 2018, as E-IMZO ships them in every signature: real
// O'zDSt 1092:2009 certificates, signed with O'zDSt 1106 hashes, from the
// vendor's PKI. They are the independent check of the O'zDSt key format,
// hash and signature.
func readPEMCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	block, _ := pem.Decode(b)
	require.NotNil(t, block, file)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c
}

// TestOzDStVendorCertificates: the vendor certificates' O'zDSt keys are
// read (crypto/x509 leaves them nil), their signatures check, the CA
// chains to the root, and an altered certificate does not.
func TestOzDStVendorCertificates(t *testing.T) {
	root := readPEMCert(t, "../gost/testdata/eimzo-root.pem")
	ca := readPEMCert(t, "../gost/testdata/eimzo-ca-2018.pem")
	require.Nil(t, root.PublicKey, "crypto/x509 parsed an O'zDSt key")

	pub, ok := PublicKey(root).(*gost.PublicKey)
	require.True(t, ok, "PublicKey(root) = %T", PublicKey(root))
	assert.Equal(t, gost.KeyOzDSt1092, pub.Type)
	assert.Same(t, gost.CurveCryptoProA, pub.Curve)
	assert.Same(t, root, ForKey([]*x509.Certificate{ca, root}, pub))
	assert.True(t, SamePublicKey(pub, PublicKey(root)))
	assert.False(t, SamePublicKey(pub, PublicKey(ca)))

	require.NoError(t, CheckSignatureFrom(root, root), "root self-signature")
	require.NoError(t, CheckSignatureFrom(ca, root), "CA signed by root")
	assert.Equal(t, []*x509.Certificate{root}, Issuers(ca, []*x509.Certificate{ca, root}))

	err := CheckSignatureFrom(root, ca)
	assert.Error(t, err, "root verified under the CA's key")
	raw := append([]byte(nil), ca.Raw...)
	raw[len(raw)-100] ^= 0x01 // inside the TBSCertificate's last extension
	tampered, err := x509.ParseCertificate(raw)
	require.NoError(t, err)
	assert.ErrorIs(t, CheckSignatureFrom(tampered, root), gost.ErrSignature)
}
