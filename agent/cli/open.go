package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-agent/signet/agent/control"
)

func newOpenCmd(a *App) *cobra.Command {
	var configPath, socket string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "open URL",
		Short: "Hand a URL (such as cryptoarm://…) to the plugin that registered its scheme",
		Long: `Hand URL to the running agent, which passes it to the plugin that registered the
URL's scheme (this is what the desktop's URL handler runs). If no agent is running,
start ` + "`signet serve`" + ` in the background with the same --config and wait for it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := url.Parse(args[0])
			if err != nil || u.Scheme == "" {
				return usagef("open: %q is not a URL with a scheme", args[0])
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("open: find the signet executable: %w", err)
			}
			argv := []string{exe, "serve"}
			if configPath != "" {
				argv = append(argv, "--config", configPath)
			}
			if socket != "" {
				argv = append(argv, "--socket", socket)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), wait+control.OpenTimeout)
			defer cancel()
			c, started, err := control.Connect(ctx, socket, &control.StartOptions{Command: argv, Wait: wait})
			if err != nil {
				return fmt.Errorf("open: %w", err)
			}
			defer c.Close()
			if started {
				fmt.Fprintln(a.Stderr, "signet: started the agent in the background")
			}
			return c.Open(ctx, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "configuration `file` for the agent if it has to be started")
	f.StringVar(&socket, "socket", "", "control socket `path` (default $XDG_RUNTIME_DIR/signet/control.sock)")
	f.DurationVar(&wait, "wait", 10*time.Second, "how long to wait for a newly started agent")
	return cmd
}
