package serve

import (
	"fmt"
	"reflect"

	"github.com/signet-agent/signet/agent/config"
)

// reload reads the configuration file again and puts what can change
// while the agent runs into force: the policy (origin allow and deny
// lists, unattended rules, PIN sources). Listeners, plugins, the key store
// and the local CA keep running as they are; a changed section among those
// is named in the log as needing a restart. An invalid file changes
// nothing. docs/service.md lists what reloads and why the rest does not.
func (a *agent) reload(path string) error {
	cfg, err := loadConfig(path)
	if err != nil {
		return fmt.Errorf("configuration not reloaded, the running one stays: %w", err)
	}
	a.engine.SetPolicy(&cfg.Policy)
	if changed := needsRestart(a.cfg, cfg); len(changed) > 0 {
		a.log.Warn("configuration reloaded, but these sections changed and take effect only after a restart (systemctl --user restart signet)",
			"sections", changed)
	}
	a.log.Info("configuration reloaded", "config", cfg.File, "allow", len(cfg.Policy.Allow), "deny", len(cfg.Policy.Deny),
		"rules", len(cfg.Policy.Unattended.Rules), "pin_sources", len(cfg.Policy.Unattended.PINSources))
	return nil
}

// needsRestart names the sections of next that differ from running and
// that a reload does not apply.
func needsRestart(running, next *config.Config) []string {
	var out []string
	for _, s := range []struct {
		name string
		a, b any
	}{
		{"keystore", running.Keystore, next.Keystore},
		{"data_dir", running.DataDir, next.DataDir},
		{"plugin_dir", running.PluginDir, next.PluginDir},
		{"plugins", running.Plugins, next.Plugins},
		{"tls", running.TLS, next.TLS},
		{"journal", running.Journal, next.Journal},
	} {
		if !reflect.DeepEqual(s.a, s.b) {
			out = append(out, s.name)
		}
	}
	return out
}
