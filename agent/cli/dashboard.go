package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-agent/signet/agent/consentui"
	"github.com/signet-agent/signet/agent/control"
)

func newDashboardCmd(a *App) *cobra.Command {
	var configPath, socket string
	var wait time.Duration
	var printOnly bool
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Open the running agent's dashboard (tokens, plugins, origins, grants, journal) in the browser",
		Long: `Ask the running agent for the URL of its local web dashboard and open it in the
browser (xdg-open or the OS equivalent). The URL carries a secret token; it is
valid until the agent stops. With --print, only print the URL. If no agent is
running, start ` + "`signet serve`" + ` in the background with the same --config and wait for it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("dashboard: find the signet executable: %w", err)
			}
			argv := []string{exe, "serve"}
			if configPath != "" {
				argv = append(argv, "--config", configPath)
			}
			if socket != "" {
				argv = append(argv, "--socket", socket)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), wait+10*time.Second)
			defer cancel()
			c, started, err := control.Connect(ctx, socket, &control.StartOptions{Command: argv, Wait: wait})
			if err != nil {
				return fmt.Errorf("dashboard: %w", err)
			}
			defer c.Close()
			if started {
				fmt.Fprintln(a.Stderr, "signet: started the agent in the background")
			}
			u, err := c.Dashboard(ctx)
			if err != nil {
				return fmt.Errorf("dashboard: %w", err)
			}
			if printOnly {
				fmt.Fprintln(a.Stdout, u)
				return nil
			}
			if err := consentui.OpenBrowser(u); err != nil {
				fmt.Fprintln(a.Stdout, u)
				return fmt.Errorf("dashboard: cannot open the browser (%v); open the URL above by hand", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&printOnly, "print", false, "print the URL instead of opening it")
	f.StringVar(&configPath, "config", "", "configuration `file` for the agent if it has to be started")
	f.StringVar(&socket, "socket", "", "control socket `path` (default $XDG_RUNTIME_DIR/signet/control.sock)")
	f.DurationVar(&wait, "wait", 10*time.Second, "how long to wait for a newly started agent")
	return cmd
}
