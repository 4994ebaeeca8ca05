package e2e

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/host"
)

// copyPlugin copies the example plugin to path with mode perm.
func copyPlugin(t *testing.T, path string, perm os.FileMode) {
	t.Helper()
	src, err := os.Open(filepath.Join(binDir, "signet-plugin-example"))
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o700)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
	require.NoError(t, os.Chmod(path, perm)) // whatever the umask
}

// startWithPluginDir starts the agent with plugin_dir set to pluginDir,
// the plugins there discovered, and the one named listen (if any) on
// 127.0.0.1:0.
func startWithPluginDir(t *testing.T, dir, pluginDir, listen string) *agent {
	t.Helper()
	cfg := newAgentConfig(dir)
	cfg.PluginDir = pluginDir
	if listen != "" {
		cfg.Plugins = []pluginConf{{Name: listen, Listen: []listenConf{anyPort}}}
	}
	cfg.Policy.Unattended.Rules = []ruleConf{allowAll}
	cfgPath := writeConfig(t, dir, cfg)
	return launchAgent(t, dir, cfgPath, nil)
}

// Plugins dropped into the plugin directory that someone other than the
// agent's user or root could have written — a group- or world-writable
// file, a file owned by another user — are refused, each with its file
// and the reason; a protected one next to them runs.
func TestAttackPluginUnprotectedFileInPluginDir(t *testing.T) {
	u := nobody(t)
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	require.NoError(t, os.Mkdir(plugins, 0o755))
	copyPlugin(t, filepath.Join(plugins, host.PluginPrefix+"good"), 0o755)
	copyPlugin(t, filepath.Join(plugins, host.PluginPrefix+"groupw"), 0o775)
	copyPlugin(t, filepath.Join(plugins, host.PluginPrefix+"worldw"), 0o757)
	foreign := filepath.Join(plugins, host.PluginPrefix+"foreign")
	copyPlugin(t, foreign, 0o755)
	require.NoError(t, os.Chown(foreign, int(u.UID), int(u.GID)))

	a := startWithPluginDir(t, dir, plugins, "good")
	for name, reason := range map[string]string{
		"groupw":  "writable by group or others (mode 0775)",
		"worldw":  "writable by group or others (mode 0757)",
		"foreign": fmt.Sprintf("owned by uid %d", u.UID),
	} {
		p := a.plugin(name)
		assert.Equal(t, host.Failed, p.State, "plugin %s", name)
		assert.Zero(t, p.PID, "plugin %s was started", name)
		assert.Contains(t, p.LastError, filepath.Join(plugins, host.PluginPrefix+name), "the error names the file")
		assert.Contains(t, p.LastError, reason)
		assert.Contains(t, a.log.String(), reason, "the log gives the reason")
	}
	assert.Equal(t, host.Running, a.plugin("good").State)
}

// A plugin directory others can write is refused as a whole: whoever can
// write it can replace any plugin in it.
func TestAttackPluginWritablePluginDir(t *testing.T) {
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	require.NoError(t, os.Mkdir(plugins, 0o755))
	require.NoError(t, os.Chmod(plugins, 0o777))
	copyPlugin(t, filepath.Join(plugins, host.PluginPrefix+"example"), 0o755)

	a := startWithPluginDir(t, dir, plugins, "example")
	p := a.plugin("example")
	assert.Equal(t, host.Failed, p.State)
	assert.Zero(t, p.PID)
	assert.Contains(t, p.LastError, "plugin directory "+plugins+" is writable by group or others (mode 0777)")
}
