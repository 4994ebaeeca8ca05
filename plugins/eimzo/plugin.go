package eimzo

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/signet-agent/signet/sdk"
)

// PluginVersion is the version of the Signet E-IMZO plugin itself.
const PluginVersion = "0.1.0"

// Listener names and default addresses (E-IMZO's own ports).
const (
	ListenerWSS    = "wss"
	ListenerWS     = "ws"
	DefaultWSSAddr = "127.0.0.1:64443"
	DefaultWSAddr  = "127.0.0.1:64646"
	OptionKeyTTL   = "key_ttl" // plugin option: keyId lifetime, a Go duration ("6h")
)

// OptionTokenKey is the plugin option that narrows the token keys the
// pseudo-ids ckc, idcard and baikey may use: a pkcs11: URI or URI prefix
// (tokens.go).
const OptionTokenKey = "token_key"

// OptionKeygenToken is the plugin option naming the token (a pkcs11: URI)
// pkcs10.generate_keypair creates key pairs on (pkcs10.go).
const OptionKeygenToken = "keygen_token"

// Plugin options of the transport limits (Limits; README "Limits").
const (
	OptionMaxConnections          = "max_connections"            // a count
	OptionMaxConnectionsPerOrigin = "max_connections_per_origin" // a count
	OptionMaxFrame                = "max_frame"                  // a size: 64MiB
	OptionMaxFrameBeforeAllowed   = "max_frame_before_allowed"   // a size: 1MiB
	OptionFrameBudget             = "frame_budget"               // a size: 128MiB
	OptionFrameTimeout            = "frame_timeout"              // a duration: 30s
)

// Plugin is the E-IMZO protocol plugin.
type Plugin struct{}

// Describe declares the two listeners: wss on 64443 with a certificate
// from the host's local CA (127.0.0.1 and localhost), ws on 64646.
func (Plugin) Describe() sdk.Description {
	return sdk.Description{
		Name:    "eimzo",
		Version: PluginVersion,
		Summary: "E-IMZO WebSocket API (wss://127.0.0.1:64443, ws://127.0.0.1:64646)",
		Listeners: []sdk.ListenerSpec{
			{Name: ListenerWSS, Addr: DefaultWSSAddr, TLS: true},
			{Name: ListenerWS, Addr: DefaultWSAddr},
		},
	}
}

// Serve binds both listeners and serves the E-IMZO API until ctx ends.
func (Plugin) Serve(ctx context.Context, host *sdk.Host) error {
	cfg := Config{Keys: host.KeyService(), Consent: host.Consent(), Logger: host.Logger()}
	if v := host.Option(OptionKeyTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("plugin option %s=%q: want a positive duration like 6h", OptionKeyTTL, v)
		}
		cfg.KeyTTL = d
	}
	if v := host.Option(OptionTokenKey); v != "" {
		if !strings.HasPrefix(v, "pkcs11:") {
			return fmt.Errorf("plugin option %s=%q: want a pkcs11: URI or URI prefix", OptionTokenKey, v)
		}
		cfg.TokenKey = v
	}
	if v := host.Option(OptionKeygenToken); v != "" {
		if !strings.HasPrefix(v, "pkcs11:") {
			return fmt.Errorf("plugin option %s=%q: want a pkcs11: token URI", OptionKeygenToken, v)
		}
		cfg.KeygenToken = v
	}
	limits, err := limitsFromOptions(host.Option)
	if err != nil {
		return err
	}
	cfg.Limits = limits
	srv := NewServer(cfg)
	setMemoryLimit(srv.limits)
	// One handler on both listeners; the drain closes idle WebSockets
	// (Server.Drain) and lets a request waiting for the person finish.
	return sdk.HTTPServer{Listeners: []string{ListenerWSS, ListenerWS}, Handler: srv, OnDrain: srv.Drain}.Serve(ctx, host)
}

// limitsFromOptions reads the limit options; an option left out keeps its
// default (zero).
func limitsFromOptions(option func(string) string) (Limits, error) {
	var l Limits
	for _, o := range []struct {
		name string
		to   *int
	}{{OptionMaxConnections, &l.MaxConns}, {OptionMaxConnectionsPerOrigin, &l.MaxConnsPerOrigin}} {
		if v := option(o.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 || n > maxConnsOption {
				return Limits{}, fmt.Errorf("plugin option %s=%q: want a count from 1 to %d", o.name, v, maxConnsOption)
			}
			*o.to = n
		}
	}
	for _, o := range []struct {
		name string
		to   *int64
	}{{OptionMaxFrame, &l.MaxFrame}, {OptionMaxFrameBeforeAllowed, &l.MaxFrameBeforeAllowed}, {OptionFrameBudget, &l.FrameBudget}} {
		if v := option(o.name); v != "" {
			n, err := parseSize(v)
			if err != nil {
				return Limits{}, fmt.Errorf("plugin option %s=%q: %w", o.name, v, err)
			}
			*o.to = n
		}
	}
	if l.MaxFrame > MaxFrame {
		return Limits{}, fmt.Errorf("plugin option %s: at most %d bytes (64MiB)", OptionMaxFrame, MaxFrame)
	}
	if v := option(OptionFrameTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Limits{}, fmt.Errorf("plugin option %s=%q: want a positive duration like 30s", OptionFrameTimeout, v)
		}
		l.FrameTimeout = d
	}
	return l, nil
}

// memoryHeadroom is what the process may use beyond the frame budget before
// the garbage collector works harder: the connections' own buffers, the
// copies a request makes while it is handled, the runtime.
const memoryHeadroom = 32 << 20

// setMemoryLimit sets the Go runtime's soft memory limit to the frame
// budget plus memoryHeadroom, unless GOMEMLIMIT sets one. The budget bounds
// the live bytes of messages, but a message's buffer doubles as it grows
// and the old buffers stay until the next collection, which by default
// comes only when the heap has doubled: under a flood of large messages
// the process would hold about twice the budget. The limit makes the
// collector return them in time; it is soft, so a large request that needs
// more still gets it.
func setMemoryLimit(l Limits) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(l.FrameBudget + memoryHeadroom)
}

// maxConnsOption bounds the connection-count options.
const maxConnsOption = 1 << 16

// maxSizeOption bounds the size options (1 GiB).
const maxSizeOption = 1 << 30

// parseSize reads a byte size: a number of bytes, or a number with the
// suffix KiB, MiB or GiB ("64MiB").
func parseSize(v string) (int64, error) {
	mult := int64(1)
	num := v
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(v, u.suffix) {
			num, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 || n > maxSizeOption/mult {
		return 0, fmt.Errorf("want a size from 1 byte to 1GiB, like 1048576 or 64MiB")
	}
	return n * mult, nil
}
