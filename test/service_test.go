package e2e

import (
	"context"
	"crypto/sha256"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// notifySocket listens on a unix datagram socket as systemd does for a
// Type=notify service; next returns the next message.
type notifySocket struct {
	t    *testing.T
	conn *net.UnixConn
	path string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &notifySocket{t: t, conn: c, path: path}
}

func (n *notifySocket) next(timeout time.Duration) string {
	n.t.Helper()
	require.NoError(n.t, n.conn.SetReadDeadline(time.Now().Add(timeout)))
	buf := make([]byte, 4096)
	k, err := n.conn.Read(buf)
	require.NoError(n.t, err, "no message on NOTIFY_SOCKET")
	return string(buf[:k])
}

// TestServiceNotifyReloadStop runs `signet serve` as systemd runs a
// Type=notify user service: READY=1 arrives on NOTIFY_SOCKET once it
// serves; SIGHUP after the administrator denied an origin reloads the
// policy (RELOADING=1, then READY=1) while a kept-open connection to the
// plugin's listener goes on working, and the next signature for that
// origin is refused on the same connection; SIGTERM sends STOPPING=1 and
// the agent exits with status 0.
func TestServiceNotifyReloadStop(t *testing.T) {
	notify := listenNotify(t)
	dir := t.TempDir()
	cfg := newAgentConfig(dir)
	cfg.Plugins = []pluginConf{{Name: "example", Path: filepath.Join(binDir, "signet-plugin-example"), Listen: []listenConf{anyPort}}}
	pinFile := filepath.Join(dir, "pin")
	require.NoError(t, os.WriteFile(pinFile, []byte(softhsmtest.DefaultUserPIN+"\n"), 0o600))
	cfg.Policy = policyConf{Unattended: unattendedConf{Rules: []ruleConf{allowAll},
		PINSources: []pinSource{{Token: "pkcs11:token=" + tokenLabel, File: pinFile}}}}
	cfgPath := writeConfig(t, dir, cfg)
	a := launchAgent(t, dir, cfgPath, []string{"NOTIFY_SOCKET=" + notify.path})

	ready := notify.next(10 * time.Second)
	assert.Contains(t, ready, "READY=1\n")
	assert.Contains(t, ready, "MAINPID=")
	assert.Contains(t, ready, "signet trust install", "first run: the status tells how to trust the local CA")

	// One kept-open connection to the plugin's listener for the whole test.
	c := a.client()
	tr := c.Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives, tr.MaxConnsPerHost = false, 1
	var dials atomic.Int32
	dialer := &net.Dialer{}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return dialer.DialContext(ctx, network, addr)
	}
	c.Transport = tr
	addr := exampleAddr(t, a.plugin("example"))
	key := findKey(t, listKeys(t, c, addr, nil), "pkcs11:", softhsmtest.KeyECDSA)
	const portal = "https://portal.example"
	sum := sha256.Sum256([]byte("before reload"))
	status, sig, body := signAs(t, c, addr, portal, key, sum[:], "before-reload", nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	require.NotEmpty(t, sig)

	cfg.Policy.Deny = []string{portal}
	writeConfig(t, dir, cfg)
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGHUP))
	assert.True(t, strings.HasPrefix(notify.next(10*time.Second), "RELOADING=1\nMONOTONIC_USEC="))
	assert.Contains(t, notify.next(10*time.Second), "READY=1\n")
	a.waitLog("configuration reloaded", 10*time.Second)
	assert.NotContains(t, a.log.String(), "take effect only after a restart", "a policy change needs no restart")

	sum = sha256.Sum256([]byte("after reload"))
	status, _, body = signAs(t, c, addr, portal, key, sum[:], "after-reload", nil)
	assert.Equal(t, http.StatusForbidden, status, "the reloaded deny list was not applied: %s", body)
	listKeys(t, c, addr, nil) // the listener still answers
	assert.Equal(t, int32(1), dials.Load(), "the kept-open connection was dropped by the reload")

	// A broken file changes nothing and does not stop the agent.
	require.NoError(t, os.WriteFile(cfgPath, []byte("plugins: [\n"), 0o600))
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGHUP))
	notify.next(10 * time.Second) // RELOADING=1
	notify.next(10 * time.Second) // READY=1
	a.waitLog("configuration not reloaded, the running one stays", 10*time.Second)
	status, _, _ = signAs(t, c, addr, portal, key, sum[:], "after-bad-reload", nil)
	assert.Equal(t, http.StatusForbidden, status, "the last good policy stays")

	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	assert.Contains(t, notify.next(20*time.Second), "STOPPING=1\n")
	select {
	case <-a.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not exit after SIGTERM")
	}
	assert.NoError(t, a.waitErr, "exit status after SIGTERM")
}
