package serve

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/signet-agent/signet/agent/localca"
)

func TestGrowingCAAddsDeclaredNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := localca.Open(dir, []string{"configured.test"}, localca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	g := newGrowingCA(dir, ca, slog.New(slog.NewTextHandler(&logBuf, nil)))
	dialog, err := g.TLSConfig([]string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	const name = "local.signet.test"
	if _, err := g.Issue([]string{name}); !errors.Is(err, localca.ErrNameNotPermitted) {
		t.Fatalf("undeclared name issued: %v", err)
	}

	// Names already permitted (and IPs) change nothing.
	if err := g.AllowNames("p", []string{"configured.test", "sub.configured.test", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if g.current() != ca || logBuf.Len() != 0 {
		t.Fatalf("CA replaced for permitted names; log: %s", logBuf.String())
	}

	if err := g.AllowNames("p", []string{"Local.Signet.Test."}); err != nil {
		t.Fatal(err)
	}
	now := g.current()
	if now == ca || !bytes.Contains(logBuf.Bytes(), []byte("signet trust install")) || !bytes.Contains(logBuf.Bytes(), []byte(name)) {
		t.Fatalf("no rotation logged: %s", logBuf.String())
	}
	for _, want := range []string{"localhost", "configured.test", name} {
		if !slices.Contains(now.Certificate().PermittedDNSDomains, want) {
			t.Errorf("new CA lacks %q: %v", want, now.Certificate().PermittedDNSDomains)
		}
	}
	leaf, err := g.Issue([]string{name, "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: now.Pool()}); err != nil {
		t.Fatalf("leaf for %s does not verify against the new CA: %v", name, err)
	}
	// Other names stay outside the constraints.
	if _, err := g.Issue([]string{"other.test"}); !errors.Is(err, localca.ErrNameNotPermitted) {
		t.Fatalf("other name issued: %v", err)
	}
	// The dialog's TLS config follows the rotation.
	c, err := dialog.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: now.Pool()}); err != nil {
		t.Fatalf("dialog leaf not from the new CA: %v", err)
	}
	// The next start with only the configured names keeps the new CA.
	again, err := localca.Open(dir, []string{"configured.test"}, localca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Rotated || again.Fingerprint() != now.Fingerprint() {
		t.Fatalf("restart rotated the CA again")
	}
}
