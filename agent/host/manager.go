package host

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
)

// KeyService is what the host services need of the key store: the
// methods they call on a plugin's behalf. *hsm.Store implements it.
type KeyService interface {
	Tokens(ctx context.Context) ([]hsm.TokenInfo, error)
	Keys(ctx context.Context) ([]hsm.KeyInfo, error)
	Key(ctx context.Context, keyURI string) (hsm.KeyInfo, error)
	Sign(ctx context.Context, keyURI string, digest []byte, opts crypto.SignerOpts) ([]byte, error)
	Decrypt(ctx context.Context, keyURI string, ciphertext []byte, opts crypto.DecrypterOpts) ([]byte, error)
	GenerateKey(ctx context.Context, req hsm.GenerateKeyRequest) (hsm.KeyInfo, error)
	ImportCertificate(ctx context.Context, req hsm.ImportCertificateRequest) (hsm.KeyInfo, error)
	Close() error
}

var _ KeyService = (*hsm.Store)(nil)

// CertIssuer issues TLS server certificates for plugin listeners (the
// local CA of agent/localca).
type CertIssuer interface {
	Issue(names []string) (tls.Certificate, error)
}

// PluginCertIssuer is implemented by a CertIssuer whose permitted names
// depend on the plugin asking: IssueCertificate then calls IssueFor with
// the plugin's configured name instead of Issue.
type PluginCertIssuer interface {
	IssueFor(plugin string, names []string) (tls.Certificate, error)
}

// NameAllower is implemented by a CertIssuer that decides which of the TLS
// names a plugin declares it honours. The host calls AllowNames with the
// TLS names a plugin declares for its TLS listeners in its Description,
// after Describe and before Start — before the plugin asks for a
// certificate. The agent's issuer never widens its name constraints for a
// plugin: a declared name the configuration does not permit is left out of
// the plugin's certificates (and logged). An error is logged.
type NameAllower interface {
	AllowNames(plugin string, names []string) error
}

// PluginPrefix is the file-name prefix of plugin executables in the plugin
// directory: signet-plugin-NAME.
const PluginPrefix = "signet-plugin-"

// PluginSpec configures one plugin.
type PluginSpec struct {
	Name string // defaults to the file name without PluginPrefix
	Path string // executable
	// SHA256 pins the executable (hex). A binary that does not match is
	// refused and not restarted.
	SHA256 string
	// Listen overrides the plugin's declared listeners: an entry with a
	// Name applies to that listener, entries without one apply in the order
	// the plugin declares its listeners, and Name "*" applies to every
	// listener no other entry names (tests use 127.0.0.1:0).
	Listen  []ListenConfig
	Options map[string]string
	// Disabled keeps a plugin of the plugin directory from starting (the
	// configuration's enabled: false).
	Disabled bool
}

// ListenConfig is the configured address and extra TLS names of one
// plugin listener.
type ListenConfig struct {
	Name     string
	Addr     string // loopback host:port; empty keeps the plugin's default
	TLSNames []string
}

// Config configures a Manager.
type Config struct {
	Plugins []PluginSpec
	// Dir is searched for executables named signet-plugin-*; a plugin
	// named in Plugins with the same name takes precedence (its pin and
	// options apply).
	Dir string
	// KeyStore is the key store the host services use (an *hsm.Store in
	// the agent).
	KeyStore KeyService
	Consent  consent.Asker // nil denies everything
	TLS      CertIssuer    // nil: plugins cannot get TLS certificates
	Logger   *slog.Logger  // nil: slog.Default()
	// OnChange, if set, is called (from the plugin's supervising
	// goroutine, without locks held) after a plugin's state changed; the
	// agent uses it to refresh the dashboard. It must not block.
	OnChange func(PluginStatus)

	// PasswordPrompt asks the person for the password of a key container
	// a plugin uploaded (OpenContainer): the agent's PIN prompt. Nil: such
	// a container opens only with a password policy lets its origin pass.
	PasswordPrompt hsm.PINPrompt
	// PasswordOrigin reports whether the administrator lets origin pass a
	// key container's password from a page (UnlockContainer). Nil: no
	// origin may; the person is always asked.
	PasswordOrigin func(origin string) bool

	// StartTimeout bounds the handshake and the plugin's Start (binding
	// its listeners). Default 10s.
	StartTimeout time.Duration
	// MinBackoff and MaxBackoff bound the restart delay, which doubles on
	// each crash and resets after a plugin ran for StableAfter. Defaults
	// 50ms, 30s, 10s.
	MinBackoff, MaxBackoff, StableAfter time.Duration
}

// Listener is a bound plugin listener.
type Listener struct {
	Name string
	Addr string
	TLS  bool
}

// State of a plugin instance.
type State string

// States.
const (
	Starting   State = "starting"
	Running    State = "running"
	Restarting State = "restarting" // crashed, waiting for backoff
	Failed     State = "failed"     // refused (pin, protocol version, unprotected executable); not restarted
	Stopped    State = "stopped"
)

// PluginStatus is a snapshot of one plugin.
type PluginStatus struct {
	Name       string
	Path       string
	Version    string // from Describe
	Summary    string
	State      State
	PID        int
	Listeners  []Listener
	URLSchemes []string
	Restarts   int
	LastError  string
	Since      time.Time // when the current state began
}

// Manager runs plugins.
type Manager struct {
	cfg     Config
	keys    KeyService
	consent consent.Asker
	tls     CertIssuer
	log     *slog.Logger
	uploads *containers

	mu        sync.Mutex
	instances []*instance
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	reqMu    sync.Mutex
	reqSeen  map[string]struct{}
	reqOrder []string
}

// maxRememberedRequests bounds the request-id memory.
const maxRememberedRequests = 100000

// New returns a Manager; Start runs the plugins.
func New(cfg Config) *Manager {
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 10 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.StableAfter <= 0 {
		cfg.StableAfter = 10 * time.Second
	}
	m := &Manager{cfg: cfg, keys: cfg.KeyStore, consent: cfg.Consent, tls: cfg.TLS, log: cfg.Logger, reqSeen: map[string]struct{}{},
		uploads: newContainers(cfg.PasswordPrompt, cfg.PasswordOrigin)}
	if m.consent == nil {
		m.consent = consent.DenyAll
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	return m
}

// Discover returns the plugins of cfg: those in cfg.Dir, overridden and
// extended by cfg.Plugins, sorted by name.
func Discover(cfg Config) ([]PluginSpec, error) {
	byName := map[string]PluginSpec{}
	if cfg.Dir != "" {
		entries, err := os.ReadDir(cfg.Dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("plugin directory %s: %w", cfg.Dir, err)
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), PluginPrefix) || e.IsDir() {
				continue
			}
			info, err := e.Info()
			if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
				continue
			}
			name := strings.TrimSuffix(strings.TrimPrefix(e.Name(), PluginPrefix), ".exe")
			byName[name] = PluginSpec{Name: name, Path: filepath.Join(cfg.Dir, e.Name())}
		}
	}
	for _, p := range cfg.Plugins {
		if p.Name == "" {
			p.Name = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p.Path), PluginPrefix), ".exe")
		}
		if p.Disabled {
			delete(byName, p.Name)
			continue
		}
		if p.Path == "" {
			found, ok := byName[p.Name]
			if !ok {
				return nil, fmt.Errorf("plugin %s: no path given and no %s%s in the plugin directory", p.Name, PluginPrefix, p.Name)
			}
			p.Path = found.Path
		}
		byName[p.Name] = p
	}
	out := make([]PluginSpec, 0, len(byName))
	for _, p := range byName {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Start discovers the plugins, starts them all and waits until each one is
// ready or its first start failed. It returns the first-start failures
// joined; the failed plugins keep being retried (except refused ones) and
// the others run. Start may be called once.
func (m *Manager) Start(ctx context.Context) error {
	specs, err := Discover(m.cfg)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	m.mu.Lock()
	if m.cancel != nil {
		m.mu.Unlock()
		cancel()
		return errors.New("plugin manager already started")
	}
	m.cancel = cancel
	for _, spec := range specs {
		in := newInstance(m, spec)
		m.instances = append(m.instances, in)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			in.supervise(runCtx)
		}()
	}
	insts := append([]*instance(nil), m.instances...)
	m.mu.Unlock()

	var errs []error
	for _, in := range insts {
		select {
		case <-in.firstDone:
			if err := in.firstErr; err != nil {
				errs = append(errs, err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// Plugins returns a status snapshot of every plugin, sorted by name.
func (m *Manager) Plugins() []PluginStatus {
	m.mu.Lock()
	insts := append([]*instance(nil), m.instances...)
	m.mu.Unlock()
	out := make([]PluginStatus, 0, len(insts))
	for _, in := range insts {
		out = append(out, in.status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ErrNoHandler is returned by OpenURL when no running plugin handles the
// URL's scheme.
var ErrNoHandler = errors.New("no plugin handles this URL scheme")

// OpenURL hands rawURL to the running plugin that registered its scheme.
func (m *Manager) OpenURL(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("open URL: not a URL with a scheme: %w", hsm.ErrInvalidRequest)
	}
	scheme := strings.ToLower(u.Scheme)
	m.mu.Lock()
	insts := append([]*instance(nil), m.instances...)
	m.mu.Unlock()
	for _, in := range insts {
		if in.handles(scheme) {
			return in.openURL(ctx, rawURL)
		}
	}
	return fmt.Errorf("open %s: URL: %w", scheme, ErrNoHandler)
}

// Shutdown stops every plugin: each is asked to stop and given until ctx's
// deadline to finish in-flight work, then killed. Host calls the plugins
// make meanwhile are still served. It returns when all plugins are gone.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	cancel := m.cancel
	insts := append([]*instance(nil), m.instances...)
	m.mu.Unlock()
	if cancel == nil {
		return nil
	}
	for _, in := range insts {
		in.setStopDeadline(ctx)
	}
	cancel()
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		// Kill whatever is left.
		for _, in := range insts {
			in.kill()
		}
		<-done
		return fmt.Errorf("plugins did not stop in time: %w", ctx.Err())
	}
}

// releaseRequest forgets a claim whose signature failed.
func (m *Manager) releaseRequest(plugin, requestID string) {
	m.reqMu.Lock()
	defer m.reqMu.Unlock()
	delete(m.reqSeen, plugin+"\x00"+requestID)
}

// claimRequest records that plugin signs requestID; false if it did
// before (or is doing so now). A failed signature releases its claim.
func (m *Manager) claimRequest(plugin, requestID string) bool {
	key := plugin + "\x00" + requestID
	m.reqMu.Lock()
	defer m.reqMu.Unlock()
	if _, dup := m.reqSeen[key]; dup {
		return false
	}
	m.reqSeen[key] = struct{}{}
	m.reqOrder = append(m.reqOrder, key)
	if len(m.reqOrder) > maxRememberedRequests {
		old := m.reqOrder[0]
		m.reqOrder = m.reqOrder[1:]
		delete(m.reqSeen, old)
	}
	return true
}
