package host

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/signet-agent/signet/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeExec writes an executable shell script that prints what.
func writeExec(t *testing.T, path, what string) []byte {
	t.Helper()
	body := []byte("#!/bin/sh\necho " + what + "\n")
	require.NoError(t, os.WriteFile(path, body, 0o755))
	require.NoError(t, os.Chmod(path, 0o755)) // whatever the umask
	return body
}

// lifeline returns the read end of a pipe standing in for the lifeline.
func lifeline(t *testing.T) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { r.Close(); w.Close() })
	return r
}

// A pinned plugin is replaced on disk after the host checked its SHA-256
// and before it is executed: the process that runs is the one whose bytes
// were hashed.
func TestAttackPluginPinnedSwappedBeforeExec(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "signet-plugin-swap")
	good := writeExec(t, path, "hashed-bytes")
	sum := sha256.Sum256(good)

	cmd, cleanup, err := pluginCommand(PluginSpec{Name: "swap", Path: path, SHA256: hex.EncodeToString(sum[:])}, nil, lifeline(t))
	require.NoError(t, err)
	defer cleanup()

	// The attacker swaps the file (rename over it, as an installer would).
	evil := filepath.Join(dir, "evil")
	writeExec(t, evil, "swapped-bytes")
	require.NoError(t, os.Rename(evil, path))

	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), "%s", out.String())
	assert.Equal(t, "hashed-bytes\n", out.String(), "the executed bytes are the hashed ones")
	assert.Equal(t, path, cmd.Args[0], "argv[0] is the configured path")

	// The swapped file itself is refused by the pin.
	_, _, err = pluginCommand(PluginSpec{Name: "swap", Path: path, SHA256: hex.EncodeToString(sum[:])}, nil, lifeline(t))
	require.ErrorIs(t, err, ErrPinMismatch)
	var perm permanentError
	assert.ErrorAs(t, err, &perm, "a pin mismatch is not retried")
	assert.Contains(t, err.Error(), path)
}

// A plugin file or directory that another user could change is refused,
// with the file and the reason in the error.
func TestAttackPluginUntrustedExecutable(t *testing.T) {
	require.Equal(t, 0, os.Geteuid(), "this test chowns files to nobody, which needs root (CI runs as root)")
	nob, err := user.Lookup("nobody")
	require.NoError(t, err)
	nobodyUID, err := strconv.Atoi(nob.Uid)
	require.NoError(t, err)

	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, dir, file string)
		reason string // "" = accepted
	}{
		{"protected", func(*testing.T, string, string) {}, ""},
		{"group-writable file", func(t *testing.T, _, f string) { require.NoError(t, os.Chmod(f, 0o775)) }, "writable by group or others (mode 0775)"},
		{"world-writable file", func(t *testing.T, _, f string) { require.NoError(t, os.Chmod(f, 0o757)) }, "writable by group or others (mode 0757)"},
		{"file of another user", func(t *testing.T, _, f string) { require.NoError(t, os.Chown(f, nobodyUID, -1)) }, "owned by uid " + nob.Uid},
		{"world-writable directory", func(t *testing.T, d, _ string) { require.NoError(t, os.Chmod(d, 0o777)) }, "directory"},
		{"directory of another user", func(t *testing.T, d, _ string) { require.NoError(t, os.Chown(d, nobodyUID, -1)) }, "owned by uid " + nob.Uid},
		{"symlink into a world-writable directory", func(t *testing.T, _, f string) {
			open := filepath.Join(t.TempDir(), "open")
			require.NoError(t, os.Mkdir(open, 0o777))
			require.NoError(t, os.Chmod(open, 0o777))
			target := filepath.Join(open, "real")
			writeExec(t, target, "x")
			require.NoError(t, os.Remove(f))
			require.NoError(t, os.Symlink(target, f))
		}, "directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "plugins")
			require.NoError(t, os.Mkdir(dir, 0o755))
			file := filepath.Join(dir, "signet-plugin-x")
			writeExec(t, file, "x")
			tc.setup(t, dir, file)
			_, cleanup, err := pluginCommand(PluginSpec{Name: "x", Path: file}, nil, lifeline(t))
			if tc.reason == "" {
				require.NoError(t, err)
				cleanup()
				return
			}
			require.ErrorIs(t, err, ErrUntrustedPlugin)
			assert.Contains(t, err.Error(), tc.reason)
			assert.Contains(t, err.Error(), "plugin x refused")
			var perm permanentError
			assert.ErrorAs(t, err, &perm, "a refused plugin is not retried")
		})
	}
}

// The plugin's environment is the allow-list plus the lifeline, whatever
// the agent's holds.
func TestPluginEnvironmentAllowList(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "signet-plugin-env")
	writeExec(t, path, "x")
	agentEnv := []string{
		"PATH=/usr/bin", "HOME=/home/a", "TMPDIR=/tmp/a", "LANG=C.UTF-8", "LC_ALL=C", "XDG_RUNTIME_DIR=/run/a", "TZ=UTC",
		"SIGNET_PIN=1111", "SIGNET_PFX_PASSWORD=pw", "MY_TOKEN_PIN=2222", "SOFTHSM2_CONF=/etc/softhsm2.conf", "PATHX=1", "NOEQUALS",
	}
	cmd, cleanup, err := pluginCommand(PluginSpec{Name: "env", Path: path}, agentEnv, lifeline(t))
	require.NoError(t, err)
	defer cleanup()
	assert.ElementsMatch(t, []string{
		"PATH=/usr/bin", "HOME=/home/a", "TMPDIR=/tmp/a", "LANG=C.UTF-8", "LC_ALL=C", "XDG_RUNTIME_DIR=/run/a", "TZ=UTC",
		wire.EnvLifeline + "=3",
	}, cmd.Env)
}
