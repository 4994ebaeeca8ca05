package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTrustInstallShowsConstraints: `signet trust install` prints the
// name constraints it is about to trust, and says when they changed since
// the last install (a name added to the configuration).
func TestTrustInstallShowsConstraints(t *testing.T) {
	c := buildCLI(t)
	_, cfg, _ := agentHome(t, c)
	const loopbackOnly = "trusted only for: DNS names localhost (and their subdomains); IP ranges 127.0.0.1/32, ::1/128"

	out := c.ok(nil, "trust", "install", "--no-system", "--config", cfg)
	assert.Contains(t, out, loopbackOnly)
	assert.Contains(t, out, "first install")
	assert.Contains(t, out, "installed the local CA in Chromium/Chrome NSS")
	t.Cleanup(func() { c.run(nil, "trust", "uninstall", "--no-system") })

	out = c.ok(nil, "trust", "install", "--no-system", "--config", cfg)
	assert.Contains(t, out, loopbackOnly)
	assert.Contains(t, out, "the same CA as the last install")
	assert.NotContains(t, out, "CHANGED")

	// The administrator adds a name: the CA is replaced and install says the
	// constraints changed, showing both.
	data, err := os.ReadFile(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfg, append(data, []byte("tls:\n  names: [local.signet.test]\n")...), 0o600))
	r := c.run(nil, "trust", "install", "--no-system", "--config", cfg)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "the local CA was replaced")
	assert.Contains(t, r.stdout, "trusted only for: DNS names local.signet.test, localhost (and their subdomains); IP ranges 127.0.0.1/32, ::1/128")
	assert.Contains(t, r.stdout, "the constraints CHANGED since the last install; they were: DNS names localhost (and their subdomains)")
	assert.True(t, strings.Index(r.stdout, "CHANGED") < strings.Index(r.stdout, "installed the local CA in"), "the change is said before installing:\n%s", r.stdout)

	// A configuration with a public suffix is refused before anything is
	// installed.
	require.NoError(t, os.WriteFile(cfg, append(data, []byte("tls:\n  names: [co.uk]\n")...), 0o600))
	r = c.run(nil, "trust", "install", "--no-system", "--config", cfg)
	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, `"co.uk" is a public suffix`)
	assert.NotContains(t, r.stdout, "installed the local CA")
}
