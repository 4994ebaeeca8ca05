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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.Equal(t, 0, r.code, "dashboard --print: exit code\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Contains(t, r.stderr, "started the agent", "dashboard --print")
	url := strings.TrimSpace(r.stdout)
	require.True(t, strings.HasPrefix(url, "https://127.0.0.1:"), "printed %q", r.stdout)
	require.Contains(t, url, "/d/", "printed %q", r.stdout)
	require.NotContains(t, url, "\n", "printed %q", r.stdout)

	caPEM, err := os.ReadFile(filepath.Join(home, "data", "signet", "ca", "ca.crt"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM), "no CA certificate")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	require.NoError(t, err, "GET %s", url)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "dashboard: %s", body)
	require.Contains(t, string(body), "Plugins", "dashboard page")

	assert.Equal(t, url, strings.TrimSpace(c.ok(nil, "dashboard", "--print")), "second call printed another URL")

	// No xdg-open on PATH (a headless box): the URL is printed, exit 1.
	empty := filepath.Join(home, "emptybin")
	os.MkdirAll(empty, 0o700)
	r = c.run([]string{"PATH=" + empty}, "dashboard")
	assert.Equal(t, 1, r.code, "dashboard without a browser: exit code\nstderr: %s", r.stderr)
	assert.Equal(t, url, strings.TrimSpace(r.stdout), "dashboard without a browser: stdout")
	assert.Contains(t, r.stderr, "open the URL above by hand", "dashboard without a browser: stderr")
}
