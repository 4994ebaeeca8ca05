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

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/localca"
)

// testPluginCA opens a CA for the names of cfg, as serve does.
func testPluginCA(t *testing.T, cfg *config.Config) (*pluginCA, *localca.CA, *bytes.Buffer) {
	t.Helper()
	ca, err := localca.Open(filepath.Join(t.TempDir(), "ca"), cfg.TLSNames(), localca.Options{})
	require.NoError(t, err)
	var logBuf bytes.Buffer
	return newPluginCA(ca, cfg, slog.New(slog.NewTextHandler(&logBuf, nil))), ca, &logBuf
}

// A plugin's declared names never extend the CA: names the configuration
// permits are honoured, others (a top-level domain, an unconfigured name)
// are left out of its certificates with one warning.
func TestPluginCAIgnoresUnconfiguredDeclaredNames(t *testing.T) {
	p, ca, logBuf := testPluginCA(t, &config.Config{TLS: config.TLS{Names: []string{"configured.test"}}})

	// Permitted names (configured, below it, under localhost, loopback IPs):
	// nothing to say.
	require.NoError(t, p.AllowNames("p", []string{"configured.test", "sub.configured.test", "p.localhost", "127.0.0.1"}))
	assert.Empty(t, logBuf.String())

	require.NoError(t, p.AllowNames("p", []string{"com", "Local.Signet.Test.", "configured.test"}))
	again, err := localca.Load(filepath.Dir(ca.CertFile()), localca.Options{})
	require.NoError(t, err)
	assert.Equal(t, ca.Fingerprint(), again.Fingerprint(), "CA on disk replaced")
	assert.Equal(t, []string{"configured.test", "localhost"}, again.Certificate().PermittedDNSDomains)

	logged := logBuf.String()
	assert.Equal(t, 2, strings.Count(logged, "level=WARN"), logged)
	assert.Contains(t, logged, "names=[com]")
	assert.Contains(t, logged, "names=[local.signet.test]")
	assert.Contains(t, logged, `names: [local.signet.test]`)

	// Warned once: a restart of the plugin declares the same names again.
	logBuf.Reset()
	require.NoError(t, p.AllowNames("p", []string{"com", "local.signet.test"}))
	assert.Empty(t, logBuf.String())

	// The listener's request (loopback + declared names) gets a leaf for the
	// permitted subset.
	leaf, err := p.IssueFor("p", []string{"localhost", "127.0.0.1", "::1", "com", "local.signet.test", "configured.test"})
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
	_, err = p.IssueFor("p", []string{"com"})
	assert.ErrorIs(t, err, localca.ErrNameNotPermitted)
	// A name nobody declared is still refused outright.
	_, err = p.IssueFor("p", []string{"localhost", "accounts.google.com"})
	assert.ErrorIs(t, err, localca.ErrNameNotPermitted)
	// Another plugin never had "com" left out for it: refused.
	_, err = p.IssueFor("q", []string{"localhost", "com"})
	assert.ErrorIs(t, err, localca.ErrNameNotPermitted)
}

// A name configured under plugin a's listen entry is issued to a only;
// tls.names are shared.
func TestPluginCANamesPerPlugin(t *testing.T) {
	cfg := &config.Config{
		TLS: config.TLS{Names: []string{"shared.test"}},
		Plugins: []config.Plugin{
			{Name: "a", Listen: []config.Listen{{Bind: "127.0.0.1:0", Names: []string{"a.signet.test"}}}},
			{Name: "b"},
		},
	}
	p, ca, logBuf := testPluginCA(t, cfg)
	assert.Equal(t, []string{"a.signet.test", "localhost", "shared.test"}, ca.Certificate().PermittedDNSDomains)

	leaf, err := p.IssueFor("a", []string{"localhost", "a.signet.test", "www.shared.test"})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"localhost", "a.signet.test", "www.shared.test"}, leaf.Leaf.DNSNames)

	_, err = p.IssueFor("b", []string{"a.signet.test"})
	assert.ErrorIs(t, err, localca.ErrNameNotPermitted)
	_, err = p.Issue([]string{"a.signet.test"})
	assert.ErrorIs(t, err, localca.ErrNameNotPermitted)
	_, err = p.IssueFor("b", []string{"shared.test", "::1"})
	assert.NoError(t, err)

	// b declaring a's name: ignored for b, with the configuration for b.
	require.NoError(t, p.AllowNames("b", []string{"a.signet.test"}))
	assert.Contains(t, logBuf.String(), `plugin=b`)
	assert.Contains(t, logBuf.String(), `- name: b`)
	leaf, err = p.IssueFor("b", []string{"localhost", "a.signet.test"})
	require.NoError(t, err)
	assert.Equal(t, []string{"localhost"}, leaf.Leaf.DNSNames)
}
