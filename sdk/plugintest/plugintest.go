// Package plugintest tests a Signet plugin against a real host: the host's
// plugin manager runs in the test process with a real SoftHSM2 token
// (RSA-2048, ECDSA P-256 and Ed25519 keys with certificates from a test
// CA), a local CA for the plugin's TLS listeners, and the consent
// behaviour the test chooses. The plugin is built with `go build` from its
// package and runs as its own process, exactly as under `signet serve`,
// under the name its Description gives.
//
//	func TestMain(m *testing.M) { plugintest.Main(m) }
//
//	func TestSign(t *testing.T) {
//		h := plugintest.Start(t, "example.com/myplugin", nil)
//		resp, err := h.HTTPClient().Get("https://" + h.Addr("https") + "/keys")
//		...
//	}
//
// # Requirements
//
// The test needs cgo (the host loads SoftHSM through PKCS#11) and the
// SoftHSM2 module and tools (Debian/Ubuntu: apt-get install softhsm2
// opensc). The plugin itself needs neither: it is built as it would be for
// use.
//
// # SoftHSM and the process
//
// SoftHSM reads its configuration and token list once per process, so Main
// (call it from TestMain) points SOFTHSM2_CONF at a private temporary
// directory, and the first Start creates one token (TokenLabel, user PIN
// 1234, which the host enters itself) and opens the key store; later
// Starts in the same test binary share them. Each Start has its own host
// and plugin process, stopped when the test ends. Listeners bind
// 127.0.0.1 on free ports unless Config.Listen says otherwise.
package plugintest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/hsm"
	ipt "github.com/signet-agent/signet/internal/plugintest"
	"github.com/signet-agent/signet/sdk"
)

// TokenLabel is the label of the SoftHSM token the host offers.
const TokenLabel = "plugintest"

// Labels of the keys on the token; each has a certificate issued by the
// test CA's intermediate (see Host.Chain).
const (
	KeyRSA     = "rsa2048"    // RSA-2048
	KeyECDSA   = "ecdsa-p256" // ECDSA P-256
	KeyEd25519 = "ed25519"
)

// Main is for TestMain: it gives the test binary a private SoftHSM2
// configuration, runs the tests and cleans up.
func Main(m *testing.M) { ipt.Main(m) }

// Config adjusts Start. The zero value (or nil) is fine.
type Config struct {
	// Consent decides on every operation and records the questions; nil
	// is AllowAll(). Use one per Start.
	Consent *Consent
	// Options are the plugin's options, as in the host configuration
	// (Host.Option in the plugin).
	Options map[string]string
	// Listen overrides listener addresses, as the host configuration
	// does; nil binds every listener on 127.0.0.1:0.
	Listen []Listen
	// Build adjusts how the plugin is built.
	Build BuildOptions
	// Logger receives the host's and the plugin's log; nil logs to t.Log.
	Logger *slog.Logger
	// ContainerPassword answers the host's password prompt for a key
	// container the plugin uploaded (KeyService.OpenContainer), as the
	// person would; nil dismisses the prompt.
	ContainerPassword func(ctx context.Context) (string, error)
	// PasswordOrigins are the origins the host's policy lets pass a
	// container's password from a page (KeyService.UnlockContainer);
	// none by default.
	PasswordOrigins []string
}

// Listen is the configured address and extra TLS names of one listener.
type Listen struct {
	// Name is the declared listener's name; "*" applies to every listener
	// no other entry names.
	Name string
	// Addr is a loopback host:port; "" keeps the plugin's default.
	Addr string
	// TLSNames are added to the names of the listener's certificate.
	TLSNames []string
}

// BuildOptions are `go build` options for the plugin under test.
type BuildOptions struct {
	Race  bool     // -race (needs cgo in the plugin build)
	Cover bool     // -cover; set GOCOVERDIR for the plugin to write its profile
	Tags  []string // -tags
	// Flags are further `go build` flags ("-ldflags=-X main.v=1").
	Flags []string
}

func (b BuildOptions) flags() []string {
	var out []string
	if b.Race {
		out = append(out, "-race")
	}
	if b.Cover {
		out = append(out, "-cover")
	}
	if len(b.Tags) > 0 {
		out = append(out, "-tags="+strings.Join(b.Tags, ","))
	}
	return append(out, b.Flags...)
}

// Host is a running host with the plugin under test.
type Host struct {
	h       *ipt.Host
	consent *Consent
}

// Build compiles the plugin package pkg (an import path, or a directory
// relative to the test's working directory such as "."), once per test
// binary and options, and returns the executable's path.
func Build(t testing.TB, pkg string, opts BuildOptions) string {
	t.Helper()
	return ipt.Build(t, pkg, opts.flags()...)
}

// Start builds pkg, starts a host with the plugin and waits until the
// plugin is ready (its required listeners bound). The plugin's name in the
// host is its Description's Name. Everything stops when the test ends.
func Start(t testing.TB, pkg string, cfg *Config) *Host {
	t.Helper()
	if cfg == nil {
		cfg = &Config{}
	}
	c := cfg.Consent
	if c == nil {
		c = AllowAll()
	}
	bin := Build(t, pkg, cfg.Build)
	desc, err := ipt.Describe(bin)
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	icfg := &ipt.Config{
		Consent: consent.AskerFunc(c.ask), Options: cfg.Options, Logger: cfg.Logger,
		Name: desc.GetName(), BuildFlags: cfg.Build.flags(),
	}
	if ask := cfg.ContainerPassword; ask != nil {
		icfg.PasswordPrompt = func(ctx context.Context, _ hsm.PINRequest) (hsm.PINResponse, error) {
			pw, err := ask(ctx)
			if err != nil {
				return hsm.PINResponse{}, err
			}
			return hsm.PINResponse{PIN: []byte(pw)}, nil
		}
	}
	origins := append([]string(nil), cfg.PasswordOrigins...)
	icfg.PasswordOrigin = func(o string) bool { return slices.Contains(origins, o) }
	for _, l := range cfg.Listen {
		icfg.Listen = append(icfg.Listen, host.ListenConfig{Name: l.Name, Addr: l.Addr, TLSNames: l.TLSNames})
	}
	var store *hsm.Store // set by Start below, before any request
	if c.engine {
		pol := &config.Policy{}
		for _, r := range c.rules {
			pol.Unattended.Rules = append(pol.Unattended.Rules, config.Rule{
				Origin: r.Origin, Plugin: r.Plugin, Key: r.Key, Operation: string(r.Operation), Action: r.Action, Uses: r.Uses})
		}
		ecfg := consent.EngineConfig{
			Policy:  pol,
			KeyInfo: func(ctx context.Context, uri string) (hsm.KeyInfo, error) { return store.Key(ctx, uri) },
		}
		if c.person {
			ecfg.Prompter = yes{c}
		}
		e, err := consent.NewEngine(ecfg)
		if err != nil {
			t.Fatalf("plugintest: consent engine: %v", err)
		}
		for _, o := range c.origins {
			if err := e.Decisions().Set(consent.OriginDecision{Origin: o, Choice: consent.Always, Decided: time.Now()}); err != nil {
				t.Fatalf("plugintest: allow origin %s: %v", o, err)
			}
		}
		c.asker = e
	}
	h := ipt.Start(t, pkg, icfg)
	store = h.Store
	if c.pick != "" {
		uri := c.pick
		if !strings.Contains(uri, ":") { // a label on the token
			uri = h.KeyURI(t, uri)
		}
		c.mu.Lock()
		c.pickURI = uri
		c.mu.Unlock()
	}
	return &Host{h: h, consent: c}
}

// Name is the plugin's name in the host: its Description's Name.
func (h *Host) Name() string { return h.h.Name() }

// Consent is the consent behaviour in use, with the questions asked.
func (h *Host) Consent() *Consent { return h.consent }

// Containers is how many uploaded key containers (KeyService.OpenContainer)
// the host holds for the plugin now.
func (h *Host) Containers() int { return h.h.Manager.Containers(h.h.Name()) }

// Addr is the bound address (host:port) of the plugin's listener name,
// or "" when it is not bound.
func (h *Host) Addr(name string) string { return h.h.Addr(name) }

// Status is a snapshot of the plugin as `signet plugins` shows it.
type Status struct {
	Name       string
	Version    string // from the Description
	Summary    string
	State      string // "starting", "running", "restarting", "stopped", "failed"
	PID        int
	Listeners  []Listener
	URLSchemes []string
	Restarts   int
	LastError  string
}

// Listener is one bound listener.
type Listener struct {
	Name string
	Addr string
	TLS  bool
}

// Status returns the plugin's current status.
func (h *Host) Status() Status {
	s := h.h.Status()
	out := Status{Name: s.Name, Version: s.Version, Summary: s.Summary, State: string(s.State), PID: s.PID,
		URLSchemes: s.URLSchemes, Restarts: s.Restarts, LastError: s.LastError}
	for _, l := range s.Listeners {
		out.Listeners = append(out.Listeners, Listener{Name: l.Name, Addr: l.Addr, TLS: l.TLS})
	}
	return out
}

// OpenURL hands rawURL to the plugin that registered its scheme, as
// `signet open` does (the plugin's URLHandler.OpenURL).
func (h *Host) OpenURL(ctx context.Context, rawURL string) error {
	return h.h.Manager.OpenURL(ctx, rawURL)
}

// CAPool holds the host's local CA, which issues the plugin's TLS
// certificates.
func (h *Host) CAPool() *x509.CertPool { return h.h.CA.Pool() }

// TLSConfig is a client configuration that trusts the host's local CA
// only.
func (h *Host) TLSConfig() *tls.Config { return h.h.TLSConfig() }

// HTTPClient is an HTTP client that trusts the host's local CA only.
func (h *Host) HTTPClient() *http.Client { return h.h.HTTPClient() }

// Key returns the key labelled label (KeyRSA, KeyECDSA, KeyEd25519) on
// the token, as KeyService.Keys gives it to the plugin.
func (h *Host) Key(t testing.TB, label string) sdk.Key {
	t.Helper()
	k := h.h.Key(t, label)
	return sdk.Key{
		URI: k.URI, TokenURI: k.TokenURI, Label: k.Label, ID: k.ID,
		Algorithm: sdk.KeyAlgorithm(k.Algorithm), Bits: k.Bits, PublicKey: k.PublicKey,
		HasPrivateKey: k.HasPrivateKey, CanSign: k.CanSign, CanDecrypt: k.CanDecrypt,
		AlwaysAuthenticate: k.AlwaysAuthenticate, Certificate: k.Certificate, Chain: k.Chain,
	}
}

// KeyURI returns the URI of the key labelled label on the token.
func (h *Host) KeyURI(t testing.TB, label string) string {
	t.Helper()
	return h.h.KeyURI(t, label)
}

// Chain is a key's certificate chain: the test CA's root, its
// intermediate, and the key's own certificate, as certificates, as PEM,
// and as files in the test's temporary directory. CAFile holds the root
// and the intermediate, for OpenSSL's -CAfile (a message need not carry
// the intermediate):
//
//	openssl cms -verify -binary -inform DER -in doc.p7s -content doc \
//	    -CAfile chain.CAFile -purpose any -out /dev/null
type Chain struct {
	Root, Intermediate, Leaf          *x509.Certificate
	RootPEM, IntermediatePEM, LeafPEM []byte
	CAFile, LeafFile                  string
}

// Chain returns the chain of the key labelled label.
func (h *Host) Chain(t testing.TB, label string) Chain {
	t.Helper()
	k := h.h.Key(t, label)
	if k.Certificate == nil {
		t.Fatalf("plugintest: key %q has no certificate", label)
	}
	pki := h.h.Fixture.PKI
	dir := t.TempDir()
	write := func(name string, c *x509.Certificate) ([]byte, string) {
		b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatalf("plugintest: %v", err)
		}
		return b, p
	}
	c := Chain{Root: pki.Root, Intermediate: pki.Intermediate, Leaf: k.Certificate}
	c.LeafPEM, c.LeafFile = write(label+".pem", k.Certificate)
	c.RootPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Root.Raw})
	c.IntermediatePEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Intermediate.Raw})
	c.CAFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(c.CAFile, append(slices.Clone(c.RootPEM), c.IntermediatePEM...), 0o600); err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	return c
}
