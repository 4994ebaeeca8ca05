package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOpenAndTrustCommands runs the real binary: `signet open` starts the
// agent when none runs and hands it the URL, a second `signet serve` is
// refused, and `signet trust` installs into and removes from an NSS
// database in a temporary home.
func TestOpenAndTrustCommands(t *testing.T) {
	c := buildCLI(t)
	_, cfg, sock := agentHome(t, c)

	t.Run("open", func(t *testing.T) {
		t.Cleanup(func() { stopAgent(t, sock) })
		r := c.run(nil, "open", "--config", cfg, "cryptoarm://sign?job=1")
		require.Equal(t, 1, r.code, "first open: exit code\n%s", r.stderr)
		require.Contains(t, r.stderr, "started the agent", "first open")
		require.Contains(t, r.stderr, "no plugin handles", "first open")
		fi, err := os.Stat(sock)
		require.NoError(t, err, "control socket")
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "control socket mode")
		pid := agentPID(t, sock)
		r = c.run(nil, "open", "cryptoarm://sign?job=2")
		assert.NotContains(t, r.stderr, "started the agent", "second open (exit %d)", r.code)
		assert.Contains(t, r.stderr, "no plugin handles", "second open (exit %d)", r.code)
		r = c.run(nil, "serve", "--config", cfg)
		assert.Equal(t, 1, r.code, "second serve: exit code\n%s", r.stderr)
		assert.Contains(t, r.stderr, "already running (pid "+strconv.Itoa(pid), "second serve")
		assert.Contains(t, c.ok(nil, "plugins"), "no plugins", "plugins")
		r = c.run(nil, "open", "not a url")
		assert.Equal(t, 2, r.code, "open of a non-URL: exit code\n%s", r.stderr)
	})

	t.Run("trust", func(t *testing.T) {
		out := c.ok(nil, "trust", "status", "--no-system", "--config", cfg)
		// The agent started above created the CA; no store trusts it yet.
		require.Contains(t, out, "SHA-256", "fresh status")
		require.Contains(t, out, "Chromium/Chrome NSS  no", "fresh status")
		require.Contains(t, out, "no NSS database", "fresh status")
		out = c.ok(nil, "trust", "install", "--no-system", "--config", cfg)
		require.Contains(t, out, "installed the local CA in Chromium/Chrome NSS", "install")
		out = c.ok(nil, "trust", "status", "--no-system", "--config", cfg)
		require.Contains(t, out, "SHA-256", "status after install")
		require.Contains(t, out, "Chromium/Chrome NSS  yes", "status after install")
		c.ok(nil, "trust", "uninstall", "--no-system")
		out = c.ok(nil, "trust", "status", "--no-system", "--config", cfg)
		require.Contains(t, out, "not installed", "status after uninstall")
	})
}

func agentPID(t *testing.T, sock string) int {
	t.Helper()
	b, err := os.ReadFile(sock + ".lock")
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err, "lock file %q", b)
	return pid
}

// agentHome gives c a private home (HOME, XDG config, data and runtime
// directories) with a minimal agent config, so the agent a test starts
// through the CLI touches nothing of the user's. It returns the home, the
// config path and the control socket path. The home is short because unix
// socket paths are limited.
func agentHome(t *testing.T, c *cli) (home, cfg, sock string) {
	t.Helper()
	home, err := os.MkdirTemp("", "signetcli")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(home) })
	runDir := filepath.Join(home, "run")
	for _, d := range []string{runDir, filepath.Join(home, "pfx")} {
		require.NoError(t, os.MkdirAll(d, 0o700))
	}
	c.env = []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "cfg"),
		"XDG_DATA_HOME=" + filepath.Join(home, "data"), "XDG_RUNTIME_DIR=" + runDir}
	cfg = filepath.Join(home, "config.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("keystore:\n  pfx_dirs: ["+filepath.Join(home, "pfx")+"]\n"), 0o600))
	return home, cfg, filepath.Join(runDir, "signet", "control.sock")
}

// stopAgent stops the agent started in the background and waits for its
// socket to go away.
func stopAgent(t *testing.T, sock string) {
	b, err := os.ReadFile(sock + ".lock")
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 200; i++ {
		_, serr := os.Lstat(sock)
		if syscall.Kill(pid, 0) != nil || serr != nil { // socket gone: shut down (it may linger as a zombie)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
}
