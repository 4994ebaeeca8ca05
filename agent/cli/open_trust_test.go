package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
		if r.code != 1 || !strings.Contains(r.stderr, "started the agent") || !strings.Contains(r.stderr, "no plugin handles") {
			t.Fatalf("first open: exit %d\n%s", r.code, r.stderr)
		}
		fi, err := os.Stat(sock)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("control socket: %v %v", fi, err)
		}
		pid := agentPID(t, sock)
		r = c.run(nil, "open", "cryptoarm://sign?job=2")
		if strings.Contains(r.stderr, "started the agent") || !strings.Contains(r.stderr, "no plugin handles") {
			t.Errorf("second open: exit %d\n%s", r.code, r.stderr)
		}
		r = c.run(nil, "serve", "--config", cfg)
		if r.code != 1 || !strings.Contains(r.stderr, "already running (pid "+strconv.Itoa(pid)) {
			t.Errorf("second serve: exit %d\n%s", r.code, r.stderr)
		}
		if out := c.ok(nil, "plugins"); !strings.Contains(out, "no plugins") {
			t.Errorf("plugins: %q", out)
		}
		r = c.run(nil, "open", "not a url")
		if r.code != 2 {
			t.Errorf("open of a non-URL: exit %d %s", r.code, r.stderr)
		}
	})

	t.Run("trust", func(t *testing.T) {
		out := c.ok(nil, "trust", "status", "--no-system", "--config", cfg)
		// The agent started above created the CA; no store trusts it yet.
		if !strings.Contains(out, "SHA-256") || !strings.Contains(out, "Chromium/Chrome NSS  no") || !strings.Contains(out, "no NSS database") {
			t.Fatalf("fresh status:\n%s", out)
		}
		out = c.ok(nil, "trust", "install", "--no-system", "--config", cfg)
		if !strings.Contains(out, "installed the local CA in Chromium/Chrome NSS") {
			t.Fatalf("install:\n%s", out)
		}
		out = c.ok(nil, "trust", "status", "--no-system", "--config", cfg)
		if !strings.Contains(out, "SHA-256") || !strings.Contains(out, "Chromium/Chrome NSS  yes") {
			t.Fatalf("status after install:\n%s", out)
		}
		c.ok(nil, "trust", "uninstall", "--no-system")
		out = c.ok(nil, "trust", "status", "--no-system", "--config", cfg)
		if !strings.Contains(out, "not installed") {
			t.Fatalf("status after uninstall:\n%s", out)
		}
	})
}

func agentPID(t *testing.T, sock string) int {
	t.Helper()
	b, err := os.ReadFile(sock + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("lock file %q: %v", b, err)
	}
	return pid
}

// stopAgent stops the agent started in the background and waits for its
// socket to go away.
// agentHome gives c a private home (HOME, XDG config, data and runtime
// directories) with a minimal agent config, so the agent a test starts
// through the CLI touches nothing of the user's. It returns the home, the
// config path and the control socket path. The home is short because unix
// socket paths are limited.
func agentHome(t *testing.T, c *cli) (home, cfg, sock string) {
	t.Helper()
	home, err := os.MkdirTemp("", "signetcli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	runDir := filepath.Join(home, "run")
	for _, d := range []string{runDir, filepath.Join(home, "pfx")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	c.env = []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "cfg"),
		"XDG_DATA_HOME=" + filepath.Join(home, "data"), "XDG_RUNTIME_DIR=" + runDir}
	cfg = filepath.Join(home, "config.yaml")
	if err := os.WriteFile(cfg, []byte("keystore:\n  pfx_dirs: ["+filepath.Join(home, "pfx")+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return home, cfg, filepath.Join(runDir, "signet", "control.sock")
}

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
