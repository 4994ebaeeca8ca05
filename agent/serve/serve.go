// Package serve runs the Signet agent (`signet serve`): it hardens the
// process, loads the configuration, takes the control socket (one agent per
// user), opens the local CA, the journal, the consent dialog and engine and
// the key store, starts the plugins and the dashboard, and on SIGTERM or
// SIGINT gives in-flight plugin operations until the shutdown deadline to
// finish before closing everything in the reverse order. Options.Prompt
// chooses who is asked when a person must decide: the web dialog, the
// terminal, or nobody.
//
// Under systemd (a user service, docs/service.md) the agent tells the
// service manager it is ready (NOTIFY_SOCKET, [Notifier]), logs to the
// journal without its own timestamps ([NewLogger], JOURNAL_STREAM), and
// reloads its policy on SIGHUP without closing a listener.
//
//	err := serve.Run(ctx, serve.Options{
//		ConfigPath: "/etc/signet/config.yaml",
//		Prompt:     serve.PromptWeb,
//		Version:    version,
//	})
//
// The order of the steps and the reasons for it are in
// docs/agent-startup.md.
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
	"github.com/signet-agent/signet/agent/keybackends"
	"github.com/signet-agent/signet/agent/localca"
	"github.com/signet-agent/signet/hsm"
)

// Options configure Run.
type Options struct {
	// ConfigPath is the configuration file; "" means config.DefaultPath
	// when it exists, else SystemConfigPath when it exists (ConfigPath).
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
	// ReloadSignals reload the configuration's policy; nil means SIGHUP.
	ReloadSignals []os.Signal
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
		log = NewLogger(os.Stderr, os.Getenv, slog.LevelInfo)
	}
	notifier, err := NotifierFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	// Before any secret is in memory: no core dumps, not dumpable.
	if err := hardenProcess(); err != nil {
		return err
	}
	if err := opts.setDefaults(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, opts.Signals...)
	defer stop()
	// Taken before anything opens, so an early SIGHUP does not kill us.
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, opts.ReloadSignals...)
	defer signal.Stop(reload)
	start := time.Now()

	cfg, err := loadConfig(opts.ConfigPath)
	if err != nil {
		return err
	}
	ln, err := control.Listen(opts.SocketPath)
	if err != nil {
		return err
	}
	defer ln.Close()

	a := &agent{cfg: cfg, log: log}
	defer a.close()
	if err := a.open(opts.Prompt); err != nil {
		return err
	}
	a.startPlugins(ctx)
	<-a.store.ready // for the figure below; plugins did not wait for it
	log.Info("signet agent ready", "config", cfg.File, "socket", ln.Path(), "plugins", len(a.plugins.Plugins()),
		"startup", time.Since(start).Round(time.Millisecond), "keystore", a.took.keys.Round(time.Millisecond),
		"ca", a.took.ca.Round(time.Millisecond), "plugins_start", a.took.plugins.Round(time.Millisecond), "pid", os.Getpid())
	a.serveControl(ctx, ln, opts, service{notify: notifier, reload: reload})
	return nil
}

// setDefaults fills in the defaults of unset options and checks Prompt.
func (o *Options) setDefaults() error {
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.Signals == nil {
		o.Signals = []os.Signal{syscall.SIGTERM, syscall.SIGINT}
	}
	if o.ReloadSignals == nil {
		o.ReloadSignals = []os.Signal{syscall.SIGHUP}
	}
	switch o.Prompt {
	case "":
		o.Prompt = PromptWeb
	case PromptWeb, PromptTerminal, PromptNone:
	default:
		return fmt.Errorf("prompt %q: want web, terminal or none", o.Prompt)
	}
	return nil
}

// loadConfig loads the configuration at path; "" means the person's own
// file, else the package's (ConfigPath).
func loadConfig(path string) (*config.Config, error) {
	path, err := ConfigPath(path, SystemConfigPath)
	if err != nil {
		return nil, err
	}
	return config.Load(path)
}

// agent holds the running agent's parts; open opens them in order and
// close closes those that were opened, in the reverse order.
type agent struct {
	cfg *config.Config
	log *slog.Logger

	tls     *pluginCA
	journal *journal.Journal
	dialog  *consentui.Server
	engine  *consent.Engine
	store   *lazyStore
	plugins *host.Manager
	closers []func()

	took struct{ ca, keys, plugins time.Duration } // startup figures for the log

	caCreated bool // the local CA was created by this start (first run)
}

// service is what the service manager gives the agent: where to report
// its state, and the reload signals.
type service struct {
	notify Notifier
	reload <-chan os.Signal
}

// open opens the local CA, the consent parts (journal, dialog, engine)
// and the key store, which finishes opening in the background.
func (a *agent) open(prompt string) error {
	if err := a.openCA(); err != nil {
		return err
	}
	if err := a.openConsent(prompt); err != nil {
		return err
	}
	a.openKeys()
	return nil
}

// close closes what open opened, last first.
func (a *agent) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

func (a *agent) onClose(f func()) { a.closers = append(a.closers, f) }

// openCA opens (or creates) the local CA that issues the consent dialog's
// and the plugins' TLS certificates.
func (a *agent) openCA() error {
	t := time.Now()
	dir := filepath.Join(a.cfg.DataDir, "ca")
	ca, err := localca.Open(dir, a.cfg.TLSNames(), localca.Options{})
	if err != nil {
		return fmt.Errorf("local CA: %w", err)
	}
	if ca.Created {
		a.caCreated = true
		a.log.Info(trustHint, "cert", ca.CertFile())
	}
	a.took.ca = time.Since(t)
	// Only configured names; names plugins declare are checked (tlsnames.go).
	a.tls = newPluginCA(ca, a.cfg, a.log)
	return nil
}

// openConsent opens the journal and the consent dialog (HTTPS on
// loopback) and builds the consent engine: admin policy, remembered
// origin decisions, unattended rules, grants, the person.
func (a *agent) openConsent(prompt string) error {
	jr, err := journal.Open(journal.PathIn(a.cfg.DataDir), journal.WithMaxSize(a.cfg.Journal.MaxSize()))
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	a.journal = jr
	a.onClose(func() { jr.Close() })
	dialogTLS, err := a.tls.TLSConfig([]string{"127.0.0.1", "localhost"})
	if err != nil {
		return fmt.Errorf("consent dialog TLS: %w", err)
	}
	dialog, err := consentui.New(consentui.Config{TLS: dialogTLS, Logger: a.log})
	if err != nil {
		return fmt.Errorf("consent dialog: %w", err)
	}
	a.dialog = dialog
	a.onClose(func() { dialog.Close() })
	a.log.Info("consent dialog", "url", dialog.URL(), "prompt", prompt)
	// The engine looks keys up in the store, which opens after it.
	a.engine, err = newEngine(a.cfg, prompt, dialog, jr, a.log,
		func(ctx context.Context, uri string) (hsm.KeyInfo, error) {
			if k, ok := a.uploadedKey(uri); ok {
				return k, nil
			}
			return a.store.Key(ctx, uri)
		},
		func(uri string) (hsm.KeyInfo, bool) {
			if k, ok := a.uploadedKey(uri); ok {
				return k, true
			}
			return a.store.CachedKey(uri)
		})
	if err != nil {
		return fmt.Errorf("consent: %w", err)
	}
	return nil
}

// uploadedKey describes a key of a container a plugin uploaded (held by
// the plugin manager, which starts after the consent engine).
func (a *agent) uploadedKey(uri string) (hsm.KeyInfo, bool) {
	if a.plugins == nil {
		return hsm.KeyInfo{}, false
	}
	return a.plugins.UploadedKey(uri)
}

// openKeys starts opening the key store; the plugins start meanwhile and
// host calls wait for it. A backend that fails to load is logged; the
// store serves those that loaded.
func (a *agent) openKeys() {
	t := time.Now()
	ks := a.cfg.Keystore
	a.store = openLazy(func() *hsm.Store {
		st, err := keybackends.Open(keybackends.Config{
			Modules:          ks.Modules,
			NoProbe:          len(ks.Modules) == 0,
			PFXDirs:          ks.PFXDirs,
			PFXFiles:         ks.PFXFiles,
			EIMZO:            ks.EIMZO,
			MaxSessions:      ks.MaxSessions,
			LoginIdleTimeout: ks.LoginIdleTimeout,
		}, a.engine.PINPrompt())
		if err != nil {
			a.log.Warn("key store", "error", err)
		}
		a.took.keys = time.Since(t) // read after ready
		return st
	})
	a.onClose(func() { a.store.Close() })
}

// startPlugins starts the plugin manager and the dashboard, which follows
// plugin state changes and token insertions and removals. Plugins that do
// not start are logged; the agent runs on.
func (a *agent) startPlugins(ctx context.Context) {
	t := time.Now()
	a.plugins = host.New(host.Config{
		Plugins:  pluginSpecs(a.cfg),
		Dir:      a.cfg.PluginDir,
		KeyStore: a.store,
		Consent:  a.engine,
		TLS:      a.tls,
		Logger:   a.log,
		OnChange: func(host.PluginStatus) { a.dialog.DashboardChanged() },

		PasswordPrompt: a.engine.PINPrompt(),
		PasswordOrigin: a.cfg.Policy.PasswordOrigin,
	})
	dashURL := a.dialog.EnableDashboard(consentui.Dashboard{
		Engine: a.engine, Journal: a.journal, Keys: a.store,
		Plugins: func() []consentui.PluginRow { return pluginRows(a.plugins.Plugins()) },
	})
	a.log.Info("dashboard", "url", dashURL)
	a.onClose(watchTokens(a.store, a.dialog.DashboardChanged, a.log))
	if err := a.plugins.Start(ctx); err != nil {
		a.log.Error("some plugins did not start", "error", err)
	}
	a.took.plugins = time.Since(t)
}

// trustHint is logged (and shown as the service's status) when the local
// CA was just created: browsers trust it only after the person runs this.
const trustHint = "created local CA; run `signet trust install` so browsers trust the agent's local pages"

// serveControl answers the control socket, tells the service manager the
// agent is ready, and reloads the policy on each reload signal until ctx
// is done; then it shuts the plugins down, giving in-flight operations
// until the shutdown deadline to finish.
func (a *agent) serveControl(ctx context.Context, ln *control.Listener, opts Options, svc service) {
	srv := &control.Server{Agent: a.plugins, Version: opts.Version, Log: a.log, Dashboard: a.dialog.DashboardURL}
	srvCtx, srvCancel := context.WithCancel(context.Background())
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(srvCtx, ln) }()

	status := "ready"
	if a.caCreated {
		status = "ready; " + trustHint
	}
	if err := svc.notify.Ready(status); err != nil {
		a.log.Warn("service manager", "error", err)
	}
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-svc.reload:
			if err := svc.notify.Reloading(); err != nil {
				a.log.Warn("service manager", "error", err)
			}
			if err := a.reload(opts.ConfigPath); err != nil {
				a.log.Error("reload", "error", err)
			}
			if err := svc.notify.Ready(status); err != nil {
				a.log.Warn("service manager", "error", err)
			}
		}
	}
	if err := svc.notify.Stopping(); err != nil {
		a.log.Warn("service manager", "error", err)
	}
	a.log.Info("shutting down", "deadline", opts.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	serr := a.plugins.Shutdown(sctx)
	srvCancel()
	<-srvDone
	if serr != nil {
		a.log.Warn("shutdown", "error", serr)
	}
	a.log.Info("stopped")
}

// pluginSpecs converts the configured plugins for the manager.
func pluginSpecs(cfg *config.Config) []host.PluginSpec {
	var out []host.PluginSpec
	for _, p := range cfg.Plugins {
		if !p.IsEnabled() {
			// Named, so that the same file in the plugin directory is not
			// discovered and started anyway.
			out = append(out, host.PluginSpec{Name: p.Name, Disabled: true})
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
