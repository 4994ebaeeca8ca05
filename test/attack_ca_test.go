package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tlsNameSetup is the configuration startTLSNameAgent writes besides the
// tlsname test plugin: the administrator's tls.names and the names of the
// plugin's listen entry.
type tlsNameSetup struct {
	TLSNames, ListenNames []string
}

// startTLSNameAgent starts `signet serve` with only the tlsname test plugin
// (which declares local.signet.test, com and co.uk for its HTTPS listener).
func startTLSNameAgent(t *testing.T, s tlsNameSetup) *agent {
	t.Helper()
	bin := buildOnce(t, "signet-plugin-tlsname", "./testdata/tlsname")
	dir := t.TempDir()
	// No key store: the test is about the CA only.
	cfg := agentConfig{DataDir: filepath.Join(dir, "data"), PluginDir: filepath.Join(dir, "no-plugins")}
	cfg.TLS.Names = s.TLSNames
	cfg.Plugins = []pluginConf{{Name: "tlsname", Path: bin, Listen: []listenConf{{Bind: "127.0.0.1:0", Names: s.ListenNames}}}}
	cfgPath := writeConfig(t, dir, cfg)
	return launchAgent(t, dir, cfgPath, nil)
}

// agentCA reads the agent's CA certificate from data_dir/ca/ca.crt.
func agentCA(t *testing.T, a *agent) (*x509.Certificate, string) {
	t.Helper()
	file := filepath.Join(a.dataDir(), "ca", "ca.crt")
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	b, _ := pem.Decode(data)
	require.NotNil(t, b, "ca.crt is not PEM")
	c, err := x509.ParseCertificate(b.Bytes)
	require.NoError(t, err)
	return c, file
}

// servedLeaf returns the leaf certificate a TLS server at addr presents
// when asked for serverName (the test checks it itself).
func servedLeaf(t *testing.T, addr, serverName string) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: serverName, InsecureSkipVerify: true})
	require.NoError(t, err)
	defer conn.Close()
	certs := conn.ConnectionState().PeerCertificates
	require.NotEmpty(t, certs)
	return certs[0]
}

// opensslVerifyLeaf runs `openssl verify -CAfile caFile [-verify_hostname
// host] leaf` and reports whether OpenSSL accepts the leaf.
func opensslVerifyLeaf(t *testing.T, caFile string, leaf *x509.Certificate, host string) (bool, string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "leaf.pem")
	require.NoError(t, os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), 0o600))
	args := []string{"verify", "-CAfile", caFile, "-purpose", "sslserver"}
	if host != "" {
		args = append(args, "-verify_hostname", host)
	}
	out, err := exec.Command("openssl", append(args, f)...).CombinedOutput()
	return err == nil, string(out)
}

// httpsTo is an HTTPS client trusting only pool that dials addr whatever
// the URL's host.
func httpsTo(pool *x509.CertPool, addr string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}, Timeout: 20 * time.Second}
}

// TestAttackCAPluginDeclaresTopLevelDomain: a plugin declares the TLS names
// com and co.uk for its listener, hoping the agent widens its CA's name
// constraints to them and so issues certificates for accounts.google.com
// that every browser trusting the local CA accepts. The CA must keep its
// configured constraints (localhost only here), the plugin's certificate
// must not cover accounts.google.com, the host's TLS service must refuse
// to issue for it, and OpenSSL must reject every leaf the agent issued for
// that host name.
func TestAttackCAPluginDeclaresTopLevelDomain(t *testing.T) {
	const victim = "accounts.google.com"
	a := startTLSNameAgent(t, tlsNameSetup{})
	addr := listenerAddr(t, a, "tlsname", "https")

	ca, caFile := agentCA(t, a)
	assert.Equal(t, []string{"localhost"}, ca.PermittedDNSDomains, "CA constraints")
	assert.True(t, ca.PermittedDNSDomainsCritical)
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	// The listener serves a leaf for the permitted names only.
	listenerLeaf := servedLeaf(t, addr, victim)
	assert.ElementsMatch(t, []string{"localhost"}, listenerLeaf.DNSNames)
	assert.Error(t, listenerLeaf.VerifyHostname(victim))
	_, err := listenerLeaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: victim})
	assert.Error(t, err, "listener leaf verifies for %s", victim)
	leaves := map[string]*x509.Certificate{"listener": listenerLeaf}

	// The plugin asks the host's TLS service directly.
	c := httpsTo(pool, addr)
	for _, name := range []string{victim, "www.example.co.uk", "com", "co.uk"} {
		resp, err := c.Get("https://localhost/issue?name=" + url.QueryEscape(name))
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			assert.Contains(t, string(body), "not permitted", name)
			continue
		}
		// Only the names the plugin declared are left out; the rest is
		// localhost.
		assert.Contains(t, []string{"com", "co.uk"}, name, "the host issued for %s", name)
		b, _ := pem.Decode(body)
		require.NotNil(t, b, "issue %s: %s", name, body)
		leaf, err := x509.ParseCertificate(b.Bytes)
		require.NoError(t, err)
		assert.Equal(t, []string{"localhost"}, leaf.DNSNames, name)
		leaves["issued for "+name] = leaf
	}

	// The consent dialog's leaf.
	m := regexp.MustCompile(`msg="consent dialog" url=(https://[^ ]+)`).FindStringSubmatch(a.log.String())
	require.NotNil(t, m, "no consent dialog URL in the log")
	u, err := url.Parse(m[1])
	require.NoError(t, err)
	leaves["consent dialog"] = servedLeaf(t, u.Host, victim)

	for what, leaf := range leaves {
		ok, out := opensslVerifyLeaf(t, caFile, leaf, "")
		assert.True(t, ok, "%s: the leaf does not chain to ca.crt: %s", what, out)
		ok, out = opensslVerifyLeaf(t, caFile, leaf, victim)
		assert.False(t, ok, "%s: openssl accepts the leaf for %s: %s", what, victim, out)
	}

	// The agent says which declared names it ignored, and never asks for
	// the CA to be trusted again because of a plugin.
	a.waitLog("ignored TLS names a plugin declares", 10*time.Second)
	log := a.log.String()
	assert.Contains(t, log, "names=\"[com co.uk]\"")
	assert.NotContains(t, log, "run `signet trust install` again")
}

// TestAttackCAConfiguredPublicSuffixRefused: the same names written into
// the configuration stop the agent at start with the file position.
func TestAttackCAConfiguredPublicSuffixRefused(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf("data_dir: %s\ntls:\n  names: [com, co.uk]\n", filepath.Join(dir, "data"))), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // an agent that starts is stopped
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "signet"), "serve", "--config", cfgPath, "--socket", filepath.Join(dir, "s.sock")).CombinedOutput()
	require.Error(t, err, "serve started: %s", out)
	assert.Contains(t, string(out), cfgPath+":3:11: tls.names[0]: \"com\" is a single-label name")
	assert.Contains(t, string(out), cfgPath+":3:16: tls.names[1]: \"co.uk\" is a public suffix")
	assert.NoFileExists(t, filepath.Join(dir, "data", "ca", "ca.crt"))
}
