package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/doctor"
	"github.com/signet-agent/signet/agent/serve"
)

// errProblems makes `signet doctor` exit 1 when it found a failure.
var errProblems = errors.New("problems found")

func newDoctorCmd(a *App) *cobra.Command {
	var cfgPath, socket string
	var asJSON, personal bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the agent, its plugins, ports, local CA, tokens, key files and clock, and say how to fix each problem",
		Long: `Check the whole setup and explain each problem in plain words, with a fix:
the agent running and its plugins healthy; each listener's port free or the
agent's own; the local CA present, its name constraints, and whether the
system store and each browser NSS database trust it; PKCS#11 modules found
and loadable, tokens present, PIN state (wrong tries, locked); PFX
directories readable; certificates expired or near their end; the clock;
the configuration valid. It asks for no PIN and changes nothing.

--json is for support tickets: names, TIN/PINFL, certificate serials, token
labels and serials are replaced by [personal] unless --include-personal.
Exit status 1 when a check failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := serve.ConfigPath(cfgPath, serve.SystemConfigPath)
			if err != nil {
				return err
			}
			env := doctor.Env{ConfigPath: path, SocketPath: socket}
			env.Config, env.ConfigErr = config.Load(path)
			rep := doctor.Run(cmd.Context(), env)
			if asJSON {
				if !personal {
					rep = rep.Redact()
				}
				enc := json.NewEncoder(a.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printReport(a, rep)
			}
			if _, fail := rep.Problems(); fail > 0 {
				return errProblems
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgPath, "config", "", "configuration `file` (default: the one the agent reads)")
	f.StringVar(&socket, "socket", "", "control socket `path` (default $XDG_RUNTIME_DIR/signet/control.sock)")
	f.BoolVar(&asJSON, "json", false, "print the findings as JSON, personal data redacted")
	f.BoolVar(&personal, "include-personal", false, "with --json: keep names, TIN/PINFL, serials and token labels")
	return cmd
}

func printReport(a *App, rep doctor.Report) {
	marks := map[doctor.Status]string{doctor.OK: "ok  ", doctor.Info: "info", doctor.Warn: "WARN", doctor.Fail: "FAIL"}
	for _, f := range rep.Findings {
		fmt.Fprintf(a.Stdout, "%s  %s\n", marks[f.Status], f.Summary)
		if f.Fix != "" && f.Status != doctor.OK {
			fmt.Fprintf(a.Stdout, "      fix: %s\n", f.Fix)
		}
	}
	warn, fail := rep.Problems()
	fmt.Fprintf(a.Stdout, "\n%d problems, %d warnings\n", fail, warn)
}
