package doctor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/signet-agent/signet/agent/config"
)

// checkConfig: the configuration file loads and validates.
func checkConfig(env Env) Finding {
	f := Finding{Check: "config"}
	name := env.ConfigPath
	if name == "" {
		name = "the built-in defaults (no configuration file)"
	}
	if env.ConfigErr == nil {
		f.Status, f.Summary = OK, "configuration valid: "+name
		return f
	}
	var lines []string
	for _, e := range unjoin(env.ConfigErr) {
		lines = append(lines, e.Error())
	}
	f.Status = Fail
	f.Summary = fmt.Sprintf("the configuration does not load, so the agent will not start: %s", strings.Join(lines, "; "))
	f.Fix = "correct each line named above in " + name + "; `signet doctor` checks it again"
	var ce *config.Error
	if !errors.As(env.ConfigErr, &ce) {
		f.Fix = "check that " + name + " exists and is readable"
	}
	return f
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}
