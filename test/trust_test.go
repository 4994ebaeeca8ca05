package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/trust"
)

var (
	buildMu   sync.Mutex
	buildDone = map[string]error{}
)

// buildOnce builds a test program from pkg into binDir (once per run).
func buildOnce(t *testing.T, out, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	path := filepath.Join(binDir, out)
	err, done := buildDone[out]
	if !done {
		cmd := exec.Command("go", "build", "-o", path, pkg)
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
		if msg, berr := cmd.CombinedOutput(); berr != nil {
			err = fmt.Errorf("go build %s: %v\n%s", pkg, berr, msg)
		}
		buildDone[out] = err
	}
	require.NoError(t, err)
	return path
}

func listenerAddr(t testing.TB, a *agent, plugin, name string) string {
	t.Helper()
	for _, l := range a.plugin(plugin).Listeners {
		if l.Name == name {
			return l.Addr
		}
	}
	t.Fatalf("plugin %s has no %s listener", plugin, name)
	return ""
}

// TestPluginDeclaredTLSName: a plugin that declares a TLS name
// (local.signet.test) gets a certificate for it only when the
// configuration lists it (here in the plugin's listen names); otherwise the
// agent ignores the name, says how to allow it, and the plugin's listener
// serves a certificate for localhost and the loopback IPs only. The CA is
// never changed for a plugin.
func TestPluginDeclaredTLSName(t *testing.T) {
	const name = "local.signet.test"
	t.Run("not configured", func(t *testing.T) {
		a := startTLSNameAgent(t, tlsNameSetup{})
		addr := listenerAddr(t, a, "tlsname", "https")
		a.waitLog("the configuration does not list", 10*time.Second)
		assert.Contains(t, a.log.String(), `names: [`+name+`]`, "no configuration snippet in the log")
		ca, _ := agentCA(t, a)
		assert.Equal(t, []string{"localhost"}, ca.PermittedDNSDomains)
		pool := x509.NewCertPool()
		pool.AddCert(ca)

		// localhost works, the declared name fails the name check.
		resp, err := httpsTo(pool, addr).Get("https://localhost/")
		require.NoError(t, err)
		resp.Body.Close()
		_, err = httpsTo(pool, addr).Get("https://" + name + "/")
		var hostErr x509.HostnameError
		assert.ErrorAs(t, err, &hostErr)
	})
	t.Run("configured", func(t *testing.T) {
		a := startTLSNameAgent(t, tlsNameSetup{ListenNames: []string{name}})
		addr := listenerAddr(t, a, "tlsname", "https")
		ca, _ := agentCA(t, a)
		assert.Equal(t, []string{name, "localhost"}, ca.PermittedDNSDomains)
		assert.NotContains(t, a.log.String(), "run `signet trust install` again")
		pool := x509.NewCertPool()
		pool.AddCert(ca)

		// An HTTPS request to https://local.signet.test/ (dialled to the
		// plugin's loopback address) verifies against the CA file on disk.
		resp, err := httpsTo(pool, addr).Get("https://" + name + "/")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Contains(t, string(body), "hello from "+name)
		require.NotEmpty(t, resp.TLS.PeerCertificates)
		assert.ElementsMatch(t, []string{"localhost", name}, resp.TLS.PeerCertificates[0].DNSNames)
		// A name nobody configured is still refused by the constraints.
		_, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "other.signet.test"})
		assert.Error(t, err, "handshake for an unconfigured name succeeded")
	})
}

// storeTrusted returns the TRUSTED column of `signet trust status` for the
// store whose name starts with prefix.
func storeTrusted(t *testing.T, status, prefix string) string {
	t.Helper()
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			if i := strings.Index(rest, "  "); i >= 0 {
				rest = rest[i:]
			}
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	t.Fatalf("no store %q in status:\n%s", prefix, status)
	return ""
}

// TestTrustInstallSystemStore is the issue's trust test: `signet trust
// status` before and after `install`, and a separate Go process that
// trusts only the system store connects to the example plugin's HTTPS
// listener after `install` and fails again after `uninstall`. It needs
// root (the Debian system store) and leaves the machine as found: its own
// CA file name in /usr/local/share/ca-certificates, NSS databases in the
// agent's temporary HOME, uninstall in Cleanup.
func TestTrustInstallSystemStore(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the system trust store test needs root (it writes /usr/local/share/ca-certificates and runs update-ca-certificates)")
	}
	sys, err := trust.DetectSystem()
	if err != nil || sys.Layout != "Debian" {
		t.Skipf("no Debian system store here (%v)", err)
	}
	client := buildOnce(t, "sysclient", "./testdata/sysclient")
	a := startAgent(t, examplePlugin())
	url := "https://" + exampleAddr(t, a.plugin("example")) + "/keys"
	cfg := filepath.Join(a.dir, "config.yaml")
	file := fmt.Sprintf("signet-e2e-%d.crt", os.Getpid())

	signet := func(args ...string) string {
		t.Helper()
		args = append(args, "--config", cfg, "--system-file", file)
		cmd := exec.Command(filepath.Join(binDir, "signet"), args...)
		cmd.Env = append(os.Environ(), "HOME="+a.dir) // NSS databases in the temporary home
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		require.NoError(t, cmd.Run(), "signet %v\n%s%s", args, so.String(), se.String())
		return so.String()
	}
	// dial runs the system-store-only client in its own process.
	dial := func() (string, bool) {
		var env []string
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "SSL_CERT_FILE=") && !strings.HasPrefix(e, "SSL_CERT_DIR=") {
				env = append(env, e)
			}
		}
		cmd := exec.Command(client, url)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err == nil
	}

	out := signet("trust", "status")
	require.Equal(t, "no", storeTrusted(t, out, "system (Debian)"), "fresh status:\n%s", out)
	require.Equal(t, "no", storeTrusted(t, out, "Chromium/Chrome NSS"), "fresh status:\n%s", out)
	msg, ok := dial()
	require.False(t, ok, "client connected before install: %s", msg)
	require.Contains(t, msg, "certificate")

	anchor := filepath.Join(sys.AnchorDir, file)
	t.Cleanup(func() {
		signet("trust", "uninstall")
		_, err := os.Stat(anchor)
		assert.ErrorIs(t, err, os.ErrNotExist, "cleanup left %s", anchor)
		// No symlink update-ca-certificates made for the file is left.
		entries, _ := os.ReadDir(sys.LinkDir)
		for _, e := range entries {
			p := filepath.Join(sys.LinkDir, e.Name())
			if target, err := os.Readlink(p); err == nil {
				assert.False(t, target == anchor || strings.TrimSuffix(target, ".pem")+".crt" == file, "cleanup left the link %s -> %s", p, target)
			}
		}
	})
	out = signet("trust", "install")
	require.Contains(t, out, "installed the local CA in system (Debian)", "install")
	out = signet("trust", "status")
	require.Equal(t, "yes", storeTrusted(t, out, "system (Debian)"), "status after install:\n%s", out)
	require.Equal(t, "yes", storeTrusted(t, out, "Chromium/Chrome NSS"), "status after install:\n%s", out)
	msg, ok = dial()
	require.True(t, ok, "client trusting the system store could not connect after install: %s", msg)
	require.Contains(t, msg, "status 200")

	signet("trust", "uninstall")
	out = signet("trust", "status")
	require.Equal(t, "no", storeTrusted(t, out, "system (Debian)"), "status after uninstall:\n%s", out)
	msg, ok = dial()
	assert.False(t, ok, "client still connects after uninstall: %s", msg)
}
