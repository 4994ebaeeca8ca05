// Package serve assembles the Signet agent (`signet serve`): configuration
// → control socket (single instance) → local CA → journal, consent dialog
// and consent engine → key store → plugin manager, and tears it down in the
// reverse order on SIGTERM/SIGINT, giving in-flight plugin operations until
// the shutdown deadline to finish.
//
// Before anything else it makes the process non-dumpable and sets its core
// size limit to 0 (Linux): the agent holds decrypted PFX keys and PINs, and
// no other process of the same user may read its memory or environment.
//
// # Consent
//
// Every host call is decided by a consent.Engine built from the
// configuration's policy: the administrator's origin lists, the person's
// remembered origin decisions (DATA_DIR/origins.json), the unattended rules,
// grants, and otherwise a question in the local web dialog (agent/consentui,
// HTTPS with a local-CA leaf on loopback). Decisions and outcomes go to the
// journal (DATA_DIR/journal.jsonl). PINs come from the unattended PIN
// sources (file or environment) for the tokens they name, else from the web
// dialog.
//
// Options.Prompt chooses who is asked: "web" (default) the dialog above;
// "terminal" the agent's controlling terminal (/dev/tty, consent.Terminal),
// for an agent run in the foreground of an interactive CLI; "none" nobody —
// only the policy and the unattended rules decide, and whatever would need
// a person (approval or PIN) is refused at once with hsm.ErrDenied /
// hsm.ErrCancelled instead of waiting.
//
// # Dashboard
//
// The dialog server also serves the dashboard (consentui.EnableDashboard):
// tokens and keys, plugins, remembered origins, grants, journal. Its URL
// (with its random token) is logged at start and answered on the control
// socket ("dashboard", `signet dashboard`). Open dashboards reload on token
// insertion/removal (hsm.Store.Watch), plugin state changes
// (host.Config.OnChange), finished dialogs and revocations.
package serve

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/consentui"
	"github.com/signet-agent/signet/agent/control"
	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/agent/keystore"
	"github.com/signet-agent/signet/agent/localca"
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
	// Prompt is who is asked when a person must decide: PromptWeb
	// (default, ""), PromptTerminal or PromptNone.
	Prompt string
}

// Prompt choices.
const (
	PromptWeb      = "web"
	PromptTerminal = "terminal"
	PromptNone     = "none"
)

// Run runs the agent until ctx is done or a stop signal arrives.
func Run(ctx context.Context, opts Options) error {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	// Before any secret is in memory: no core dumps, not dumpable.
	if err := hardenProcess(); err != nil {
		return err
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	sigs := opts.Signals
	if sigs == nil {
		sigs = []os.Signal{syscall.SIGTERM, syscall.SIGINT}
	}
	switch opts.Prompt {
	case "":
		opts.Prompt = PromptWeb
	case PromptWeb, PromptTerminal, PromptNone:
	default:
		return fmt.Errorf("prompt %q: want web, terminal or none", opts.Prompt)
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

	tCA := time.Now()
	ca, err := localca.Open(filepath.Join(cfg.DataDir, "ca"), cfg.TLSNames(), localca.Options{})
	if err != nil {
		return fmt.Errorf("local CA: %w", err)
	}
	if ca.Created {
		log.Info("created local CA; run `signet trust install` to trust it", "cert", ca.CertFile())
	}

	caTook := time.Since(tCA)
	// Only configured names; names plugins declare are checked (tlsnames.go).
	tlsCA := newPluginCA(ca, cfg, log)

	// Consent: admin policy, remembered origin decisions, unattended rules,
	// grants, the person (the web dialog on loopback), journal.
	jr, err := journal.Open(journal.PathIn(cfg.DataDir), journal.WithMaxSize(cfg.Journal.MaxSize()))
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer jr.Close()
	dialogTLS, err := tlsCA.TLSConfig([]string{"127.0.0.1", "localhost"})
	if err != nil {
		return fmt.Errorf("consent dialog TLS: %w", err)
	}
	dialog, err := consentui.New(consentui.Config{TLS: dialogTLS, Logger: log})
	if err != nil {
		return fmt.Errorf("consent dialog: %w", err)
	}
	defer dialog.Close()
	log.Info("consent dialog", "url", dialog.URL(), "prompt", opts.Prompt)
	var store *lazyStore
	engine, err := newEngine(cfg, opts.Prompt, dialog, jr, log,
		func(ctx context.Context, uri string) (hsm.KeyInfo, error) { return store.Key(ctx, uri) },
		func(uri string) (hsm.KeyInfo, bool) { return store.CachedKey(uri) })
	if err != nil {
		return fmt.Errorf("consent: %w", err)
	}

	// The key store opens while the plugins start; host calls wait for it.
	tKeys := time.Now()
	var keysTook time.Duration
	store = openLazy(func() *hsm.Store {
		st, err := keystore.Open(keystore.Config{
			Modules:          cfg.Keystore.Modules,
			NoProbe:          len(cfg.Keystore.Modules) == 0,
			PFXDirs:          cfg.Keystore.PFXDirs,
			PFXFiles:         cfg.Keystore.PFXFiles,
			EIMZO:            cfg.Keystore.EIMZO,
			MaxSessions:      cfg.Keystore.MaxSessions,
			LoginIdleTimeout: cfg.Keystore.LoginIdleTimeout,
		}, engine.PINPrompt())
		if err != nil {
			// The store still serves the backends that loaded.
			log.Warn("key store", "error", err)
		}
		keysTook = time.Since(tKeys)
		return st
	})
	defer store.Close()

	tPlugins := time.Now()
	mgr := host.New(host.Config{
		Plugins:  pluginSpecs(cfg),
		Dir:      cfg.PluginDir,
		KeyStore: store,
		Consent:  engine,
		TLS:      tlsCA,
		Logger:   log,
		OnChange: func(host.PluginStatus) { dialog.DashboardChanged() },
	})
	dashURL := dialog.EnableDashboard(consentui.Dashboard{
		Engine: engine, Journal: jr, Keys: store,
		Plugins: func() []consentui.PluginRow { return pluginRows(mgr.Plugins()) },
	})
	log.Info("dashboard", "url", dashURL)
	stopWatch := watchTokens(store, dialog.DashboardChanged, log)
	defer stopWatch()
	if err := mgr.Start(ctx); err != nil {
		log.Error("some plugins did not start", "error", err)
	}
	<-store.ready // for the figure below; plugins did not wait for it
	log.Info("signet agent ready", "config", cfg.File, "socket", ln.Path(), "plugins", len(mgr.Plugins()),
		"startup", time.Since(start).Round(time.Millisecond), "keystore", keysTook.Round(time.Millisecond),
		"ca", caTook.Round(time.Millisecond), "plugins_start", time.Since(tPlugins).Round(time.Millisecond), "pid", os.Getpid())

	srv := &control.Server{Agent: mgr, Version: opts.Version, Log: log, Dashboard: dialog.DashboardURL}
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

// newEngine builds the consent engine for cfg with the prompter that
// prompt names (the web dialog, the terminal, or none).
func newEngine(cfg *config.Config, prompt string, dialog consent.Prompter, jr *journal.Journal, log *slog.Logger,
	keyInfo func(context.Context, string) (hsm.KeyInfo, error), cachedKey func(string) (hsm.KeyInfo, bool)) (*consent.Engine, error) {
	var prompter consent.Prompter // nil (PromptNone): refuse what would ask, at once
	switch prompt {
	case PromptWeb, "":
		prompter = dialog
	case PromptTerminal:
		prompter = consent.NewTerminal()
	case PromptNone:
	default:
		return nil, fmt.Errorf("prompt %q: want web, terminal or none", prompt)
	}
	return consent.NewEngine(consent.EngineConfig{
		Policy: &cfg.Policy, Prompter: prompter, Journal: jr, DataDir: cfg.DataDir, Log: log, KeyInfo: keyInfo,
		CachedKey: cachedKey,
	})
}

// watchTokens calls changed on every token insertion or removal, once the
// store is open, until the returned stop is called (stop waits for the
// watcher to end).
func watchTokens(store *lazyStore, changed func(), log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-store.ready:
		case <-ctx.Done():
			return
		}
		if store.store == nil {
			return
		}
		ch, err := store.store.Watch(ctx)
		if err != nil {
			log.Warn("token watch: the dashboard will not follow insertions and removals live", "error", err)
			return
		}
		for ev := range ch {
			log.Debug("token event", "token", ev.Token.Label, "removed", ev.Removed)
			changed()
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// pluginRows adapts plugin statuses for the dashboard.
func pluginRows(ps []host.PluginStatus) []consentui.PluginRow {
	rows := make([]consentui.PluginRow, 0, len(ps))
	for _, p := range ps {
		var detail []string
		if p.Version != "" {
			detail = append(detail, "version "+p.Version)
		}
		if p.PID > 0 {
			detail = append(detail, fmt.Sprintf("pid %d", p.PID))
		}
		for _, l := range p.Listeners {
			detail = append(detail, l.Name+" "+l.Addr)
		}
		if p.Restarts > 0 {
			detail = append(detail, fmt.Sprintf("%d restarts", p.Restarts))
		}
		if p.LastError != "" && p.State != host.Running {
			detail = append(detail, "last error: "+p.LastError)
		}
		rows = append(rows, consentui.PluginRow{Name: p.Name, State: string(p.State), Detail: strings.Join(detail, ", ")})
	}
	return rows
}
