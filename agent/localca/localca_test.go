package localca

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOpenCreatesAndReloads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := Open(dir, []string{"local.cipher.kiev.ua"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Created || ca.Rotated {
		t.Errorf("Created %v Rotated %v", ca.Created, ca.Rotated)
	}
	for name, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, KeyFile): 0o600, filepath.Join(dir, CertFile): 0o644} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	c := ca.Certificate()
	if !c.IsCA || !c.PermittedDNSDomainsCritical || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("CA flags: IsCA %v critical %v maxpath %d", c.IsCA, c.PermittedDNSDomainsCritical, c.MaxPathLen)
	}
	if !slices.Equal(c.PermittedDNSDomains, []string{"local.cipher.kiev.ua", "localhost"}) {
		t.Errorf("permitted DNS = %v", c.PermittedDNSDomains)
	}
	var ranges []string
	for _, r := range c.PermittedIPRanges {
		ranges = append(ranges, r.String())
	}
	if !slices.Equal(ranges, []string{"127.0.0.1/32", "::1/128"}) {
		t.Errorf("permitted IPs = %v", ranges)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("CA EKU = %v", c.ExtKeyUsage)
	}

	loaded, err := Load(dir, Options{})
	if err != nil || loaded.Fingerprint() != ca.Fingerprint() {
		t.Fatalf("Load: %v", err)
	}
	if _, err := Load(t.TempDir(), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of empty dir: %v, want ErrNotExist", err)
	}

	again, err := Open(dir, []string{"LOCAL.cipher.kiev.ua"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || again.Rotated || again.Fingerprint() != ca.Fingerprint() {
		t.Errorf("reopen created a new CA (Created %v Rotated %v)", again.Created, again.Rotated)
	}
}

func TestOpenRotatesForNewName(t *testing.T) {
	dir := t.TempDir()
	ca, err := Open(dir, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := Open(dir, []string{"local.cipher.kiev.ua"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !ca2.Rotated || ca2.Fingerprint() == ca.Fingerprint() {
		t.Fatalf("new name did not rotate the CA")
	}
	if !ca2.Permitted("local.cipher.kiev.ua") || !ca2.Permitted("localhost") {
		t.Errorf("rotated CA lost names: %v", ca2.Certificate().PermittedDNSDomains)
	}
	// A later Open with the same names keeps the rotated CA.
	ca3, err := Open(dir, []string{"local.cipher.kiev.ua"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ca3.Rotated || ca3.Fingerprint() != ca2.Fingerprint() {
		t.Error("CA rotated again although no name changed")
	}
}

func TestOpenRotatesNearEndOfLife(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, err := Open(dir, nil, Options{CALifetime: 90 * 24 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	later := now.Add(40 * 24 * time.Hour) // 50 days left < 2 × 30-day leaves
	ca2, err := Open(dir, nil, Options{Now: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	if !ca2.Rotated || ca2.Fingerprint() == ca.Fingerprint() {
		t.Error("CA near end of life was not replaced")
	}
}

func TestOpenRefusesExposedKey(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, nil, Options{}); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, KeyFile), 0o644)
	_, err := Open(dir, nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "accessible to other users") {
		t.Fatalf("err = %v", err)
	}
}

func TestOpenRejectsMismatchedFiles(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if _, err := Open(a, nil, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(b, nil, Options{}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(b, KeyFile))
	os.WriteFile(filepath.Join(a, KeyFile), data, 0o600)
	_, err := Open(a, nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatal("error mentions key material")
	}
}

func TestIssueRefusesOutsideConstraints(t *testing.T) {
	ca, err := Open(t.TempDir(), []string{"local.cipher.kiev.ua"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"example.com", "cipher.kiev.ua", "localhost.evil.com", "10.0.0.1", "127.0.0.2", "::2", "*.localhost", ""} {
		if _, err := ca.Issue([]string{"localhost", n}); !errors.Is(err, ErrNameNotPermitted) {
			t.Errorf("Issue(%q) err = %v, want ErrNameNotPermitted", n, err)
		}
	}
	for _, n := range []string{"localhost", "a.localhost", "local.cipher.kiev.ua", "LOCAL.CIPHER.KIEV.UA.", "127.0.0.1", "::1"} {
		if _, err := ca.Issue([]string{n}); err != nil {
			t.Errorf("Issue(%q): %v", n, err)
		}
	}
}

// TestNameConstraintsEnforcedByVerifiers forges a leaf for a name outside
// the constraints directly with the CA key (what a thief of the key could
// do) and checks that Go's verifier and OpenSSL reject it.
func TestNameConstraintsEnforcedByVerifiers(t *testing.T) {
	dir := t.TempDir()
	ca, err := Open(dir, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	forge := func(dns []string, ips []net.IP) *x509.Certificate {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "forged"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames:    dns, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, ca.key.Public(), ca.key)
		if err != nil {
			t.Fatal(err)
		}
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
		if !errors.As(err, &ci) || ci.Reason != x509.CANotAuthorizedForThisName {
			t.Errorf("forged %v %v: Verify err = %v, want CANotAuthorizedForThisName", c.DNSNames, c.IPAddresses, err)
		}
		if _, err := exec.LookPath("openssl"); err == nil {
			leaf := filepath.Join(t.TempDir(), "leaf.pem")
			os.WriteFile(leaf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600)
			out, err := exec.Command("openssl", "verify", "-CAfile", ca.CertFile(), leaf).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "subtree") {
				t.Errorf("openssl accepted forged leaf %v: %s", c.DNSNames, out)
			}
		}
	}
	// A good leaf passes both verifiers.
	good, err := ca.Issue([]string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := filepath.Join(t.TempDir(), "good.pem")
	os.WriteFile(leaf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: good.Certificate[0]}), 0o600)
	if out, err := exec.Command("openssl", "verify", "-CAfile", ca.CertFile(), "-purpose", "sslserver", leaf).CombinedOutput(); err != nil {
		t.Errorf("openssl rejected good leaf: %v %s", err, out)
	}
	// The CA is limited to server authentication.
	if _, err := good.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("leaf verified for client authentication")
	}
}

func TestTLSClientTrustingOnlyTheCA(t *testing.T) {
	ca, err := Open(t.TempDir(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ca.TLSConfig([]string{"localhost", "127.0.0.1", "::1"})
	if err != nil {
		t.Fatal(err)
	}
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
		if string(b) != "hello" {
			t.Errorf("read %q", b)
		}
		return nil
	}
	if err := dial(addr4, "127.0.0.1", ca.Pool()); err != nil {
		t.Errorf("dial 127.0.0.1: %v", err)
	}
	if err := dial(net.JoinHostPort("localhost", port), "localhost", ca.Pool()); err != nil {
		t.Errorf("dial localhost: %v", err)
	}
	if addr6 := serve("tcp6", "[::1]:0"); addr6 != "" {
		if err := dial(addr6, "::1", ca.Pool()); err != nil {
			t.Errorf("dial ::1: %v", err)
		}
	} else {
		t.Log("no IPv6 loopback; ::1 not tested")
	}
	// Without the CA the same server is not trusted.
	if err := dial(addr4, "127.0.0.1", x509.NewCertPool()); err == nil {
		t.Error("client trusting nothing connected")
	}
	// Another CA's trust does not help.
	other, _ := Open(t.TempDir(), nil, Options{})
	if err := dial(addr4, "127.0.0.1", other.Pool()); err == nil {
		t.Error("client trusting another local CA connected")
	}
}

func TestIssueCachesAndRenews(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	ca, err := Open(t.TempDir(), nil, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	a, err := ca.Issue([]string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if d := a.Leaf.NotAfter.Sub(now); d > DefaultLeafLifetime || d < DefaultLeafLifetime-time.Second {
		t.Errorf("leaf lifetime %v", d)
	}
	b, _ := ca.Issue([]string{"127.0.0.1", "LOCALHOST", "localhost"})
	if a.Leaf.SerialNumber.Cmp(b.Leaf.SerialNumber) != 0 {
		t.Error("same names (other order/case) issued a new leaf")
	}
	now = now.Add(19 * 24 * time.Hour) // 11 days left: still more than a third
	c, _ := ca.Issue([]string{"localhost", "127.0.0.1"})
	if c.Leaf.SerialNumber.Cmp(a.Leaf.SerialNumber) != 0 {
		t.Error("renewed too early")
	}
	now = now.Add(2 * 24 * time.Hour) // 9 days left
	d, _ := ca.Issue([]string{"localhost", "127.0.0.1"})
	if d.Leaf.SerialNumber.Cmp(a.Leaf.SerialNumber) == 0 {
		t.Error("not renewed when a third of the lifetime remained")
	}
	if !d.Leaf.NotAfter.After(a.Leaf.NotAfter) {
		t.Error("renewed leaf does not last longer")
	}
	certPEM, keyPEM, _, err := ca.LeafPEM([]string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Errorf("LeafPEM pair: %v", err)
	}
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
			t.Fatal(err)
		case fp := <-fps:
			if first == "" {
				first = fp
			} else if fp != first {
				t.Fatal("concurrent Open created two CAs")
			}
		}
	}
}
