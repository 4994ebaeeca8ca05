package localca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckNameRefusesBroadNames(t *testing.T) {
	for _, n := range []string{
		"com", "local", "internal", "ua", // single label
		"co.uk", "kiev.ua", "co.uz", "com.au", "github.io", // public suffixes (ICANN and private)
	} {
		err := CheckName(n)
		assert.ErrorIs(t, err, ErrNameTooBroad, n)
		if err != nil {
			assert.Contains(t, err.Error(), n)
		}
	}
	for _, n := range []string{"*.example.com", ".example.com", "127.0.0.1", "::1", "a..b", "Upper.Example"} {
		assert.Error(t, CheckName(n), n)
	}
	for _, n := range []string{"localhost", "signet.localhost", "local.cipher.kiev.ua", "cipher.kiev.ua", "example.co.uk", "my.gov.uz"} {
		assert.NoError(t, CheckName(n), n)
	}
}

func TestOpenRefusesBroadNames(t *testing.T) {
	for _, n := range []string{"com", "co.uk", "kiev.ua", "co.uz", "COM."} {
		dir := filepath.Join(t.TempDir(), "ca")
		_, err := Open(dir, []string{"local.cipher.kiev.ua", n}, Options{})
		require.ErrorIs(t, err, ErrNameTooBroad, n)
		assert.NoFileExists(t, filepath.Join(dir, CertFile), "a CA was written for %q", n)
	}
}

// An existing CA whose constraints hold a too broad name (a CA file
// written without CheckName) is replaced by one with exactly the
// configured names.
func TestOpenReplacesCAWithBroadName(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "old Signet local CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(5 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		PermittedDNSDomainsCritical: true, PermittedDNSDomains: []string{"com", "localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, KeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, CertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))

	ca, err := Open(dir, nil, Options{})
	require.NoError(t, err)
	assert.True(t, ca.Rotated)
	assert.Equal(t, []string{"localhost"}, ca.Certificate().PermittedDNSDomains)
	assert.False(t, ca.Permitted("accounts.google.com"))
	_, err = ca.Issue([]string{"accounts.google.com"})
	assert.ErrorIs(t, err, ErrNameNotPermitted)
}

// Names removed from the configuration leave the constraints: the CA is
// replaced rather than keeping a name nobody configures any more.
func TestOpenDropsUnconfiguredName(t *testing.T) {
	dir := t.TempDir()
	ca, err := Open(dir, []string{"local.cipher.kiev.ua"}, Options{})
	require.NoError(t, err)
	ca2, err := Open(dir, nil, Options{})
	require.NoError(t, err)
	assert.True(t, ca2.Rotated)
	assert.NotEqual(t, ca.Fingerprint(), ca2.Fingerprint())
	assert.Equal(t, []string{"localhost"}, ca2.Certificate().PermittedDNSDomains)
}

func TestConstraintsDescribesCA(t *testing.T) {
	ca, err := Open(t.TempDir(), []string{"local.cipher.kiev.ua"}, Options{})
	require.NoError(t, err)
	got := Constraints(ca.Certificate())
	assert.Equal(t, "DNS names local.cipher.kiev.ua, localhost (and their subdomains); IP ranges 127.0.0.1/32, ::1/128", got)
}
