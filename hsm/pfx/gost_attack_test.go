package pfx

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

func tc26File(t *testing.T, iter int) []byte {
	t.Helper()
	k := newKey(t, softhsmtest.ECP256, "TC26 attack")
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	require.NoError(t, err)
	data, err := encodeTC26(rand.Reader, der, []*x509.Certificate{k.Certificate}, "k", []byte("pw"), iter)
	require.NoError(t, err)
	return data
}

// TestAttackGOSTFileIterationCounts: a hostile key file that asks for more
// PBKDF2 or MAC iterations than the bound (to stall the agent on unlock)
// is refused as malformed before any of them is computed, on the GOST
// path as on go-pkcs12's.
func TestAttackGOSTFileIterationCounts(t *testing.T) {
	data := tc26File(t, 8)
	old := maxIterations
	maxIterations = 4
	t.Cleanup(func() { maxIterations = old })
	_, err := parseListing(data)
	assert.ErrorIs(t, err, ErrMalformed, "listing")
	assert.ErrorContains(t, err, "iteration count 8")
	_, err = decodePBES2File(data, []byte("pw"))
	assert.ErrorIs(t, err, ErrMalformed, "decoding")
	assert.ErrorContains(t, err, "iteration count 8")
	_, err = decode(data, []byte("pw"))
	assert.ErrorIs(t, err, ErrMalformed, "decode")
}

// TestGOSTFileWithoutMACWrongPassword: without a MAC only the decryption
// tells a wrong password; garbage out of CTR-ACPKM is reported as a wrong
// password (asked again), not as a broken file.
func TestGOSTFileWithoutMACWrongPassword(t *testing.T) {
	var p pfxPDU
	require.NoError(t, unmarshal(tc26File(t, 2), &p))
	p.MacData = macData{}
	noMAC, err := asn1.Marshal(p)
	require.NoError(t, err)
	l, err := parseListing(noMAC)
	require.NoError(t, err)
	require.False(t, l.hasMAC, "the MAC is still there")
	_, err = decodePBES2File(noMAC, []byte("wrong"))
	assert.ErrorIs(t, err, pkcs12.ErrIncorrectPassword)
	d, err := decodePBES2File(noMAC, []byte("pw"))
	require.NoError(t, err)
	assert.Len(t, d.keys, 1)
	assert.Len(t, d.certs, 1)
}
