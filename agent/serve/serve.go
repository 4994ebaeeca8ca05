// Package serve assembles the Signet agent (`signet serve`): configuration
// → control socket (single instance) → key store → local CA → plugin
// manager, and tears it down in the reverse order on SIGTERM/SIGINT, giving
// in-flight plugin operations until the shutdown deadline to finish.
//
// # Consent until the consent system lands
//
// The real consent system (issue 5: browser dialog, grants, journal) is not
// assembled yet. Until then the agent decides with the configuration only:
// the administrator's origin deny list refuses; otherwise the unattended
// rules (policy.unattended.rules) decide, first match wins, "ask" refuses
// because no one can be asked; no matching rule refuses. PINs come from the
// unattended PIN sources (file or environment), else from the terminal
// when the agent runs in one, else the operation is cancelled.
package serve

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/control"
	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/agent/keystore"
	"github.com/signet-agent/signet/agent/localca"
	"github.com/signet-agent/signet/agent/prompt"
	"github.com/signet-agent/signet/hsm"
)

// Options configure Run.
type Options struct {
	// ConfigPath is the configuration file; "" means config.DefaultPath.
	ConfigPath string
	// SocketPath is the control socket; "" means control.SocketPath().
	SocketPath string
	// Version is reported on the control socket.
	Version string
	// Log receives the agent's log; nil writes text to stderr.
	Log *slog.Logger
	// ShutdownTimeout bounds the graceful shutdown. Default 10s.
	ShutdownTimeout time.Duration
	// Signals stop the agent; nil means SIGTERM and SIGINT.
	Signals []os.Signal
}

// Run runs the agent until ctx is done or a stop signal arrives.
func Run(ctx context.Context, opts Options) error {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	sigs := opts.Signals
	if sigs == nil {
		sigs = []os.Signal{syscall.SIGTERM, syscall.SIGINT}
	}
	ctx, stop := signal.NotifyContext(ctx, sigs...)
	defer stop()
	start := time.Now()

	path := opts.ConfigPath
	if path == "" {
		p, err := config.DefaultPath()
		if err != nil {
			return err
		}
		path = p
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}

	ln, err := control.Listen(opts.SocketPath)
	if err != nil {
		return err
	}
	defer ln.Close()

	// The key store opens while the plugins start; host calls wait for it.
	tKeys := time.Now()
	var keysTook time.Duration
	store := openLazy(func() *hsm.Store {
		st, err := keystore.Open(keystore.Config{
			Modules:          cfg.Keystore.Modules,
			NoProbe:          len(cfg.Keystore.Modules) == 0,
			PFXDirs:          cfg.Keystore.PFXDirs,
			PFXFiles:         cfg.Keystore.PFXFiles,
			EIMZO:            cfg.Keystore.EIMZO,
			MaxSessions:      cfg.Keystore.MaxSessions,
			LoginIdleTimeout: cfg.Keystore.LoginIdleTimeout,
		}, pinPrompt(cfg))
		if err != nil {
			// The store still serves the backends that loaded.
			log.Warn("key store", "error", err)
		}
		keysTook = time.Since(tKeys)
		return st
	})
	defer store.Close()

	tCA := time.Now()
	ca, err := localca.Open(filepath.Join(cfg.DataDir, "ca"), cfg.TLSNames(), localca.Options{})
	if err != nil {
		return fmt.Errorf("local CA: %w", err)
	}
	if ca.Created {
		log.Info("created local CA; run `signet trust install` to trust it", "cert", ca.CertFile())
	}

	caTook := time.Since(tCA)
	tPlugins := time.Now()
	mgr := host.New(host.Config{
		Plugins:  pluginSpecs(cfg),
		Dir:      cfg.PluginDir,
		KeyStore: store,
		Consent:  ConfigConsent(cfg),
		TLS:      ca,
		Logger:   log,
	})
	if err := mgr.Start(ctx); err != nil {
		log.Error("some plugins did not start", "error", err)
	}
	<-store.ready // for the figure below; plugins did not wait for it
	log.Info("signet agent ready", "config", cfg.File, "socket", ln.Path(), "plugins", len(mgr.Plugins()),
		"startup", time.Since(start).Round(time.Millisecond), "keystore", keysTook.Round(time.Millisecond),
		"ca", caTook.Round(time.Millisecond), "plugins_start", time.Since(tPlugins).Round(time.Millisecond), "pid", os.Getpid())

	srv := &control.Server{Agent: mgr, Version: opts.Version, Log: log}
	srvCtx, srvCancel := context.WithCancel(context.Background())
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(srvCtx, ln) }()

	<-ctx.Done()
	log.Info("shutting down", "deadline", opts.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	serr := mgr.Shutdown(sctx)
	srvCancel()
	<-srvDone
	if serr != nil {
		log.Warn("shutdown", "error", serr)
	}
	log.Info("stopped")
	return nil
}

// pluginSpecs converts the configured plugins for the manager.
func pluginSpecs(cfg *config.Config) []host.PluginSpec {
	var out []host.PluginSpec
	for _, p := range cfg.Plugins {
		if !p.IsEnabled() {
			continue
		}
		path := p.Path
		if _, err := os.Stat(path); err != nil {
			// config defaults the path to PLUGIN_DIR/NAME; the installed
			// file may follow the signet-plugin-NAME convention.
			alt := filepath.Join(filepath.Dir(path), host.PluginPrefix+p.Name)
			if _, err := os.Stat(alt); err == nil {
				path = alt
			}
		}
		spec := host.PluginSpec{Name: p.Name, Path: path, SHA256: p.SHA256, Options: p.Options}
		for _, l := range p.Listen {
			spec.Listen = append(spec.Listen, host.ListenConfig{Name: l.Name, Addr: l.Bind, TLSNames: l.Names})
		}
		out = append(out, spec)
	}
	return out
}

// ConfigConsent decides with the configuration alone (see the package doc).
func ConfigConsent(cfg *config.Config) consent.Asker {
	type rule struct {
		config.Rule
		pattern *config.Pattern
	}
	var rules []rule
	for _, r := range cfg.Policy.Unattended.Rules {
		rr := rule{Rule: r}
		if r.Origin != "" && r.Origin != "*" && r.Origin != "local" {
			if p, err := config.ParsePattern(r.Origin); err == nil {
				rr.pattern = &p
			}
		}
		rules = append(rules, rr)
	}
	var mu sync.Mutex
	used := make([]int, len(rules))
	return consent.AskerFunc(func(_ context.Context, req consent.Request) error {
		if req.Origin != "" && cfg.Policy.Admin(req.Origin) == config.AdminDeny {
			return fmt.Errorf("origin %s is refused by the administrator: %w", req.Origin, hsm.ErrDenied)
		}
		mu.Lock()
		defer mu.Unlock()
		for i, r := range rules {
			switch {
			case r.Origin == "local" && req.Origin != "":
				continue
			case r.pattern != nil && !r.pattern.Match(req.Origin):
				continue
			}
			if r.Plugin != "" && r.Plugin != "*" && r.Plugin != req.Plugin {
				continue
			}
			if r.Key != "" && r.Key != req.KeyURI {
				continue
			}
			// An origin's first-use question is answered by any rule for
			// that origin; it does not consume uses.
			if r.Operation != "" && r.Operation != "*" && r.Operation != string(req.Kind) && req.Kind != consent.Origin {
				continue
			}
			switch r.Action {
			case "allow":
				if r.Uses > 0 && req.Kind != consent.Origin {
					if used[i] >= r.Uses {
						continue
					}
					used[i]++
				}
				return nil
			case "deny":
				return fmt.Errorf("%s refused by policy: %w", req.Kind, hsm.ErrDenied)
			default: // ask
				return fmt.Errorf("%s needs a person's approval and no consent dialog is available: %w", req.Kind, hsm.ErrDenied)
			}
		}
		return fmt.Errorf("%s by plugin %s: no policy rule allows it: %w", req.Kind, req.Plugin, hsm.ErrDenied)
	})
}

// pinPrompt routes PIN requests to the unattended PIN sources, else the
// terminal when there is one.
func pinPrompt(cfg *config.Config) hsm.PINPrompt {
	type source struct {
		match  func(uri string) bool
		prompt hsm.PINPrompt
	}
	var sources []source
	for _, s := range cfg.Policy.Unattended.PINSources {
		var p hsm.PINPrompt
		switch {
		case s.File != "":
			p = prompt.FromFile(s.File)
		case s.Env != "":
			p = prompt.FromEnv(s.Env)
		default:
			continue
		}
		sources = append(sources, source{match: uriMatcher(s.Token), prompt: p})
	}
	interactive := term.IsTerminal(int(os.Stdin.Fd()))
	return func(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
		for _, s := range sources {
			if s.match(req.Token.URI) {
				return s.prompt(ctx, req)
			}
		}
		if interactive {
			return prompt.Terminal()(ctx, req)
		}
		return hsm.PINResponse{}, fmt.Errorf("%s for %s: no PIN source configured and no terminal: %w", req.Kind, req.Token.Label, hsm.ErrCancelled)
	}
}

// uriMatcher matches a configured token URI against a token's URI: for
// pkcs11: URIs every attribute of the pattern must appear in the token's
// URI; other URIs must be equal.
func uriMatcher(pattern string) func(string) bool {
	if !strings.HasPrefix(pattern, "pkcs11:") {
		return func(uri string) bool { return uri == pattern }
	}
	want := strings.Split(strings.TrimPrefix(pattern, "pkcs11:"), ";")
	return func(uri string) bool {
		if !strings.HasPrefix(uri, "pkcs11:") {
			return false
		}
		path, _, _ := strings.Cut(strings.TrimPrefix(uri, "pkcs11:"), "?")
		have := map[string]bool{}
		for _, a := range strings.Split(path, ";") {
			have[a] = true
		}
		for _, w := range want {
			if w != "" && !have[w] {
				return false
			}
		}
		return true
	}
}
