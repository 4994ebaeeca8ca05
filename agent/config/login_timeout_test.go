package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoginIdleTimeoutDefault: a login is forgotten after 15 minutes idle
// unless the file says otherwise; only an explicit 0 keeps it forever.
func TestLoginIdleTimeoutDefault(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Duration
	}{
		{"no file", "", DefaultLoginIdleTimeout},
		{"no keystore section", "data_dir: /tmp/x\n", DefaultLoginIdleTimeout},
		{"keystore without the key", "keystore:\n  max_sessions: 2\n", DefaultLoginIdleTimeout},
		{"empty value", "keystore:\n  login_idle_timeout:\n", DefaultLoginIdleTimeout},
		{"explicit value", "keystore:\n  login_idle_timeout: 90s\n", 90 * time.Second},
		{"explicit zero keeps logins", "keystore:\n  login_idle_timeout: 0s\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse("/etc/signet/config.yaml", []byte(tt.in), fakeDNS)
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg.Keystore.LoginIdleTimeout)
		})
	}
	assert.Equal(t, 15*time.Minute, DefaultLoginIdleTimeout)

	cfg, err := Parse("", nil) // what Load returns when the default file is missing
	require.NoError(t, err)
	assert.Equal(t, DefaultLoginIdleTimeout, cfg.Keystore.LoginIdleTimeout)
}
