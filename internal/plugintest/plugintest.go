// Package plugintest is the harness behind sdk/plugintest with the host's
// own types showing: tests of the host (agent/host) and of the plugins in
// this repository use it when they need a consent.Asker of their own, the
// key store (*hsm.Store), the SoftHSM fixture or the plugin manager.
// Plugin authors use sdk/plugintest, whose API names none of them.
//
// It runs a Signet plugin under test against a real host:
// the host's plugin manager in the test process, a real SoftHSM2 token with
// RSA-2048, ECDSA P-256 and Ed25519 keys and certificates, an in-memory
// local CA, and consent that approves everything (or the Asker you give).
// The plugin is built with `go build` from its package path and runs as a
// real process, exactly as under `signet serve`.
//
//	func TestMain(m *testing.M) { plugintest.Main(m) }
//
//	func TestSign(t *testing.T) {
//		h := plugintest.Start(t, "example.com/myplugin", nil)
//		resp, err := h.HTTPClient().Get("https://" + h.Addr("https") + "/keys")
//		...
//	}
//
// # SoftHSM and the process
//
// SoftHSM reads its configuration and token list once per process, so Main
// (call it from TestMain) points SOFTHSM2_CONF at a private temporary
// directory, and the first Start creates one token ("plugintest", user PIN
// 1234) and opens the key store; later Starts in the same test binary share
// them. Each Start has its own plugin manager and plugin process, stopped
// when the test ends. Listeners bind 127.0.0.1 on free ports unless
// Config.Listen says otherwise.
package plugintest

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pkcs11"
	"github.com/signet-agent/signet/internal/softhsmtest"
)

// TokenLabel is the label of the token plugintest creates.
const TokenLabel = "plugintest"

// Key labels on the token (see softhsmtest.StandardToken).
const (
	KeyRSA     = softhsmtest.KeyRSA
	KeyECDSA   = softhsmtest.KeyECDSA
	KeyEd25519 = softhsmtest.KeyEd25519
)

// Main is for TestMain: it gives the test binary a private SoftHSM2
// configuration, runs the tests and cleans up.
func Main(m *testing.M) { softhsmtest.Main(m) }

// Config adjusts Start. The zero value (or nil) is fine.
type Config struct {
	// Consent decides on every operation; nil approves everything
	// (consent.AllowAll: a Consent.ChooseKey gets its first candidate).
	Consent consent.Asker
	// Options are the plugin's options, as in the host configuration.
	Options map[string]string
	// Listen overrides listeners; nil binds every listener on 127.0.0.1:0.
	Listen []host.ListenConfig
	// Logger receives the host's and the plugin's log; nil logs to t.Log.
	Logger *slog.Logger
	// Name is the plugin's name in the host (consent requests, journal,
	// rules); "" gives "plugin-under-test".
	Name string
	// BuildFlags are extra `go build` flags for the plugin ("-race",
	// "-cover", "-tags=x").
	BuildFlags []string
	// PasswordPrompt answers the host's password prompt for a key
	// container a plugin uploaded; nil dismisses it.
	PasswordPrompt hsm.PINPrompt
	// PasswordOrigin is the host's password policy (host.Config).
	PasswordOrigin func(origin string) bool
}

// Host is a running host with the plugin under test.
type Host struct {
	Manager *host.Manager
	Store   *hsm.Store
	Fixture *softhsmtest.Fixture
	CA      *host.MemoryCA
	Binary  string
	name    string
}

type shared struct {
	fx    *softhsmtest.Fixture
	store *hsm.Store
	err   error
}

var (
	sharedOnce sync.Once
	sharedKS   shared
)

func keyStore() (*softhsmtest.Fixture, *hsm.Store, error) {
	sharedOnce.Do(func() {
		env := softhsmtest.Shared()
		if env == nil {
			sharedKS.err = fmt.Errorf("plugintest: call plugintest.Main from TestMain")
			return
		}
		fx, err := softhsmtest.NewFixture(env, TokenLabel, softhsmtest.DefaultUserPIN, softhsmtest.DefaultSOPIN, softhsmtest.StandardKeys)
		if err != nil {
			sharedKS.err = err
			return
		}
		pin := fx.UserPIN
		b, err := pkcs11.Open(pkcs11.Config{
			Module: env.Module,
			PINPrompt: func(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
				if req.Attempt > 1 {
					return hsm.PINResponse{}, fmt.Errorf("plugintest: PIN refused: %w", hsm.ErrCancelled)
				}
				return hsm.PINResponse{PIN: []byte(pin)}, nil
			},
		})
		if err != nil {
			sharedKS.err = err
			return
		}
		sharedKS = shared{fx: fx, store: hsm.NewStore(b)}
	})
	return sharedKS.fx, sharedKS.store, sharedKS.err
}

var (
	buildMu sync.Mutex
	built   = map[string]string{}
	buildTo string
)

// Build compiles the plugin package pkg (an import path or a directory
// relative to the test's working directory) with the extra `go build`
// flags once per test binary and returns the executable's path.
func Build(t testing.TB, pkg string, flags ...string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	id := strings.Join(append([]string{pkg}, flags...), "\x00")
	if p, ok := built[id]; ok {
		return p
	}
	if buildTo == "" {
		// Inside the test binary's SoftHSM directory, which Main removes
		// at the end; the system temporary directory without Main.
		parent := ""
		if env := softhsmtest.Shared(); env != nil {
			parent = env.Dir
		}
		d, err := os.MkdirTemp(parent, "plugintest-bin-")
		if err != nil {
			t.Fatalf("plugintest: %v", err)
		}
		buildTo = d
	}
	name := host.PluginPrefix + strings.NewReplacer("/", "-", ".", "-").Replace(strings.Trim(pkg, "./"))
	out := filepath.Join(buildTo, fmt.Sprintf("%s-%d", name, len(built)))
	goTool := "go" // go test puts $GOROOT/bin first on PATH
	args := append(append([]string{"build", "-o", out}, flags...), "--", pkg)
	cmd := exec.Command(goTool, args...)
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("plugintest: go build %s %s: %v\n%s", strings.Join(flags, " "), pkg, err, msg)
	}
	built[id] = out
	return out
}

// Start builds pkg, starts a host with the plugin and waits until the
// plugin is ready. Everything stops when the test ends.
func Start(t testing.TB, pkg string, cfg *Config) *Host {
	t.Helper()
	if cfg == nil {
		cfg = &Config{}
	}
	bin := Build(t, pkg, cfg.BuildFlags...)
	fx, store, err := keyStore()
	if err != nil {
		t.Fatalf("plugintest: key store: %v", err)
	}
	ca, err := host.NewMemoryCA()
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	logger := cfg.Logger
	if logger == nil {
		tw := &testWriter{t: t}
		t.Cleanup(tw.close) // registered first: runs after the shutdown below
		logger = slog.New(slog.NewTextHandler(tw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	asker := cfg.Consent
	if asker == nil {
		asker = consent.AllowAll
	}
	listen := cfg.Listen
	if listen == nil {
		listen = []host.ListenConfig{{Name: "*", Addr: "127.0.0.1:0"}}
	}
	name := cfg.Name
	if name == "" {
		name = "plugin-under-test"
	}
	m := host.New(host.Config{
		Plugins:  []host.PluginSpec{{Name: name, Path: bin, Listen: listen, Options: cfg.Options}},
		KeyStore: store,
		Consent:  asker,
		TLS:      ca,
		Logger:   logger,

		PasswordPrompt: cfg.PasswordPrompt,
		PasswordOrigin: cfg.PasswordOrigin,
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := &Host{Manager: m, Store: store, Fixture: fx, CA: ca, Binary: bin, name: name}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Shutdown(sctx); err != nil {
			t.Errorf("plugintest: shutdown: %v", err)
		}
	})
	if err := m.Start(ctx); err != nil {
		t.Fatalf("plugintest: start plugin: %v", err)
	}
	return h
}

// Name is the plugin's name in the host.
func (h *Host) Name() string { return h.name }

// Status is the plugin's current status.
func (h *Host) Status() host.PluginStatus {
	for _, s := range h.Manager.Plugins() {
		if s.Name == h.name {
			return s
		}
	}
	return host.PluginStatus{}
}

// Addr is the bound address of the plugin's listener name ("" if none).
func (h *Host) Addr(name string) string {
	for _, l := range h.Status().Listeners {
		if l.Name == name {
			return l.Addr
		}
	}
	return ""
}

// TLSConfig trusts the host's local CA only.
func (h *Host) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: h.CA.Pool(), MinVersion: tls.VersionTLS12}
}

// HTTPClient is an HTTP client that trusts the host's local CA.
func (h *Host) HTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: h.TLSConfig()},
		Timeout:   30 * time.Second,
	}
}

// KeyURI returns the URI of the key labelled label (KeyRSA, KeyECDSA,
// KeyEd25519) on the plugintest token.
func (h *Host) KeyURI(t testing.TB, label string) string {
	t.Helper()
	return h.Key(t, label).URI
}

// Key returns the key labelled label on the plugintest token.
func (h *Host) Key(t testing.TB, label string) hsm.KeyInfo {
	t.Helper()
	keys, err := h.Store.Keys(context.Background())
	if err != nil && len(keys) == 0 {
		t.Fatalf("plugintest: list keys: %v", err)
	}
	for _, k := range keys {
		if k.Label == label && k.HasPrivateKey && strings.Contains(k.TokenURI, "token="+TokenLabel) {
			return k
		}
	}
	t.Fatalf("plugintest: no key %q on token %s", label, TokenLabel)
	return hsm.KeyInfo{}
}

// testWriter sends log lines to t.Log until the test is over.
type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
