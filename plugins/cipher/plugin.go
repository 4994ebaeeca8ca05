package cipher

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/signet-agent/signet/sdk"
	"github.com/signet-agent/signet/sdk/cms"
)

// PluginVersion is the version of the Signet Cipher plugin itself.
const PluginVersion = "0.1.0"

// Listener names, default addresses and the TLS name portals call.
const (
	ListenerHTTPS    = "https"     // 127.0.0.1:9091, most documentation
	ListenerHTTPSAlt = "https9090" // 127.0.0.1:9090, newer documentation
	DefaultAddr      = "127.0.0.1:9091"
	DefaultAltAddr   = "127.0.0.1:9090"
	// PortalName is the public DNS name portals call; the certificate
	// carries it only when the administrator's configuration names it for
	// this plugin (docs/local-ca.md).
	PortalName = "local.cipher.kiev.ua"
)

// Plugin options (README "Options").
const (
	OptionTicketTTL      = "ticket_ttl"       // duration, default 1h
	OptionMaxTickets     = "max_tickets"      // count, default 256
	OptionMaxData        = "max_data"         // bytes, default 4 GiB
	OptionMaxJSON        = "max_json"         // bytes of a JSON body, default 64 MiB
	OptionMaxSignature   = "max_signature"    // bytes of an uploaded signature, default 64 MiB
	OptionMaxAccessUses  = "max_access_uses"  // count, default 100
	OptionAccessTokenTTL = "access_token_ttl" // duration, default 1h
	OptionWaitTimeout    = "wait_timeout"     // duration, default 3m
	OptionTSAURL         = "tsa_url"          // RFC 3161 URL for CAdES-T
	OptionTrustRoots     = "trust_roots"      // PEM file of roots for verification
	OptionTempDir        = "temp_dir"         // directory for ticket files
	OptionAccessTokenKey = "access_token_key" // key URI an accessToken grants
)

// Plugin is the Cipher protocol plugin.
type Plugin struct{}

// Describe declares both HTTPS listeners with the portal name.
func (Plugin) Describe() sdk.Description {
	names := []string{PortalName}
	return sdk.Description{
		Name:    "cipher",
		Version: PluginVersion,
		Summary: "Cipher local crypto service REST API (https://127.0.0.1:9091/api/v1 and :9090)",
		Listeners: []sdk.ListenerSpec{
			{Name: ListenerHTTPS, Addr: DefaultAddr, TLS: true, TLSNames: names},
			{Name: ListenerHTTPSAlt, Addr: DefaultAltAddr, TLS: true, TLSNames: names},
		},
	}
}

// Serve serves the API on both listeners until ctx ends.
func (Plugin) Serve(ctx context.Context, host *sdk.Host) error {
	cfg, err := ConfigFromOptions(host.Options())
	if err != nil {
		return err
	}
	cfg.Keys = host.KeyService()
	cfg.Consent = host.Consent()
	cfg.Logger = host.Logger()
	srv, err := NewServer(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	go srv.RunJanitor(ctx)
	return sdk.HTTPServer{Listeners: []string{ListenerHTTPS, ListenerHTTPSAlt}, Handler: srv}.Serve(ctx, host)
}

// Limits bound what one client may make the plugin hold.
type Limits struct {
	TicketTTL      time.Duration
	MaxTickets     int
	MaxData        int64
	MaxJSON        int64
	MaxSignature   int64
	MaxAccessUses  int
	AccessTokenTTL time.Duration
	WaitTimeout    time.Duration
}

// DefaultLimits are the limits when no option changes them.
var DefaultLimits = Limits{
	TicketTTL:      time.Hour,
	MaxTickets:     256,
	MaxData:        4 << 30,
	MaxJSON:        64 << 20,
	MaxSignature:   64 << 20,
	MaxAccessUses:  100,
	AccessTokenTTL: time.Hour,
	WaitTimeout:    3 * time.Minute,
}

// ConfigFromOptions reads the plugin options; every bad value is an error
// naming the option.
func ConfigFromOptions(opts map[string]string) (Config, error) {
	cfg := Config{Limits: DefaultLimits}
	l := &cfg.Limits
	durs := map[string]*time.Duration{OptionTicketTTL: &l.TicketTTL, OptionAccessTokenTTL: &l.AccessTokenTTL, OptionWaitTimeout: &l.WaitTimeout}
	for name, p := range durs {
		if v := opts[name]; v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return cfg, fmt.Errorf("plugin option %s=%q: want a positive duration like 10m", name, v)
			}
			*p = d
		}
	}
	ints := map[string]*int64{OptionMaxData: &l.MaxData, OptionMaxJSON: &l.MaxJSON, OptionMaxSignature: &l.MaxSignature}
	for name, p := range ints {
		if v := opts[name]; v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return cfg, fmt.Errorf("plugin option %s=%q: want a positive number of bytes", name, v)
			}
			*p = n
		}
	}
	counts := map[string]*int{OptionMaxTickets: &l.MaxTickets, OptionMaxAccessUses: &l.MaxAccessUses}
	for name, p := range counts {
		if v := opts[name]; v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 || n > 1<<20 {
				return cfg, fmt.Errorf("plugin option %s=%q: want a positive count", name, v)
			}
			*p = n
		}
	}
	cfg.TSAURL = opts[OptionTSAURL]
	cfg.AccessTokenKey = opts[OptionAccessTokenKey]
	if f := opts[OptionTrustRoots]; f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return cfg, fmt.Errorf("plugin option %s: %w", OptionTrustRoots, err)
		}
		cfg.Roots = x509.NewCertPool()
		if !cfg.Roots.AppendCertsFromPEM(pem) {
			return cfg, fmt.Errorf("plugin option %s=%q: no PEM certificate in the file", OptionTrustRoots, f)
		}
	}
	cfg.TempDir = opts[OptionTempDir]
	if cfg.TempDir == "" {
		cfg.TempDir = filepath.Join(os.TempDir(), fmt.Sprintf("signet-cipher-%d", os.Getuid()))
	}
	return cfg, nil
}

// tsaClient is the configured TSA, or nil.
func (c Config) tsaClient() *cms.TSAClient {
	if c.TSAURL == "" {
		return nil
	}
	return &cms.TSAClient{URL: c.TSAURL}
}
