package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDoctorRunningAgent: against a running agent, `signet doctor` finds
// it and its plugin running, the plugin's fixed port the agent's own, the
// SoftHSM module loading with its token present and not locked, and the
// local CA with its name constraints; the redacted JSON hides the token's
// label.
func TestDoctorRunningAgent(t *testing.T) {
	dir := t.TempDir()
	cfg := newAgentConfig(dir)
	addr := freePort(t)
	cfg.Plugins = []pluginConf{{Name: "example", Path: filepath.Join(binDir, "signet-plugin-example"), Listen: []listenConf{{Bind: addr}}}}
	cfgPath := writeConfig(t, dir, cfg)
	a := launchAgent(t, dir, cfgPath, nil)

	cmd := exec.Command(filepath.Join(binDir, "signet"), "doctor", "--json", "--include-personal", "--config", cfgPath, "--socket", a.socket)
	cmd.Env = append(hsmEnv.Environ(), "HOME="+dir, "XDG_RUNTIME_DIR="+filepath.Join(dir, "run"))
	out, _ := cmd.Output() // exit 1: the CA is not trusted in this test's stores
	var rep struct {
		Redacted bool
		Findings []struct{ Check, Status, Summary, Fix string }
	}
	require.NoError(t, json.Unmarshal(out, &rep), "%s", out)
	want := map[string]string{
		"agent":  "the agent is running with 1 plugins",
		"plugin": "plugin example is running",
		"port":   addr + " is the agent's (plugin example)",
		"pkcs11": "PKCS#11 module " + hsmEnv.Module + " loads",
		"token":  `token "` + tokenLabel + `"`,
		"ca":     "local CA present",
	}
	for check, s := range want {
		found := false
		for _, f := range rep.Findings {
			if f.Check == check && strings.Contains(f.Summary, s) {
				found = true
				assert.Equal(t, "ok", f.Status, "%s: %s", check, f.Summary)
			}
		}
		assert.True(t, found, "no %s finding %q in\n%s", check, s, out)
	}

	cmd = exec.Command(filepath.Join(binDir, "signet"), "doctor", "--json", "--config", cfgPath, "--socket", a.socket)
	cmd.Env = append(hsmEnv.Environ(), "HOME="+dir, "XDG_RUNTIME_DIR="+filepath.Join(dir, "run"))
	out, _ = cmd.Output()
	assert.NotContains(t, string(out), `token \"`+tokenLabel+`\"`, "the token label in the redacted report")
	assert.Contains(t, string(out), `"redacted": true`)
}
