package serve

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/stretchr/testify/require"
)

// TestWatchTokensReloadsDashboard: a PFX file (a real one, made by openssl)
// copied into a watched directory and removed again reaches the dashboard
// as two change notifications, and stop ends the watcher.
func TestWatchTokensReloadsDashboard(t *testing.T) {
	dir := t.TempDir()
	b, err := pfx.Open(pfx.Config{Dirs: []string{dir}, PollInterval: 5 * time.Millisecond})
	require.NoError(t, err)
	store := openLazy(func() *hsm.Store { return hsm.NewStore(b) })
	defer store.Close()
	changed := make(chan struct{}, 16)
	stop := watchTokens(store, func() { changed <- struct{}{} }, slog.Default())

	work := t.TempDir()
	key, crt, p12 := filepath.Join(work, "k.pem"), filepath.Join(work, "c.pem"), filepath.Join(work, "k.pfx")
	for _, args := range [][]string{
		{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-subj", "/CN=watch", "-days", "1"},
		{"pkcs12", "-export", "-inkey", key, "-in", crt, "-out", p12, "-passout", "pass:watch-pass"},
	} {
		out, err := exec.Command("openssl", args...).CombinedOutput()
		require.NoError(t, err, "openssl %v\n%s", args, out)
	}
	data, err := os.ReadFile(p12)
	require.NoError(t, err)
	// The watcher starts asynchronously (after the store opened): toggle a
	// first file until a change arrives, so it is certainly watching.
	first := filepath.Join(dir, "first.pfx")
	for present := false; ; present = !present {
		if present {
			os.Remove(first)
		} else {
			require.NoError(t, os.WriteFile(first, data, 0o600))
		}
		select {
		case <-changed:
		case <-time.After(50 * time.Millisecond):
			continue
		}
		break
	}
	for len(changed) > 0 {
		<-changed
	}
	dst := filepath.Join(dir, "inserted.pfx")
	require.NoError(t, os.WriteFile(dst, data, 0o600))
	<-changed // inserted
	require.NoError(t, os.Remove(dst))
	<-changed // removed
	stop()
}

// TestPluginRows: the dashboard's plugin rows summarise the statuses.
func TestPluginRows(t *testing.T) {
	rows := pluginRows([]host.PluginStatus{
		{Name: "eimzo", State: host.Running, Version: "1.2", PID: 42, Listeners: []host.Listener{{Name: "wss", Addr: "127.0.0.1:64443"}}},
		{Name: "cipher", State: host.Restarting, Restarts: 3, LastError: "exit status 1"},
	})
	require.Len(t, rows, 2, "rows %+v", rows)
	require.Equal(t, "eimzo", rows[0].Name, "rows[0]")
	require.Equal(t, "running", rows[0].State, "rows[0]")
	require.Equal(t, "version 1.2, pid 42, wss 127.0.0.1:64443", rows[0].Detail, "rows[0]")
	require.Equal(t, "3 restarts, last error: exit status 1", rows[1].Detail, "rows[1]")
}
