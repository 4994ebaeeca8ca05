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

// growingCA is the host's certificate issuer: the local CA, replaced by a
// new one when a plugin declares a TLS name outside the current name
// constraints.
//
// The CA is opened before any plugin runs, with the names the
// configuration knows (tls.names and the plugins' listen names). A plugin
// may also declare TLS names itself in its Description (Cipher's
// local.cipher.kiev.ua); the host learns them only when the plugin starts,
// after the CA exists, and name constraints are fixed when a CA is created.
// So AllowNames (host.NameAllower, called after Describe and before the
// plugin asks for a certificate) re-opens the CA with the union of its
// names and the new ones: localca.Open rotates it (new key, new
// constraints) and the agent logs that `signet trust install` must be run
// again. The new CA keeps every old name, so the next start finds all
// names permitted and does not rotate again. Leaves issued before the
// rotation (other plugins, the consent dialog's first leaf) chain to the
// old CA until they are renewed; the log asks for a restart after
// `signet trust install` for that reason.
//
// Only declared names are added: a plugin asking IssueCertificate for an
// undeclared name still gets ErrNameNotPermitted.
type growingCA struct {
	dir string
	log *slog.Logger

	mu sync.Mutex
	ca *localca.CA
}

var _ host.NameAllower = (*growingCA)(nil)

func newGrowingCA(dir string, ca *localca.CA, log *slog.Logger) *growingCA {
	return &growingCA{dir: dir, ca: ca, log: log}
}

func (g *growingCA) current() *localca.CA {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ca
}

// Issue issues a leaf from the current CA.
func (g *growingCA) Issue(names []string) (tls.Certificate, error) {
	return g.current().Issue(names)
}

// TLSConfig is localca.CA.TLSConfig that follows a rotation: each new
// handshake gets a leaf from the current CA.
func (g *growingCA) TLSConfig(names []string) (*tls.Config, error) {
	if _, err := g.Issue(names); err != nil {
		return nil, err
	}
	names = slices.Clone(names)
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			c, err := g.Issue(names)
			if err != nil {
				return nil, err
			}
			return &c, nil
		},
	}, nil
}

// AllowNames makes the CA's name constraints cover the DNS names plugin
// declares, rotating the CA when one is missing.
func (g *growingCA) AllowNames(plugin string, names []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var missing []string
	for _, n := range names {
		if net.ParseIP(n) != nil {
			continue // IPs: loopback only, fixed (Issue refuses others)
		}
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if !g.ca.Permitted(n) && !slices.Contains(missing, n) {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	all := append(slices.Clone(g.ca.Certificate().PermittedDNSDomains), missing...)
	ca, err := localca.Open(g.dir, all, localca.Options{})
	if err != nil {
		return fmt.Errorf("add TLS names %v declared by plugin %s to the local CA: %w", missing, plugin, err)
	}
	g.ca = ca
	g.log.Warn("replaced the local CA to add TLS names a plugin declares: run `signet trust install` again, then restart the agent",
		"plugin", plugin, "names", missing, "cert", ca.CertFile(), "fingerprint", ca.Fingerprint())
	return nil
}
