package doctor

import (
	"context"
	"fmt"

	"github.com/signet-agent/signet/agent/control"
	"github.com/signet-agent/signet/agent/host"
)

// checkAgent: the agent answers on its control socket, and each plugin it
// runs is running. It returns the plugins' statuses (nil when no agent
// answers) for the port check.
func checkAgent(ctx context.Context, env Env) ([]host.PluginStatus, []Finding) {
	ctx, cancel := context.WithTimeout(ctx, env.Timeout)
	defer cancel()
	c, err := control.Dial(ctx, env.SocketPath)
	if err != nil {
		return nil, []Finding{{Check: "agent", Status: Warn,
			Summary: "web pages cannot sign: " + err.Error(),
			Fix:     "start it: `systemctl --user start signet` (or `signet serve` in a terminal)"}}
	}
	defer c.Close()
	ps, err := c.Plugins(ctx)
	if err != nil {
		return nil, []Finding{{Check: "agent", Status: Fail,
			Summary: "the agent's control socket answers but not its plugin list: " + err.Error(),
			Fix:     "restart it: `systemctl --user restart signet`; its log: `journalctl --user -u signet`"}}
	}
	out := []Finding{{Check: "agent", Status: OK, Summary: fmt.Sprintf("the agent is running with %d plugins", len(ps))}}
	for _, p := range ps {
		f := Finding{Check: "plugin"}
		switch p.State {
		case host.Running:
			f.Status, f.Summary = OK, fmt.Sprintf("plugin %s is running (pid %d, %d restarts)", p.Name, p.PID, p.Restarts)
		default:
			f.Status = Fail
			f.Summary = fmt.Sprintf("plugin %s is %s", p.Name, p.State)
			if p.LastError != "" {
				f.Summary += ": " + p.LastError
			}
			f.Fix = "its log says why: `journalctl --user -u signet`; a plugin refused for its SHA-256 pin was changed on disk: reinstall the package"
		}
		out = append(out, f)
	}
	return ps, out
}
