package config

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A PIN source reading a variable that every plugin inherits from the
// agent (PATH, HOME, TMPDIR, LANG, TZ, LC_*, XDG_*) would hand the PIN to
// every plugin: the configuration is refused at load, at the variable's
// FILE:LINE:COL, saying why.
func TestPINSourceEnvInheritedByPluginsRefused(t *testing.T) {
	for _, name := range []string{"LC_TOKEN_PIN", "XDG_PIN", "HOME", "TZ", "LC_ALL"} {
		t.Run(name, func(t *testing.T) {
			in := "policy:\n  unattended:\n    pin_sources:\n      - token: pkcs11:token=A\n        env: " + name + "\n"
			_, err := parse("/etc/signet/config.yaml", []byte(in), fakeDNS)
			require.Error(t, err)
			var ce *Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, "policy.unattended.pin_sources[0].env", ce.Field)
			assert.Equal(t, fmt.Sprintf("/etc/signet/config.yaml:5:14: policy.unattended.pin_sources[0].env: %s would reach every plugin: plugins inherit PATH, HOME, TMPDIR, LANG, TZ, LC_* and XDG_* from the agent; read the PIN from a variable outside these", name), err.Error())
		})
	}
	for _, name := range []string{"SIGNET_CI_PIN", "MY_LC_PIN", "PATHPIN", "lc_pin"} {
		in := "policy:\n  unattended:\n    pin_sources:\n      - token: pkcs11:token=A\n        env: " + name + "\n"
		c, err := parse("c.yaml", []byte(in), fakeDNS)
		if assert.NoError(t, err, name) {
			assert.Equal(t, name, c.Policy.Unattended.PINSources[0].Env)
		}
	}
}
