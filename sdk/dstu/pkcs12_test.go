package dstu_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/dstu"
	"github.com/signet-agent/signet/sdk/dstu/dstutest"
)

func TestPKCS12WithDSTUKey(t *testing.T) {
	key, err := dstu.GenerateKey(dstu.Curve257, nil)
	require.NoError(t, err)
	other, err := dstu.GenerateKey(dstu.Curve257, nil)
	require.NoError(t, err)
	cert := dstutest.Certificate(t, key, "signer")
	ca := dstutest.Certificate(t, other, "CA")
	file := dstutest.PKCS12(t, key, "qwerty", ca, cert)
	assert.True(t, dstu.IsPKCS12(file))

	p, err := dstu.ParsePKCS12(file, []byte("qwerty"))
	require.NoError(t, err)
	assert.Equal(t, key.D, p.Key.D)
	require.NotNil(t, p.Certificate)
	assert.Equal(t, cert.Raw, p.Certificate.Raw, "the certificate matching the key, wherever it is in the file")
	require.Len(t, p.Others, 1)
	assert.Equal(t, ca.Raw, p.Others[0].Raw)

	_, err = dstu.ParsePKCS12(file, []byte("QWERTY"))
	assert.ErrorIs(t, err, dstu.ErrPassword)

	enc := dstutest.EncryptedKey(t, key, "x")
	assert.True(t, dstu.IsEncryptedPrivateKey(enc))
	assert.False(t, dstu.IsPKCS12(enc))
	assert.False(t, dstu.IsKey6(enc))
}
