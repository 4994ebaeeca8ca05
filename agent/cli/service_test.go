package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noUserManager points systemctl --user at a session bus and runtime
// directory that do not exist, as in a container or an ssh session
// without a user manager, and the configuration home at a temporary
// directory.
func noUserManager(t *testing.T) (configHome string) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "cfg"))
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(home, "run-missing"))
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(home, "bus-missing"))
	return filepath.Join(home, "cfg")
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), &App{Stdout: &out, Stderr: &errb}, args)
	return code, out.String(), errb.String()
}

// TestServiceInstallWithoutUserManager: install writes the hardened unit
// under $XDG_CONFIG_HOME/systemd/user and, with no user manager to reach,
// says so and what to run instead (exit 0: the unit is there); status says
// the service state is unknown and why; uninstall removes the unit.
func TestServiceInstallWithoutUserManager(t *testing.T) {
	cfgHome := noUserManager(t)
	exe := filepath.Join(t.TempDir(), "my signet") // a space: quoted in ExecStart
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755))
	args := []string{"service", "install", "--exec", exe}
	if _, err := os.Stat(PackagedUnitPath); err == nil {
		args = append(args, "--force")
	}
	code, out, errOut := runCLI(t, args...)
	require.Equal(t, 0, code, "install: %s", errOut)
	unit := filepath.Join(cfgHome, "systemd", "user", UnitName)
	assert.Contains(t, out, "wrote "+unit)
	assert.Contains(t, errOut, "systemctl --user cannot reach your service manager")
	assert.Contains(t, errOut, "systemctl --user daemon-reload && systemctl --user enable --now signet")

	data, err := os.ReadFile(unit)
	require.NoError(t, err)
	text := string(data)
	for _, line := range []string{
		"Type=notify", `ExecStart="` + exe + `" serve`, "ExecReload=/bin/kill -HUP $MAINPID",
		"NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectSystem=strict",
		"ReadWritePaths=%h/.local/share/signet %t", "WantedBy=default.target",
	} {
		assert.Contains(t, strings.Split(text, "\n"), line, "unit line")
	}
	fi, err := os.Stat(unit)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())

	code, out, _ = runCLI(t, "service", "status")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "unit: "+unit)
	assert.Contains(t, out, "service: unknown: systemctl --user cannot reach your service manager")

	code, out, errOut = runCLI(t, "service", "uninstall")
	require.Equal(t, 0, code, "uninstall: %s", errOut)
	assert.Contains(t, out, "removed "+unit)
	assert.NoFileExists(t, unit)
}

// TestServiceUninstallLeavesForeignUnit: a signet.service the person wrote
// by hand is not removed.
func TestServiceUninstallLeavesForeignUnit(t *testing.T) {
	cfgHome := noUserManager(t)
	unit := filepath.Join(cfgHome, "systemd", "user", UnitName)
	require.NoError(t, os.MkdirAll(filepath.Dir(unit), 0o755))
	require.NoError(t, os.WriteFile(unit, []byte("[Service]\nExecStart=/opt/mine\n"), 0o644))
	code, _, errOut := runCLI(t, "service", "uninstall")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "was not written by `signet service install`; left alone")
	assert.FileExists(t, unit)
}

// TestSystemdUnitVerifies: systemd's own checker accepts the unit (no
// unknown directive, no bad value).
func TestSystemdUnitVerifies(t *testing.T) {
	_, err := exec.LookPath("systemd-analyze")
	require.NoError(t, err, "systemd-analyze (Debian package systemd)")
	dir := t.TempDir()
	path := filepath.Join(dir, UnitName)
	require.NoError(t, os.WriteFile(path, []byte(SystemdUnit("/bin/true")), 0o644))
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", path).CombinedOutput()
	assert.NoError(t, err, "%s", out)
	assert.Empty(t, strings.TrimSpace(string(out)))
}
