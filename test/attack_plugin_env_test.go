package e2e

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/internal/wire"
)

// environ reads /proc/<pid>/environ as a map.
func environ(t *testing.T, pid int) (map[string]string, []byte) {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	require.NoError(t, err, "environment of process %d", pid)
	env := map[string]string{}
	for _, kv := range bytes.Split(raw, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			env[k] = v
		}
	}
	return env, raw
}

// The agent holds PINs and passwords in its environment ($SIGNET_PIN,
// $SIGNET_PFX_PASSWORD, the variables of `pin_sources … env:`); a plugin
// reading its own /proc/self/environ (or anyone who may read the plugin's)
// finds none of them: plugins get only an allow-listed environment.
func TestAttackPluginEnvironment(t *testing.T) {
	const (
		cliPIN    = "envpin-5521qx"
		pfxPass   = "envpfx-7734wz"
		sourcePIN = "envsrc-9032kv"
		sourceVar = "ATTACK_TOKEN_PIN"
	)
	a := startAgentWith(t, agentSetup{
		PINSources: []pinSource{{Token: "pkcs11:token=attack-env-none", Env: sourceVar}},
		Env: []string{"SIGNET_PIN=" + cliPIN, "SIGNET_PFX_PASSWORD=" + pfxPass, sourceVar + "=" + sourcePIN,
			"LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TMPDIR=" + os.TempDir(), "ATTACK_UNLISTED=1"},
	})
	// The agent itself has them (root may read it, dumpable or not).
	agentEnv, _ := environ(t, a.cmd.Process.Pid)
	require.Equal(t, cliPIN, agentEnv["SIGNET_PIN"])
	require.Equal(t, sourcePIN, agentEnv[sourceVar])

	var running []host.PluginStatus
	for _, p := range a.plugins() {
		if p.State == host.Running && p.PID > 0 {
			running = append(running, p)
		}
	}
	require.NotEmpty(t, running, "no running plugin")
	for _, p := range running {
		env, raw := environ(t, p.PID)
		for _, secret := range []string{cliPIN, pfxPass, sourcePIN} {
			assert.NotContains(t, string(raw), secret, "plugin %s sees a PIN or password", p.Name)
		}
		for k := range env {
			if k != wire.EnvLifeline && k != wire.Handshake.MagicCookieKey {
				assert.False(t, strings.HasPrefix(k, "SIGNET_"), "plugin %s sees %s", p.Name, k)
			}
		}
		for _, k := range []string{sourceVar, "SOFTHSM2_CONF", "ATTACK_UNLISTED"} {
			assert.NotContains(t, env, k, "plugin %s sees %s", p.Name, k)
		}
		for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "XDG_RUNTIME_DIR"} {
			assert.Equal(t, agentEnv[k], env[k], "plugin %s: %s", p.Name, k)
		}
		for _, k := range []string{wire.EnvLifeline, wire.Handshake.MagicCookieKey, "PLUGIN_MIN_PORT", "PLUGIN_MAX_PORT", "PLUGIN_PROTOCOL_VERSIONS", "PLUGIN_CLIENT_CERT"} {
			assert.Contains(t, env, k, "plugin %s lacks what go-plugin and the SDK need", p.Name)
		}
	}
}

// A normal stop of the agent stops its plugins gracefully: the log says
// so and holds no "signal: killed" error for them.
func TestAttackPluginStopIsClean(t *testing.T) {
	a := startAgent(t, examplePlugin())
	pid := a.plugin("example").PID
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-a.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not exit after SIGTERM")
	}
	log := a.log.String()
	assert.Contains(t, log, "plugin stopped")
	assert.NotContains(t, log, "signal: killed")
	assert.NotContains(t, log, "failed to exit gracefully")
	assert.NotContains(t, log, "level=ERROR")
	assert.False(t, pidAlive(pid), "plugin %d survived", pid)
}
