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
	if err != nil {
		t.Fatal(err)
	}
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

	if st := s.Status(ca1.Certificate()); st.Trusted || st.Detail != "no NSS database" {
		t.Fatalf("fresh status = %+v", st)
	}
	if err := s.Uninstall(); err != nil {
		t.Fatalf("uninstall with no database: %v", err)
	}
	if err := s.Install(ca1.Certificate()); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(ca1.Certificate()); !st.Trusted {
		t.Fatalf("after install: %+v", st)
	}
	// NSS itself accepts it as a CA for TLS servers.
	if out, err := exec.Command("certutil", "-V", "-d", "sql:"+s.Dir, "-n", Nickname(ca1.Certificate()), "-u", "L").CombinedOutput(); err != nil {
		t.Errorf("certutil -V -u L: %v %s", err, out)
	}
	// Installing again is idempotent.
	if err := s.Install(ca1.Certificate()); err != nil {
		t.Fatal(err)
	}

	// A rotated CA replaces the old one.
	if err := s.Install(ca2.Certificate()); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(ca2.Certificate()); !st.Trusted {
		t.Errorf("new CA: %+v", st)
	}
	if st := s.Status(ca1.Certificate()); st.Trusted || !strings.Contains(st.Detail, "older") {
		t.Errorf("old CA after rotation: %+v", st)
	}
	nicks, err := s.nicknames("certutil", "sql:"+s.Dir)
	if err != nil || len(nicks) != 1 {
		t.Errorf("nicknames after rotation = %v, %v", nicks, err)
	}

	if err := s.Uninstall(); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(ca2.Certificate()); st.Trusted || st.Detail != "not installed" {
		t.Errorf("after uninstall: %+v", st)
	}
}

func TestNSSStoreWithoutCreate(t *testing.T) {
	needCertutil(t)
	s := &NSSStore{Label: "Firefox profile x", Dir: t.TempDir()}
	if err := s.Install(newCA(t).Certificate()); err == nil || !strings.Contains(err.Error(), "no NSS database") {
		t.Fatalf("install without database: %v", err)
	}
}

func TestNSSDatabases(t *testing.T) {
	needCertutil(t)
	home := t.TempDir()
	prof := filepath.Join(home, ".mozilla", "firefox", "abcd.default-release")
	os.MkdirAll(prof, 0o700)
	if out, err := exec.Command("certutil", "-N", "-d", "sql:"+prof, "--empty-password").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	os.MkdirAll(filepath.Join(home, ".mozilla", "firefox", "Crash Reports"), 0o700)

	stores := NSSDatabases(home)
	var names []string
	for _, s := range stores {
		names = append(names, s.Name())
	}
	if len(stores) != 2 || names[1] != "Firefox profile abcd.default-release" {
		t.Fatalf("stores = %q", names)
	}
	ca := newCA(t)
	if err := InstallAll(stores, ca.Certificate()); err != nil {
		t.Fatal(err)
	}
	for _, st := range StatusAll(stores, ca.Certificate()) {
		if !st.Trusted {
			t.Errorf("%s not trusted: %s", st.Store, st.Detail)
		}
	}
	if _, err := os.Stat(filepath.Join(home, ".pki", "nssdb", "cert9.db")); err != nil {
		t.Errorf("Chromium database not created: %v", err)
	}
	if err := UninstallAll(stores); err != nil {
		t.Fatal(err)
	}
	for _, st := range StatusAll(stores, ca.Certificate()) {
		if st.Trusted {
			t.Errorf("%s still trusted after uninstall", st.Store)
		}
	}
}

func TestSystemStoreStatusDetails(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t)
	bundle := filepath.Join(dir, "bundle.pem")
	os.WriteFile(bundle, nil, 0o644)
	s := &SystemStore{Layout: "test", AnchorDir: dir, FileName: "signet.crt", Update: []string{"true"}, Bundle: bundle}
	if st := s.Status(nil); st.Trusted || st.Detail != "no local CA yet" {
		t.Errorf("nil CA: %+v", st)
	}
	if st := s.Status(ca.Certificate()); st.Trusted || st.Detail != "not installed" {
		t.Errorf("fresh: %+v", st)
	}
	if err := s.Install(ca.Certificate()); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(ca.Certificate()); st.Trusted || !strings.Contains(st.Detail, "not regenerated") {
		t.Errorf("installed, bundle stale: %+v", st)
	}
	os.WriteFile(bundle, append([]byte("junk\n"), ca.CertificatePEM()...), 0o644)
	if st := s.Status(ca.Certificate()); !st.Trusted {
		t.Errorf("in bundle: %+v", st)
	}
	if err := s.Uninstall(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "signet.crt")); !os.IsNotExist(err) {
		t.Error("uninstall left the file")
	}
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
		if err := sys.Uninstall(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if _, err := os.Stat(sys.path()); !os.IsNotExist(err) {
			t.Errorf("cleanup left %s", sys.path())
		}
		if ok, _ := bundleHas(sys.Bundle, ca.Certificate()); ok {
			t.Errorf("cleanup left the CA in %s", sys.Bundle)
		}
	})

	cfg, err := ca.TLSConfig([]string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
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

	if st := sys.Status(ca.Certificate()); st.Trusted || st.Detail != "not installed" {
		t.Fatalf("fresh status: %+v", st)
	}
	if out, err := dial("127.0.0.1"); err == nil || !strings.Contains(out, "unknown authority") {
		t.Fatalf("client trusted the CA before install: %v %s", err, out)
	}

	if err := sys.Install(ca.Certificate()); err != nil {
		t.Fatal(err)
	}
	if st := sys.Status(ca.Certificate()); !st.Trusted {
		t.Fatalf("after install: %+v", st)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if out, err := dial(host); err != nil || out != "hello" {
			t.Errorf("system-store client to %s after install: %v %s", host, err, out)
		}
	}

	if err := sys.Uninstall(); err != nil {
		t.Fatal(err)
	}
	if st := sys.Status(ca.Certificate()); st.Trusted {
		t.Fatalf("after uninstall: %+v", st)
	}
	if out, err := dial("127.0.0.1"); err == nil {
		t.Errorf("client still trusts the CA after uninstall: %s", out)
	}
}
