package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-agent/signet/agent/control"
	"github.com/signet-agent/signet/agent/host"
)

func newPluginsCmd(a *App) *cobra.Command {
	var socket string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List the running agent's plugins: name, version, pid, listeners, restarts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			c, err := control.Dial(ctx, socket)
			if err != nil {
				return fmt.Errorf("%w; start it with `signet serve`", err)
			}
			defer c.Close()
			ps, err := c.Plugins(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(ps)
			}
			printPlugins(a, ps)
			return nil
		},
	}
	cmd.Flags().StringVar(&socket, "socket", "", "control socket `path` (default $XDG_RUNTIME_DIR/signet/control.sock)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printPlugins(a *App, ps []host.PluginStatus) {
	if len(ps) == 0 {
		fmt.Fprintln(a.Stdout, "no plugins")
		return
	}
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSTATE\tPID\tLISTENERS\tRESTARTS\tLAST ERROR")
	for _, p := range ps {
		var ls []string
		for _, l := range p.Listeners {
			scheme := "tcp"
			if l.TLS {
				scheme = "tls"
			}
			ls = append(ls, fmt.Sprintf("%s=%s://%s", l.Name, scheme, l.Addr))
		}
		pid := "-"
		if p.PID > 0 {
			pid = fmt.Sprint(p.PID)
		}
		last := p.LastError
		if len(last) > 80 {
			last = last[:80] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", p.Name, dash(p.Version), p.State, pid, dash(strings.Join(ls, " ")), p.Restarts, dash(last))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
