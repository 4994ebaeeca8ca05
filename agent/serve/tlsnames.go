package serve

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/agent/localca"
)

// pluginCA is the host's certificate issuer: the local CA, whose name
// constraints are exactly the names the administrator configures
// (config.TLSNames: localhost, tls.names and the names of plugins' listen
// entries). A plugin never extends them.
//
// A plugin may declare TLS names for its listeners in its Description
// (Cipher's local.cipher.kiev.ua). The host passes them to AllowNames
// (host.NameAllower) after Describe, before the plugin asks for a
// certificate. A declared name the constraints cover (a configured name or
// one below it, or a name under localhost) is honoured. Any other declared
// name is ignored: AllowNames logs once per plugin and name, at warn, which
// names were ignored and the configuration that would allow them, and
// Issue then leaves those names out of the leaf, so the plugin's Listen
// still gets a certificate for the permitted names (localhost, the loopback
// IPs, the configured ones) and only connections to an ignored name fail
// the browser's name check. A name outside the constraints that no plugin
// declared still fails with localca.ErrNameNotPermitted.
//
// The constraints are per CA, not per plugin: a name configured under one
// plugin's listen entry is permitted for certificates any plugin asks for.
// Plugins run as the same user as the agent and can read each other's
// memory on most systems, so a per-plugin split would not bound much.
type pluginCA struct {
	ca  *localca.CA
	log *slog.Logger

	mu      sync.Mutex
	ignored map[string]map[string]bool // plugin → declared names left out
}

var _ host.NameAllower = (*pluginCA)(nil)

func newPluginCA(ca *localca.CA, log *slog.Logger) *pluginCA {
	return &pluginCA{ca: ca, log: log, ignored: map[string]map[string]bool{}}
}

// Issue issues a leaf from the CA for names, without the declared names
// AllowNames ignored.
func (p *pluginCA) Issue(names []string) (tls.Certificate, error) {
	p.mu.Lock()
	var keep, dropped []string
	for _, n := range names {
		if p.isIgnored(normaliseName(n)) {
			dropped = append(dropped, n)
			continue
		}
		keep = append(keep, n)
	}
	p.mu.Unlock()
	if len(keep) == 0 {
		return tls.Certificate{}, fmt.Errorf("issue for %v: %w", dropped, localca.ErrNameNotPermitted)
	}
	return p.ca.Issue(keep)
}

func (p *pluginCA) isIgnored(name string) bool {
	for _, set := range p.ignored {
		if set[name] {
			return true
		}
	}
	return false
}

// TLSConfig is the CA's server configuration for names (the consent
// dialog).
func (p *pluginCA) TLSConfig(names []string) (*tls.Config, error) {
	return p.ca.TLSConfig(names)
}

// AllowNames records which of the TLS names plugin declares the CA does not
// permit, and warns about them the first time. It never changes the CA and
// returns nil: ignoring a name is not an error of the plugin.
func (p *pluginCA) AllowNames(plugin string, names []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var fresh, broad []string
	for _, n := range names {
		n = normaliseName(n)
		if p.ca.Permitted(n) {
			continue
		}
		set := p.ignored[plugin]
		if set == nil {
			set = map[string]bool{}
			p.ignored[plugin] = set
		}
		if set[n] {
			continue // warned already (an earlier start of this plugin)
		}
		set[n] = true
		if err := localca.CheckName(n); err != nil || net.ParseIP(n) != nil {
			broad = append(broad, n)
		} else {
			fresh = append(fresh, n)
		}
	}
	if len(broad) > 0 {
		p.log.Warn("ignored TLS names a plugin declares: the local CA never issues for them (only localhost, 127.0.0.1, ::1 and configured names, and never a top-level domain or public suffix)",
			"plugin", plugin, "names", broad)
	}
	if len(fresh) > 0 {
		p.log.Warn("ignored TLS names a plugin declares that the configuration does not list: its listeners get certificates without them. To allow them, add them to the configuration, restart the agent and run `signet trust install`",
			"plugin", plugin, "names", fresh, "config", allowSnippet(fresh))
	}
	return nil // the plugin runs; its listeners serve the permitted names
}

// allowSnippet is the configuration that permits names.
func allowSnippet(names []string) string {
	return fmt.Sprintf("tls:\n  names: [%s]", strings.Join(slices.Sorted(slices.Values(names)), ", "))
}

func normaliseName(n string) string {
	if ip := net.ParseIP(n); ip != nil {
		return ip.String()
	}
	return strings.ToLower(strings.TrimSuffix(n, "."))
}
