package cli

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDashboardCommand runs the real binary: `signet dashboard --print`
// starts the agent when none runs and prints the dashboard URL, which
// answers over TLS with the agent's local CA; a second call prints the same
// URL; without --print and without a browser opener on PATH it still prints
// the URL and says to open it by hand.
func TestDashboardCommand(t *testing.T) {
	c := buildCLI(t)
	home, cfg, sock := agentHome(t, c)
	t.Cleanup(func() { stopAgent(t, sock) })

	r := c.run(nil, "dashboard", "--print", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stderr, "started the agent") {
		t.Fatalf("dashboard --print: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	url := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(url, "https://127.0.0.1:") || !strings.Contains(url, "/d/") || strings.Contains(url, "\n") {
		t.Fatalf("printed %q", r.stdout)
	}

	caPEM, err := os.ReadFile(filepath.Join(home, "data", "signet", "ca", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Plugins") {
		t.Fatalf("dashboard: %s\n%s", resp.Status, body)
	}

	if again := strings.TrimSpace(c.ok(nil, "dashboard", "--print")); again != url {
		t.Errorf("second call printed %q, want %q", again, url)
	}

	// No xdg-open on PATH (a headless box): the URL is printed, exit 1.
	empty := filepath.Join(home, "emptybin")
	os.MkdirAll(empty, 0o700)
	r = c.run([]string{"PATH=" + empty}, "dashboard")
	if r.code != 1 || strings.TrimSpace(r.stdout) != url || !strings.Contains(r.stderr, "open the URL above by hand") {
		t.Errorf("dashboard without a browser: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}
