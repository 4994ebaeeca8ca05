package cms

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/dstu"
	"github.com/signet-agent/signet/sdk/dstu/dstutest"
)

func TestDSTUSignedDataRoundTrip(t *testing.T) {
	key, err := dstu.GenerateKey(dstu.Curve257, nil)
	require.NoError(t, err)
	cert := dstutest.Certificate(t, key, "DSTU signer")
	content := []byte("підписаний документ")

	der, err := Sign(content, key, cert, nil)
	require.NoError(t, err)
	rep, err := Verify(der, nil, nil)
	require.NoError(t, err)
	require.True(t, rep.Valid(), "%v", rep.Signers[0].Err())
	s := rep.Signers[0]
	assert.Equal(t, "DSTU4145", s.SignatureAlgorithm)
	assert.Equal(t, "GOST34311", s.DigestAlgorithm)
	assert.True(t, OIDSignatureDSTU.Equal(s.SignatureOID))
	assert.Equal(t, content, rep.Content)
	sig, _ := hex.DecodeString(s.SignatureHex)
	assert.Len(t, sig, dstu.Curve257.SignatureSize(), "r‖s, 32 bytes each")

	// A changed signature byte is refused.
	i := bytes.Index(der, sig)
	require.Positive(t, i)
	bad := bytes.Clone(der)
	bad[i+3] ^= 1
	rep, err = Verify(bad, nil, nil)
	assert.ErrorIs(t, err, ErrSignatureInvalid)
	assert.False(t, rep.Valid())
}

func TestDSTUSignRefusesAnotherKeysCertificate(t *testing.T) {
	key, err := dstu.GenerateKey(dstu.Curve257, nil)
	require.NoError(t, err)
	other, err := dstu.GenerateKey(dstu.Curve257, nil)
	require.NoError(t, err)
	_, err = Sign([]byte("x"), key, dstutest.Certificate(t, other, "other"), nil)
	assert.ErrorContains(t, err, "does not match")
}

// jkurwa (the independent implementation) verifies our SignedData, and we
// verify its.
func TestDSTUSignedDataJkurwa(t *testing.T) {
	jk := dstutest.Jkurwa(t)
	key, err := dstu.GenerateKey(dstu.Curve257, nil)
	require.NoError(t, err)
	cert := dstutest.Certificate(t, key, "cross-check")
	content := []byte("cross-checked content")
	made := jk.Run(t, dstutest.Req{"op": "cms", "curve": "DSTU_PB_257", "d": key.D.Text(16),
		"cert": hex.EncodeToString(cert.Raw), "data": hex.EncodeToString(content)})[0]

	// jkurwa's message verifies here.
	rep, err := Verify(made.Bytes(t, "cms"), nil, nil)
	require.NoError(t, err)
	require.True(t, rep.Valid(), "%v", rep.Signers[0].Err())
	assert.Equal(t, content, rep.Content)
	assert.True(t, rep.Signers[0].SigningCertificateOK)

	// Ours verifies there; a tampered copy does not.
	der, err := Sign(content, key, cert, nil)
	require.NoError(t, err)
	sig, _ := hex.DecodeString(mustVerify(t, der).Signers[0].SignatureHex)
	bad := bytes.Clone(der)
	bad[bytes.Index(der, sig)+1] ^= 1
	res := jk.Run(t,
		dstutest.Req{"op": "cmsverify", "cms": hex.EncodeToString(der), "cert": hex.EncodeToString(cert.Raw)},
		dstutest.Req{"op": "cmsverify", "cms": hex.EncodeToString(bad), "cert": hex.EncodeToString(cert.Raw)},
	)
	assert.True(t, res[0].Bool(t, "ok"), "jkurwa verifies our SignedData")
	assert.False(t, res[1].Bool(t, "ok"), "jkurwa refuses a changed signature")
}

func mustVerify(t *testing.T, der []byte) *Report {
	t.Helper()
	rep, err := Verify(der, nil, nil)
	require.NoError(t, err)
	require.True(t, rep.Valid())
	return rep
}
