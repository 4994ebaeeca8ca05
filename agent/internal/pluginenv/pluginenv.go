// Package pluginenv says which of the agent's environment variables a
// plugin process inherits: PATH, HOME, TMPDIR, LANG, TZ, LC_* and XDG_*.
// Everything else (PINs and passwords the agent reads from its
// environment, SOFTHSM2_CONF) stays in the agent. The host filters a
// plugin's environment with it, and the configuration refuses a PIN
// source whose variable a plugin would inherit.
//
//	if pluginenv.Inherited("LC_PIN") {
//		return fmt.Errorf("every plugin would get LC_PIN (plugins inherit %s)", pluginenv.Text())
//	}
package pluginenv

import "strings"

// The variables a plugin inherits, by exact name and by prefix.
var (
	names    = []string{"PATH", "HOME", "TMPDIR", "LANG", "TZ"}
	prefixes = []string{"LC_", "XDG_"}
)

// Inherited reports whether a plugin inherits the agent's variable name.
func Inherited(name string) bool {
	for _, n := range names {
		if name == n {
			return true
		}
	}
	for _, p := range prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Filter returns the entries of environ ("NAME=value") a plugin inherits.
func Filter(environ []string) []string {
	var out []string
	for _, kv := range environ {
		if name, _, ok := strings.Cut(kv, "="); ok && Inherited(name) {
			out = append(out, kv)
		}
	}
	return out
}

// Text lists the inherited variables for messages:
// "PATH, HOME, TMPDIR, LANG, TZ, LC_* and XDG_*".
func Text() string {
	all := append([]string(nil), names...)
	for _, p := range prefixes {
		all = append(all, p+"*")
	}
	return strings.Join(all[:len(all)-1], ", ") + " and " + all[len(all)-1]
}
