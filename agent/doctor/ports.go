package doctor

import (
	"fmt"
	"net"
	"strings"

	"github.com/signet-agent/signet/agent/host"
)

// checkPorts: each configured listener's address is free, or held by the
// running agent's plugin. A port held by another program is what keeps a
// plugin from starting (often the vendor's own agent).
func checkPorts(env Env, running []host.PluginStatus) []Finding {
	ours := map[string]string{}
	for _, p := range running {
		for _, l := range p.Listeners {
			ours[l.Addr] = p.Name
		}
	}
	var out []Finding
	for _, p := range env.Config.Plugins {
		if !p.IsEnabled() {
			continue
		}
		for _, l := range p.Listen {
			if strings.HasSuffix(l.Bind, ":0") {
				continue // any free port
			}
			f := Finding{Check: "port"}
			if name, ok := ours[l.Bind]; ok {
				f.Status, f.Summary = OK, fmt.Sprintf("%s is the agent's (plugin %s)", l.Bind, name)
				out = append(out, f)
				continue
			}
			ln, err := net.Listen("tcp", l.Bind)
			if err == nil {
				ln.Close()
				f.Status, f.Summary = OK, fmt.Sprintf("%s is free for plugin %s", l.Bind, p.Name)
				out = append(out, f)
				continue
			}
			_, port, _ := net.SplitHostPort(l.Bind)
			f.Status = Fail
			f.Summary = fmt.Sprintf("%s, where plugin %s listens, is taken by another program: %v", l.Bind, p.Name, errCause(err))
			if who := portOwner(l.Bind); who != "" {
				f.Summary = fmt.Sprintf("%s, where plugin %s listens, is taken by another program, %s", l.Bind, p.Name, who)
			}
			f.Fix = fmt.Sprintf("find it with `ss -ltnp 'sport = :%s'` and stop it (another signing agent, such as the vendor's own, uses the same port), or give plugin %s another address in the configuration", port, p.Name)
			out = append(out, f)
		}
	}
	return out
}

// errCause is the innermost message of a net error ("address already in use").
func errCause(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}
