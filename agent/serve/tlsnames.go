package serve

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/agent/localca"
)

// pluginCA is the host's certificate issuer: the local CA, whose name
// constraints are exactly the names the administrator configures
// (config.TLSNames: localhost, tls.names and the names of plugins' listen
// entries). A plugin never extends them.
//
// Names are also limited per plugin: a plugin gets certificates for
// localhost and its subdomains, the loopback IPs, tls.names (shared by all
// plugins) and the names of its own listen entries — not for a name
// configured under another plugin's listen entry, although the CA's
// constraints cover it.
//
// A plugin may declare TLS names for its listeners in its Description
// (Cipher's local.cipher.kiev.ua). The host passes them to AllowNames
// (host.NameAllower) after Describe, before the plugin asks for a
// certificate. A declared name the plugin may have is honoured. Any other
// declared name is ignored: AllowNames logs once per plugin and name, at
// warn, which names were ignored and the configuration that would allow
// them, and IssueFor then leaves those names out of the plugin's leaves, so
// its Listen still gets a certificate for the permitted names (localhost,
// the loopback IPs, the configured ones) and only connections to an
// ignored name fail the browser's name check. A name the plugin may not
// have and did not declare fails with localca.ErrNameNotPermitted.
type pluginCA struct {
	ca     *localca.CA
	log    *slog.Logger
	shared []string            // tls.names
	own    map[string][]string // plugin → names of its listen entries

	mu      sync.Mutex
	ignored map[string]map[string]bool // plugin → declared names left out
}

var (
	_ host.NameAllower      = (*pluginCA)(nil)
	_ host.PluginCertIssuer = (*pluginCA)(nil)
)

// newPluginCA limits ca to the names cfg gives each plugin.
func newPluginCA(ca *localca.CA, cfg *config.Config, log *slog.Logger) *pluginCA {
	p := &pluginCA{ca: ca, log: log, shared: slices.Clone(cfg.TLS.Names),
		own: map[string][]string{}, ignored: map[string]map[string]bool{}}
	for _, pl := range cfg.Plugins {
		for _, l := range pl.Listen {
			p.own[pl.Name] = append(p.own[pl.Name], l.Names...)
		}
	}
	return p
}

// allowed reports whether plugin may have a certificate for name
// (normalised): the CA permits it and localhost, tls.names or the plugin's
// own listen names cover it.
func (p *pluginCA) allowed(plugin, name string) bool {
	if !p.ca.Permitted(name) {
		return false
	}
	if net.ParseIP(name) != nil {
		return true // loopback (Permitted)
	}
	for _, set := range [][]string{{"localhost"}, p.shared, p.own[plugin]} {
		for _, c := range set {
			if name == c || strings.HasSuffix(name, "."+c) {
				return true
			}
		}
	}
	return false
}

// IssueFor issues a leaf for plugin: names it may have are kept, declared
// names AllowNames ignored are left out, any other name is refused.
func (p *pluginCA) IssueFor(plugin string, names []string) (tls.Certificate, error) {
	p.mu.Lock()
	var keep, dropped []string
	for _, n := range names {
		nn := normaliseName(n)
		switch {
		case p.allowed(plugin, nn):
			keep = append(keep, n)
		case p.ignored[plugin][nn]:
			dropped = append(dropped, n)
		default:
			p.mu.Unlock()
			return tls.Certificate{}, fmt.Errorf("issue for %q for plugin %s: %w (add it to the plugin's listen names in the configuration, restart the agent and run `signet trust install`)",
				n, plugin, localca.ErrNameNotPermitted)
		}
	}
	p.mu.Unlock()
	if len(keep) == 0 {
		return tls.Certificate{}, fmt.Errorf("issue for %v: %w", dropped, localca.ErrNameNotPermitted)
	}
	return p.ca.Issue(keep)
}

// Issue issues a leaf for names that are shared by every plugin
// (localhost, the loopback IPs, tls.names).
func (p *pluginCA) Issue(names []string) (tls.Certificate, error) {
	return p.IssueFor("", names)
}

// TLSConfig is the CA's server configuration for names (the consent
// dialog).
func (p *pluginCA) TLSConfig(names []string) (*tls.Config, error) {
	return p.ca.TLSConfig(names)
}

// AllowNames records which of the TLS names plugin declares it may not
// have, and warns about them the first time. It never changes the CA and
// returns nil: ignoring a name is not an error of the plugin.
func (p *pluginCA) AllowNames(plugin string, names []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var fresh, broad []string
	for _, n := range names {
		n = normaliseName(n)
		if p.allowed(plugin, n) {
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
		p.log.Warn("ignored TLS names a plugin declares that the configuration does not list for it: its listeners get certificates without them. To allow them, add them to the names of the plugin's listen entry (bind: the listener's address) or to tls.names in the configuration, restart the agent and run `signet trust install`",
			"plugin", plugin, "names", fresh, "config", allowSnippet(plugin, fresh))
	}
	return nil // the plugin runs; its listeners serve the permitted names
}

// allowSnippet is the configuration that gives plugin names.
func allowSnippet(plugin string, names []string) string {
	return fmt.Sprintf("plugins:\n  - name: %s\n    listen:\n      - {bind: \"127.0.0.1:<port>\", names: [%s]}",
		plugin, strings.Join(slices.Sorted(slices.Values(names)), ", "))
}

func normaliseName(n string) string {
	if ip := net.ParseIP(n); ip != nil {
		return ip.String()
	}
	return strings.ToLower(strings.TrimSuffix(n, "."))
}
