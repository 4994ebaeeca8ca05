package serve

import (
	"bytes"
	"crypto/x509"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/localca"
)

// A plugin's declared names never extend the CA: names the configuration
// permits are honoured, others (a top-level domain, an unconfigured name)
// are left out of its certificates with one warning.
func TestPluginCAIgnoresUnconfiguredDeclaredNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := localca.Open(dir, []string{"configured.test"}, localca.Options{})
	require.NoError(t, err)
	var logBuf bytes.Buffer
	p := newPluginCA(ca, slog.New(slog.NewTextHandler(&logBuf, nil)))

	// Permitted names (configured, below it, under localhost, loopback IPs):
	// nothing to say.
	require.NoError(t, p.AllowNames("p", []string{"configured.test", "sub.configured.test", "p.localhost", "127.0.0.1"}))
	assert.Empty(t, logBuf.String())

	require.NoError(t, p.AllowNames("p", []string{"com", "Local.Signet.Test.", "configured.test"}))
	assert.Equal(t, ca.Fingerprint(), localca.Fingerprint(p.ca.Certificate()), "CA changed")
	again, err := localca.Load(dir, localca.Options{})
	require.NoError(t, err)
	assert.Equal(t, ca.Fingerprint(), again.Fingerprint(), "CA on disk replaced")
	assert.Equal(t, []string{"configured.test", "localhost"}, again.Certificate().PermittedDNSDomains)

	logged := logBuf.String()
	assert.Equal(t, 2, strings.Count(logged, "level=WARN"), logged)
	assert.Contains(t, logged, "names=[com]")
	assert.Contains(t, logged, "names=[local.signet.test]")
	assert.Contains(t, logged, `tls:\n  names: [local.signet.test]`)

	// Warned once: a restart of the plugin declares the same names again.
	logBuf.Reset()
	require.NoError(t, p.AllowNames("p", []string{"com", "local.signet.test"}))
	assert.Empty(t, logBuf.String())

	// The listener's request (loopback + declared names) gets a leaf for the
	// permitted subset.
	leaf, err := p.Issue([]string{"localhost", "127.0.0.1", "::1", "com", "local.signet.test", "configured.test"})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"localhost", "configured.test"}, leaf.Leaf.DNSNames)
	for _, host := range []string{"localhost", "configured.test", "127.0.0.1"} {
		_, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: ca.Pool()})
		assert.NoError(t, err, host)
	}
	for _, host := range []string{"com", "accounts.google.com", "local.signet.test"} {
		assert.Error(t, leaf.Leaf.VerifyHostname(host), host)
	}

	// Only ignored names: nothing to issue.
	_, err = p.Issue([]string{"com"})
	assert.ErrorIs(t, err, localca.ErrNameNotPermitted)
	// A name nobody declared is still refused outright.
	_, err = p.Issue([]string{"localhost", "accounts.google.com"})
	assert.ErrorIs(t, err, localca.ErrNameNotPermitted)
}
