package trust

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/localca"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With SIGNET_TRUST_TEST_DIAL=addr the test binary is a TLS client that
// trusts only the system store: a fresh process, so crypto/x509 loads the
// system pool as it is now (it caches the pool per process).
func TestMain(m *testing.M) {
	if addr := os.Getenv("SIGNET_TRUST_TEST_DIAL"); addr != "" {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr,
			&tls.Config{ServerName: os.Getenv("SIGNET_TRUST_TEST_NAME")})
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		buf := make([]byte, 5)
		n, _ := c.Read(buf)
		c.Close()
		fmt.Printf("%s", buf[:n])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func newCA(t *testing.T) *localca.CA {
	t.Helper()
	ca, err := localca.Open(t.TempDir(), nil, localca.Options{})
	require.NoError(t, err)
	return ca
}

func needCertutil(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("certutil"); err != nil {
		t.Skip("certutil not installed (apt-get install libnss3-tools)")
	}
}

func TestNSSStore(t *testing.T) {
	needCertutil(t)
	ca1, ca2 := newCA(t), newCA(t)
	s := &NSSStore{Label: "test NSS", Dir: filepath.Join(t.TempDir(), "nssdb"), Create: true}

	st := s.Status(ca1.Certificate())
	require.False(t, st.Trusted, "fresh status = %+v", st)
	require.Equal(t, "no NSS database", st.Detail, "fresh status")
	require.NoError(t, s.Uninstall(), "uninstall with no database")
	require.NoError(t, s.Install(ca1.Certificate()))
	st = s.Status(ca1.Certificate())
	require.True(t, st.Trusted, "after install: %+v", st)
	// NSS itself accepts it as a CA for TLS servers.
	out, err := exec.Command("certutil", "-V", "-d", "sql:"+s.Dir, "-n", Nickname(ca1.Certificate()), "-u", "L").CombinedOutput()
	assert.NoError(t, err, "certutil -V -u L: %s", out)
	// Installing again is idempotent.
	require.NoError(t, s.Install(ca1.Certificate()))

	// A rotated CA replaces the old one.
	require.NoError(t, s.Install(ca2.Certificate()))
	st = s.Status(ca2.Certificate())
	assert.True(t, st.Trusted, "new CA: %+v", st)
	st = s.Status(ca1.Certificate())
	assert.False(t, st.Trusted, "old CA after rotation: %+v", st)
	assert.Contains(t, st.Detail, "older", "old CA after rotation")
	nicks, err := s.nicknames("certutil", "sql:"+s.Dir)
	assert.NoError(t, err, "nicknames after rotation")
	assert.Len(t, nicks, 1, "nicknames after rotation")

	require.NoError(t, s.Uninstall())
	st = s.Status(ca2.Certificate())
	assert.False(t, st.Trusted, "after uninstall: %+v", st)
	assert.Equal(t, "not installed", st.Detail, "after uninstall")
}

func TestNSSStoreWithoutCreate(t *testing.T) {
	needCertutil(t)
	s := &NSSStore{Label: "Firefox profile x", Dir: t.TempDir()}
	require.ErrorContains(t, s.Install(newCA(t).Certificate()), "no NSS database", "install without database")
}

func TestNSSDatabases(t *testing.T) {
	needCertutil(t)
	home := t.TempDir()
	prof := filepath.Join(home, ".mozilla", "firefox", "abcd.default-release")
	os.MkdirAll(prof, 0o700)
	out, err := exec.Command("certutil", "-N", "-d", "sql:"+prof, "--empty-password").CombinedOutput()
	require.NoError(t, err, "certutil -N: %s", out)
	os.MkdirAll(filepath.Join(home, ".mozilla", "firefox", "Crash Reports"), 0o700)

	stores := NSSDatabases(home)
	var names []string
	for _, s := range stores {
		names = append(names, s.Name())
	}
	require.Len(t, names, 2, "stores")
	require.Equal(t, "Firefox profile abcd.default-release", names[1], "stores = %q", names)
	ca := newCA(t)
	require.NoError(t, InstallAll(stores, ca.Certificate()))
	for _, st := range StatusAll(stores, ca.Certificate()) {
		assert.True(t, st.Trusted, "%s not trusted: %s", st.Store, st.Detail)
	}
	_, err = os.Stat(filepath.Join(home, ".pki", "nssdb", "cert9.db"))
	assert.NoError(t, err, "Chromium database not created")
	require.NoError(t, UninstallAll(stores))
	for _, st := range StatusAll(stores, ca.Certificate()) {
		assert.False(t, st.Trusted, "%s still trusted after uninstall", st.Store)
	}
}

func TestSystemStoreStatusDetails(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t)
	bundle := filepath.Join(dir, "bundle.pem")
	os.WriteFile(bundle, nil, 0o644)
	s := &SystemStore{Layout: "test", AnchorDir: dir, FileName: "signet.crt", Update: []string{"true"}, Bundle: bundle}
	st := s.Status(nil)
	assert.False(t, st.Trusted, "nil CA: %+v", st)
	assert.Equal(t, "no local CA yet", st.Detail, "nil CA")
	st = s.Status(ca.Certificate())
	assert.False(t, st.Trusted, "fresh: %+v", st)
	assert.Equal(t, "not installed", st.Detail, "fresh")
	require.NoError(t, s.Install(ca.Certificate()))
	st = s.Status(ca.Certificate())
	assert.False(t, st.Trusted, "installed, bundle stale: %+v", st)
	assert.Contains(t, st.Detail, "not regenerated", "installed, bundle stale")
	os.WriteFile(bundle, append([]byte("junk\n"), ca.CertificatePEM()...), 0o644)
	st = s.Status(ca.Certificate())
	assert.True(t, st.Trusted, "in bundle: %+v", st)
	require.NoError(t, s.Uninstall())
	_, err := os.Stat(filepath.Join(dir, "signet.crt"))
	assert.ErrorIs(t, err, os.ErrNotExist, "uninstall left the file")
}

// TestSystemStoreReal installs a CA into this machine's real system store
// (Debian layout), checks that a fresh process trusting only the system
// store connects to a listener with a leaf from the CA, and removes it
// again. It uses its own file name so it never touches a real Signet
// installation, and always uninstalls in Cleanup.
func TestSystemStoreReal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the real system-store test needs root (it writes /usr/local/share/ca-certificates)")
	}
	sys, err := DetectSystem()
	if err != nil || sys.Layout != "Debian" {
		t.Skipf("no Debian system store here (%v)", err)
	}
	sys.FileName = fmt.Sprintf("signet-test-%d.crt", os.Getpid())
	ca := newCA(t)
	t.Cleanup(func() {
		assert.NoError(t, sys.Uninstall(), "cleanup")
		_, err := os.Stat(sys.path())
		assert.ErrorIs(t, err, os.ErrNotExist, "cleanup left %s", sys.path())
		ok, _ := bundleHas(sys.Bundle, ca.Certificate())
		assert.False(t, ok, "cleanup left the CA in %s", sys.Bundle)
	})

	cfg, err := ca.TLSConfig([]string{"127.0.0.1", "localhost"})
	require.NoError(t, err)
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				c.Write([]byte("hello"))
				c.Close()
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	dial := func(host string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		var env []string
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "SSL_CERT_FILE=") && !strings.HasPrefix(e, "SSL_CERT_DIR=") {
				env = append(env, e)
			}
		}
		cmd.Env = append(env, "SIGNET_TRUST_TEST_DIAL="+net.JoinHostPort(host, port), "SIGNET_TRUST_TEST_NAME="+host)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	st := sys.Status(ca.Certificate())
	require.False(t, st.Trusted, "fresh status: %+v", st)
	require.Equal(t, "not installed", st.Detail, "fresh status")
	out, err := dial("127.0.0.1")
	require.Error(t, err, "client trusted the CA before install: %s", out)
	require.Contains(t, out, "unknown authority", "client before install")

	require.NoError(t, sys.Install(ca.Certificate()))
	st = sys.Status(ca.Certificate())
	require.True(t, st.Trusted, "after install: %+v", st)
	for _, host := range []string{"127.0.0.1", "localhost"} {
		out, err := dial(host)
		assert.NoError(t, err, "system-store client to %s after install: %s", host, out)
		assert.Equal(t, "hello", out, "system-store client to %s after install", host)
	}

	require.NoError(t, sys.Uninstall())
	st = sys.Status(ca.Certificate())
	require.False(t, st.Trusted, "after uninstall: %+v", st)
	out, err = dial("127.0.0.1")
	assert.Error(t, err, "client still trusts the CA after uninstall: %s", out)
}
