package localca

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenCreatesAndReloads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := Open(dir, []string{"local.cipher.kiev.ua"}, Options{})
	require.NoError(t, err)
	assert.True(t, ca.Created, "Created")
	assert.False(t, ca.Rotated, "Rotated")
	for name, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, KeyFile): 0o600, filepath.Join(dir, CertFile): 0o644} {
		fi, err := os.Stat(name)
		require.NoError(t, err)
		assert.Equal(t, want, fi.Mode().Perm(), "%s mode", name)
	}
	c := ca.Certificate()
	assert.True(t, c.IsCA, "CA flags: IsCA")
	assert.True(t, c.PermittedDNSDomainsCritical, "CA flags: name constraints critical")
	assert.Equal(t, 0, c.MaxPathLen, "CA flags: MaxPathLen")
	assert.True(t, c.MaxPathLenZero, "CA flags: MaxPathLenZero")
	assert.Equal(t, []string{"local.cipher.kiev.ua", "localhost"}, c.PermittedDNSDomains, "permitted DNS")
	var ranges []string
	for _, r := range c.PermittedIPRanges {
		ranges = append(ranges, r.String())
	}
	assert.Equal(t, []string{"127.0.0.1/32", "::1/128"}, ranges, "permitted IPs")
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, c.ExtKeyUsage, "CA EKU")

	loaded, err := Load(dir, Options{})
	require.NoError(t, err, "Load")
	require.Equal(t, ca.Fingerprint(), loaded.Fingerprint(), "Load")
	_, err = Load(t.TempDir(), Options{})
	assert.ErrorIs(t, err, os.ErrNotExist, "Load of empty dir")

	again, err := Open(dir, []string{"LOCAL.cipher.kiev.ua"}, Options{})
	require.NoError(t, err)
	assert.False(t, again.Created, "reopen created a new CA")
	assert.False(t, again.Rotated, "reopen rotated the CA")
	assert.Equal(t, ca.Fingerprint(), again.Fingerprint(), "reopen changed the CA")
}

func TestOpenRotatesForNewName(t *testing.T) {
	dir := t.TempDir()
	ca, err := Open(dir, nil, Options{})
	require.NoError(t, err)
	ca2, err := Open(dir, []string{"local.cipher.kiev.ua"}, Options{})
	require.NoError(t, err)
	require.True(t, ca2.Rotated, "new name did not rotate the CA")
	require.NotEqual(t, ca.Fingerprint(), ca2.Fingerprint(), "new name did not rotate the CA")
	assert.True(t, ca2.Permitted("local.cipher.kiev.ua"), "rotated CA lost names: %v", ca2.Certificate().PermittedDNSDomains)
	assert.True(t, ca2.Permitted("localhost"), "rotated CA lost names: %v", ca2.Certificate().PermittedDNSDomains)
	// A later Open with the same names keeps the rotated CA.
	ca3, err := Open(dir, []string{"local.cipher.kiev.ua"}, Options{})
	require.NoError(t, err)
	assert.False(t, ca3.Rotated, "CA rotated again although no name changed")
	assert.Equal(t, ca2.Fingerprint(), ca3.Fingerprint(), "CA rotated again although no name changed")
}

func TestOpenRotatesNearEndOfLife(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, err := Open(dir, nil, Options{CALifetime: 90 * 24 * time.Hour, Now: func() time.Time { return now }})
	require.NoError(t, err)
	later := now.Add(40 * 24 * time.Hour) // 50 days left < 2 × 30-day leaves
	ca2, err := Open(dir, nil, Options{Now: func() time.Time { return later }})
	require.NoError(t, err)
	assert.True(t, ca2.Rotated, "CA near end of life was not replaced")
	assert.NotEqual(t, ca.Fingerprint(), ca2.Fingerprint(), "CA near end of life was not replaced")
}

func TestOpenRefusesExposedKey(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(dir, nil, Options{})
	require.NoError(t, err)
	os.Chmod(filepath.Join(dir, KeyFile), 0o644)
	_, err = Open(dir, nil, Options{})
	require.ErrorContains(t, err, "accessible to other users")
}

func TestOpenRejectsMismatchedFiles(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	_, err := Open(a, nil, Options{})
	require.NoError(t, err)
	_, err = Open(b, nil, Options{})
	require.NoError(t, err)
	data, _ := os.ReadFile(filepath.Join(b, KeyFile))
	os.WriteFile(filepath.Join(a, KeyFile), data, 0o600)
	_, err = Open(a, nil, Options{})
	require.ErrorContains(t, err, "does not match")
	require.NotContains(t, err.Error(), "PRIVATE KEY", "error mentions key material")
}

func TestIssueRefusesOutsideConstraints(t *testing.T) {
	ca, err := Open(t.TempDir(), []string{"local.cipher.kiev.ua"}, Options{})
	require.NoError(t, err)
	for _, n := range []string{"example.com", "cipher.kiev.ua", "localhost.evil.com", "10.0.0.1", "127.0.0.2", "::2", "*.localhost", ""} {
		_, err := ca.Issue([]string{"localhost", n})
		assert.ErrorIs(t, err, ErrNameNotPermitted, "Issue(%q)", n)
	}
	for _, n := range []string{"localhost", "a.localhost", "local.cipher.kiev.ua", "LOCAL.CIPHER.KIEV.UA.", "127.0.0.1", "::1"} {
		_, err := ca.Issue([]string{n})
		assert.NoError(t, err, "Issue(%q)", n)
	}
}

// TestNameConstraintsEnforcedByVerifiers forges a leaf for a name outside
// the constraints directly with the CA key (what a thief of the key could
// do) and checks that Go's verifier and OpenSSL reject it.
func TestNameConstraintsEnforcedByVerifiers(t *testing.T) {
	dir := t.TempDir()
	ca, err := Open(dir, nil, Options{})
	require.NoError(t, err)
	forge := func(dns []string, ips []net.IP) *x509.Certificate {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "forged"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames:    dns, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, ca.key.Public(), ca.key)
		require.NoError(t, err)
		c, _ := x509.ParseCertificate(der)
		return c
	}
	opts := x509.VerifyOptions{Roots: ca.Pool()}
	for _, c := range []*x509.Certificate{
		forge([]string{"www.google.com"}, nil),
		forge([]string{"localhost", "bank.example"}, nil),
		forge(nil, []net.IP{net.ParseIP("192.0.2.1")}),
	} {
		_, err := c.Verify(opts)
		var ci x509.CertificateInvalidError
		if assert.ErrorAs(t, err, &ci, "forged %v %v: Verify", c.DNSNames, c.IPAddresses) {
			assert.Equal(t, x509.CANotAuthorizedForThisName, ci.Reason, "forged %v %v: Verify err = %v", c.DNSNames, c.IPAddresses, err)
		}
		if _, err := exec.LookPath("openssl"); err == nil {
			leaf := filepath.Join(t.TempDir(), "leaf.pem")
			os.WriteFile(leaf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600)
			out, err := exec.Command("openssl", "verify", "-CAfile", ca.CertFile(), leaf).CombinedOutput()
			assert.Error(t, err, "openssl accepted forged leaf %v: %s", c.DNSNames, out)
			assert.Contains(t, string(out), "subtree", "openssl on forged leaf %v", c.DNSNames)
		}
	}
	// A good leaf passes both verifiers.
	good, err := ca.Issue([]string{"localhost", "127.0.0.1"})
	require.NoError(t, err)
	leaf := filepath.Join(t.TempDir(), "good.pem")
	os.WriteFile(leaf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: good.Certificate[0]}), 0o600)
	out, err := exec.Command("openssl", "verify", "-CAfile", ca.CertFile(), "-purpose", "sslserver", leaf).CombinedOutput()
	assert.NoError(t, err, "openssl rejected good leaf: %s", out)
	// The CA is limited to server authentication.
	_, err = good.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.Error(t, err, "leaf verified for client authentication")
}

func TestTLSClientTrustingOnlyTheCA(t *testing.T) {
	ca, err := Open(t.TempDir(), nil, Options{})
	require.NoError(t, err)
	cfg, err := ca.TLSConfig([]string{"localhost", "127.0.0.1", "::1"})
	require.NoError(t, err)
	serve := func(network, addr string) string {
		l, err := tls.Listen(network, addr, cfg)
		if err != nil {
			return ""
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					c.Write([]byte("hello"))
				}()
			}
		}()
		return l.Addr().String()
	}
	addr4 := serve("tcp4", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(addr4)
	dial := func(addr, serverName string, roots *x509.CertPool) error {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: serverName})
		if err != nil {
			return err
		}
		defer c.Close()
		b, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		assert.Equal(t, "hello", string(b), "read")
		return nil
	}
	assert.NoError(t, dial(addr4, "127.0.0.1", ca.Pool()), "dial 127.0.0.1")
	assert.NoError(t, dial(net.JoinHostPort("localhost", port), "localhost", ca.Pool()), "dial localhost")
	if addr6 := serve("tcp6", "[::1]:0"); addr6 != "" {
		assert.NoError(t, dial(addr6, "::1", ca.Pool()), "dial ::1")
	} else {
		t.Log("no IPv6 loopback; ::1 not tested")
	}
	// Without the CA the same server is not trusted.
	assert.Error(t, dial(addr4, "127.0.0.1", x509.NewCertPool()), "client trusting nothing connected")
	// Another CA's trust does not help.
	other, _ := Open(t.TempDir(), nil, Options{})
	assert.Error(t, dial(addr4, "127.0.0.1", other.Pool()), "client trusting another local CA connected")
}

func TestIssueCachesAndRenews(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	ca, err := Open(t.TempDir(), nil, Options{Now: clock})
	require.NoError(t, err)
	a, err := ca.Issue([]string{"localhost", "127.0.0.1"})
	require.NoError(t, err)
	life := a.Leaf.NotAfter.Sub(now)
	assert.LessOrEqual(t, life, DefaultLeafLifetime, "leaf lifetime")
	assert.GreaterOrEqual(t, life, DefaultLeafLifetime-time.Second, "leaf lifetime")
	b, _ := ca.Issue([]string{"127.0.0.1", "LOCALHOST", "localhost"})
	assert.Zero(t, a.Leaf.SerialNumber.Cmp(b.Leaf.SerialNumber), "same names (other order/case) issued a new leaf")
	now = now.Add(19 * 24 * time.Hour) // 11 days left: still more than a third
	c, _ := ca.Issue([]string{"localhost", "127.0.0.1"})
	assert.Zero(t, c.Leaf.SerialNumber.Cmp(a.Leaf.SerialNumber), "renewed too early")
	now = now.Add(2 * 24 * time.Hour) // 9 days left
	d, _ := ca.Issue([]string{"localhost", "127.0.0.1"})
	assert.NotZero(t, d.Leaf.SerialNumber.Cmp(a.Leaf.SerialNumber), "not renewed when a third of the lifetime remained")
	assert.True(t, d.Leaf.NotAfter.After(a.Leaf.NotAfter), "renewed leaf does not last longer")
	certPEM, keyPEM, _, err := ca.LeafPEM([]string{"localhost"})
	require.NoError(t, err)
	_, err = tls.X509KeyPair(certPEM, keyPEM)
	assert.NoError(t, err, "LeafPEM pair")
}

func TestConcurrentOpenAgreesOnOneCA(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	fps := make(chan string, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			ca, err := Open(dir, []string{"local.cipher.kiev.ua"}, Options{})
			if err != nil {
				errs <- err
				return
			}
			fps <- ca.Fingerprint()
		}()
	}
	first := ""
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			require.NoError(t, err)
		case fp := <-fps:
			if first == "" {
				first = fp
			}
			require.Equal(t, first, fp, "concurrent Open created two CAs")
		}
	}
}
