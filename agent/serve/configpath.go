package serve

import (
	"errors"
	"fmt"
	"os"

	"github.com/signet-agent/signet/agent/config"
)

// SystemConfigPath is the configuration the package installs (its plugins
// in /usr/lib/signet/plugins, pinned by SHA-256). A person's own file
// (config.DefaultPath) takes its place when it exists.
const SystemConfigPath = "/etc/signet/config.yaml"

// ConfigPath returns the configuration file the agent reads: explicit when
// set; else the person's own file when it exists; else system when it
// exists; else "" (config.Load's built-in defaults).
func ConfigPath(explicit, system string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	own, err := config.DefaultPath()
	if err != nil {
		return "", err
	}
	for _, p := range []string{own, system} {
		if p == "" {
			continue
		}
		switch _, err := os.Stat(p); {
		case err == nil:
			return p, nil
		case !errors.Is(err, os.ErrNotExist):
			return "", fmt.Errorf("configuration %s: %w", p, err)
		}
	}
	return "", nil
}
