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

// runInProcess runs the CLI in this process with args.
func runInProcess(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var so, se bytes.Buffer
	code := Run(context.Background(), &App{Stdout: &so, Stderr: &se}, args)
	return code, so.String(), se.String()
}

// xdgHome points the XDG data and config homes at fresh directories.
func xdgHome(t *testing.T) (data, config string) {
	t.Helper()
	data, config = t.TempDir(), t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	t.Setenv("XDG_CONFIG_HOME", config)
	t.Setenv("XDG_CURRENT_DESKTOP", "")
	t.Setenv("DE", "")
	return data, config
}

func TestInstallHandlersPrint(t *testing.T) {
	code, out, errOut := runInProcess(t, "install-handlers", "--print", "--exec", "/usr/bin/signet")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "[Desktop Entry]\n")
	assert.Contains(t, out, "\nExec=/usr/bin/signet open %u\n")
	assert.Contains(t, out, "\nMimeType=x-scheme-handler/cryptoarm;\n")
	assert.Contains(t, out, "\nType=Application\n")

	code, out, _ = runInProcess(t, "install-handlers", "--print", "--exec", `/opt/my apps/$ig"net%`)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "\nExec=\"/opt/my apps/\\\\$ig\\\\\"net%%\" open %u\n", "quoted per the Desktop Entry Specification")

	code, _, errOut = runInProcess(t, "install-handlers", "--print", "--exec", "signet")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "not absolute")
	code, _, errOut = runInProcess(t, "install-handlers", "--print", "--exec", "/usr/bin/sig\nnet")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "control characters")
}

func TestInstallHandlersWithXDGMime(t *testing.T) {
	if _, err := exec.LookPath("xdg-mime"); err != nil {
		t.Fatal("xdg-mime is not installed (package xdg-utils)")
	}
	data, config := xdgHome(t)
	code, out, errOut := runInProcess(t, "install-handlers", "--exec", "/usr/bin/signet")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "default handler of cryptoarm:// links")
	entry, err := os.ReadFile(filepath.Join(data, "applications", HandlerDesktopID))
	require.NoError(t, err)
	assert.Contains(t, string(entry), "Exec=/usr/bin/signet open %u")

	q, err := exec.Command("xdg-mime", "query", "default", "x-scheme-handler/cryptoarm").Output()
	require.NoError(t, err)
	assert.Equal(t, HandlerDesktopID, strings.TrimSpace(string(q)))

	list := filepath.Join(config, "mimeapps.list")
	// Another handler of another scheme stays.
	f, err := os.OpenFile(list, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("x-scheme-handler/mailto=thunderbird.desktop;\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	code, out, errOut = runInProcess(t, "uninstall-handlers")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "removed ")
	assert.NoFileExists(t, filepath.Join(data, "applications", HandlerDesktopID))
	after, err := os.ReadFile(list)
	require.NoError(t, err)
	assert.NotContains(t, string(after), "cryptoarm")
	assert.Contains(t, string(after), "x-scheme-handler/mailto=thunderbird.desktop;")

	code, out, _ = runInProcess(t, "uninstall-handlers")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "was not installed")
}

func TestInstallHandlersWithoutXDGMime(t *testing.T) {
	data, config := xdgHome(t)
	t.Setenv("PATH", t.TempDir())
	code, out, errOut := runInProcess(t, "install-handlers", "--exec", "/usr/bin/signet")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "xdg-mime not found")
	assert.Contains(t, out, "xdg-mime default "+HandlerDesktopID+" x-scheme-handler/cryptoarm")
	assert.FileExists(t, filepath.Join(data, "applications", HandlerDesktopID))
	assert.NoFileExists(t, filepath.Join(config, "mimeapps.list"))
}

func TestDropAssociationsKeepsOthers(t *testing.T) {
	list := filepath.Join(t.TempDir(), "mimeapps.list")
	require.NoError(t, os.WriteFile(list, []byte("[Default Applications]\nx-scheme-handler/cryptoarm=other.desktop;"+HandlerDesktopID+";\ntext/plain=gedit.desktop;\n[Added Associations]\nx-scheme-handler/cryptoarm="+HandlerDesktopID+";\n"), 0o644))
	changed, err := dropAssociations(list, HandlerDesktopID, handlerSchemes)
	require.NoError(t, err)
	assert.True(t, changed)
	got, err := os.ReadFile(list)
	require.NoError(t, err)
	assert.Equal(t, "[Default Applications]\nx-scheme-handler/cryptoarm=other.desktop;\ntext/plain=gedit.desktop;\n[Added Associations]\n", string(got))
	changed, err = dropAssociations(list, HandlerDesktopID, handlerSchemes)
	require.NoError(t, err)
	assert.False(t, changed)
}
