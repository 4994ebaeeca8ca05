package cli

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/signet-agent/signet/internal/profiling"

	"github.com/signet-agent/signet/agent/serve"
)

// Version is the agent's version, reported on the control socket.
var Version = "0.1.0-dev"

func newServeCmd(a *App) *cobra.Command {
	var opts serve.Options
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the agent: key store, local CA, plugins and the control socket",
		Long: `Run the Signet agent in the foreground until SIGTERM or SIGINT.

The agent reads one YAML configuration file (default: $XDG_CONFIG_HOME/signet/config.yaml),
opens the key store it names, creates the local TLS CA on first start, starts every plugin
(from the plugin directory and the configuration) and answers ` + "`signet plugins`" + ` and
` + "`signet open`" + ` on its control socket. Only one agent runs per user.

Operations a policy does not decide are put to a person: by default in a local web dialog
opened in the browser (its URL is logged when no browser can be opened); --prompt terminal
asks on this terminal instead; --prompt none asks nobody and refuses them at once. The
agent's dashboard URL is logged at start and printed by ` + "`signet dashboard --print`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Version = Version
			stopProfile := profiling.Start(os.Getenv(profiling.EnvDir), "signet")
			defer stopProfile()
			return serve.Run(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.ConfigPath, "config", "", "configuration `file` (default $XDG_CONFIG_HOME/signet/config.yaml)")
	f.StringVar(&opts.SocketPath, "socket", "", "control socket `path` (default $XDG_RUNTIME_DIR/signet/control.sock)")
	f.StringVar(&opts.Prompt, "prompt", serve.PromptWeb, "who is asked to approve operations and enter PINs: `web` (the browser dialog), terminal (this terminal) or none (only the policy and unattended rules decide; anything else is refused at once)")
	f.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", 0, "how long in-flight operations may take to finish on shutdown (default 10s)")
	return cmd
}
