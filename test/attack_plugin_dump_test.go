package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/signet-agent/signet/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The agent holds decrypted PFX keys and PINs in its memory. Another
// process of the same user — here both run as uid nobody — cannot read
// its memory, environment or descriptors through /proc (the agent is not
// dumpable), and the agent leaves no core file (core size limit 0).
func TestAttackPluginAgentMemoryOfSameUser(t *testing.T) {
	u := nobody(t)
	const secret = "dump-6627rw"
	// A directory tree nobody may use: the agent's binary, configuration,
	// data and socket.
	base, err := os.MkdirTemp("", "signet-dump-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	require.NoError(t, os.Chmod(base, 0o755))
	bin := filepath.Join(base, "signet")
	src, err := os.Open(filepath.Join(binDir, "signet"))
	require.NoError(t, err)
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	src.Close()
	require.NoError(t, err)
	require.NoError(t, dst.Close())
	home := filepath.Join(base, "home")
	require.NoError(t, os.MkdirAll(filepath.Join(home, "run"), 0o700))
	for _, d := range []string{home, filepath.Join(home, "run")} {
		require.NoError(t, os.Chown(d, int(u.UID), int(u.GID)))
	}
	cfgPath := writeConfig(t, home, agentConfig{DataDir: filepath.Join(home, "data"), PluginDir: filepath.Join(home, "plugins")})
	require.NoError(t, os.Chown(cfgPath, int(u.UID), int(u.GID)))

	a := &agent{t: t, dir: home, socket: filepath.Join(home, "run", "control.sock"), log: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	a.cmd = exec.Command(bin, "serve", "--config", cfgPath, "--socket", a.socket)
	a.cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "XDG_RUNTIME_DIR=" + filepath.Join(home, "run"), "SIGNET_PIN=" + secret}
	a.cmd.Dir = home
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: []uint32{}}}
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	require.NoError(t, a.cmd.Start())
	go func() {
		a.waitErr = a.cmd.Wait()
		close(a.exited)
	}()
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("agent log:\n%s", a.log.String())
		}
	})
	a.waitLog("signet agent ready", 60*time.Second)
	pid := a.cmd.Process.Pid

	// The attacker, same uid as the agent.
	for _, f := range []string{"environ", "mem", "maps"} {
		out, err := asOtherUser(t, u, "head", "-c", "4096", fmt.Sprintf("/proc/%d/%s", pid, f))
		assert.Error(t, err, "an unprivileged process of the agent's user read its /proc/%s", f)
		assert.NotContains(t, string(out), secret)
	}
	out, err := asOtherUser(t, u, "ls", fmt.Sprintf("/proc/%d/fd/", pid))
	assert.Error(t, err, "an unprivileged process of the agent's user listed its descriptors: %s", out)

	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`(?m)^Max core file size\s+0\s+0\s+bytes`), string(limits))
}
