// Package consentui is Signet's local web consent dialog: a small HTTPS
// server on loopback that implements consent.Prompter. Confirm (an
// operation, or an origin's first use) and PIN (a PIN or PFX password)
// each open a dialog under a fresh random id through a single-use link in
// the person's browser, and block until the person answers, the dialog
// times out (hsm.ErrTimeout) or ctx is done (hsm.ErrCancelled). Deny is an
// answer, not an error. The page shows what Signet checked apart from what
// the asking page claims; only same-origin POSTs carrying the page's CSRF
// token answer, and a PIN never becomes a Go string, a log line or part of
// a page. Keys are named as people know them (owner, organisation,
// national identifiers, issuer, validity, token or file), and both pages
// speak the browser's language (English, Russian, Ukrainian, Uzbek).
// EnableDashboard adds the person's dashboard (keys, plugins, remembered
// origins, grants, the journal filtered and paged; forget, revoke, lock
// all tokens). A Server is safe for concurrent use. The reasoning is in
// docs/consent-dialog.md and docs/dashboard.md.
//
//	tlsCfg, err := ca.TLSConfig([]string{"127.0.0.1"}) // a leaf of agent/localca
//	if err != nil {
//		return err
//	}
//	dialog, err := consentui.New(consentui.Config{TLS: tlsCfg})
//	if err != nil {
//		return err
//	}
//	defer dialog.Close()
//	engine, err := consent.NewEngine(consent.EngineConfig{Prompter: dialog, Journal: j})
//	...
//	url := dialog.EnableDashboard(consentui.Dashboard{Engine: engine, Journal: j})
package consentui

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/peercred"
)

// Defaults.
const (
	DefaultAddr    = "127.0.0.1:0"
	DefaultTimeout = 2 * time.Minute
	// keepFinished is how long a finished dialog stays viewable.
	keepFinished = 5 * time.Minute
	maxBody      = 4096
	// sessionCookie names the cookie a dialog's link is swapped for; its
	// Path is the dialog's own /q/ID, so dialogs never share one.
	sessionCookie = "signet_dialog"
)

// Config configures a Server.
type Config struct {
	// Addr is the listen address; it must be a loopback address.
	// Default 127.0.0.1:0 (any free port).
	Addr string
	// TLS serves HTTPS (a localca leaf). Required unless InsecurePlainHTTP.
	TLS *tls.Config
	// InsecurePlainHTTP allows plain HTTP on loopback when TLS is nil.
	// Tests only.
	InsecurePlainHTTP bool
	// Open shows a dialog's single-use link to the person; default
	// OpenBrowser (the link goes through a private redirect file, never
	// onto a command line).
	Open func(url string) error
	// Timeout bounds each dialog; default two minutes.
	Timeout time.Duration
	// Now is the clock used for deadlines shown in the page (tests).
	Now func() time.Time
	// Logger receives events (never secrets); default slog.Default().
	Logger *slog.Logger
}

// Server is the dialog server. It implements consent.Prompter.
type Server struct {
	cfg    Config
	ln     net.Listener
	srv    *http.Server
	base   string // scheme://host:port
	port   string
	log    *slog.Logger
	closed chan struct{}

	mu      sync.Mutex
	dialogs map[string]*dialog // by id
	dash    *dashboard         // nil until EnableDashboard
}

var _ consent.Prompter = (*Server)(nil)

// New starts a Server listening on cfg.Addr.
func New(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Open == nil {
		cfg.Open = OpenBrowser
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TLS == nil && !cfg.InsecurePlainHTTP {
		return nil, errors.New("consentui: a TLS configuration is required (plain HTTP is for tests only)")
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("consentui: listen address %q: %w", cfg.Addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("consentui: listen address %q is not a loopback IP address", cfg.Addr)
	}
	// The dialog's TCP listener (TLS is layered on top of it below).
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("consentui: listen on %s: %w", cfg.Addr, err)
	}
	ln = peercred.NewListener(ln, cfg.Logger) // only this user's connections, before TLS
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
		ln = tls.NewListener(ln, cfg.TLS)
	}
	s := &Server{
		cfg:     cfg,
		ln:      ln,
		log:     cfg.Logger,
		base:    scheme + "://" + ln.Addr().String(),
		closed:  make(chan struct{}),
		dialogs: map[string]*dialog{},
	}
	_, s.port, _ = net.SplitHostPort(ln.Addr().String())
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("consent dialog server stopped", "err", err)
		}
	}()
	return s, nil
}

// URL is the server's base URL (scheme://127.0.0.1:port).
func (s *Server) URL() string { return s.base }

// Close stops the server; pending dialogs fail with hsm.ErrCancelled.
func (s *Server) Close() error {
	select {
	case <-s.closed:
		return nil
	default:
	}
	close(s.closed)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	return err
}

// dialog kinds
const (
	kindConfirm = "confirm"
	kindPIN     = "pin"
)

// dialog states
const (
	statePending  = "pending"
	stateAnswered = "answered"
	stateExpired  = "expired"
	stateCanceled = "cancelled"
	stateLocked   = "locked"
)

type outcome struct {
	answer consent.Answer
	pin    hsm.PINResponse
	err    error
}

type dialog struct {
	id       string // in the path: /q/ID
	link     string // the single-use key of the opened link (?k=)
	session  string // the cookie the link is swapped for
	csrf     string
	kind     string
	q        consent.Question
	pinReq   hsm.PINRequest
	req      consent.Request // what the PIN is for
	hasReq   bool
	deadline time.Time

	// guarded by Server.mu
	state    string
	notice   string // a message key (notice*) shown above the form
	finished time.Time
	linkUsed bool          // the link was loaded once; it never works again
	changed  chan struct{} // closed and replaced on every state change

	result chan outcome // buffered 1; written once
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("consentui: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// Confirm implements consent.Prompter.
func (s *Server) Confirm(ctx context.Context, q consent.Question) (consent.Answer, error) {
	d := &dialog{kind: kindConfirm, q: q}
	out, err := s.run(ctx, d, q.Deadline)
	if err != nil {
		return consent.Answer{}, err
	}
	return out.answer, nil
}

// PIN implements consent.Prompter (and has the shape of hsm.PINPrompt).
func (s *Server) PIN(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
	d := &dialog{kind: kindPIN, pinReq: req}
	d.req, d.hasReq = consent.RequestFrom(ctx)
	if req.State.Locked {
		s.register(d, time.Time{})
		s.finish(d, stateLocked, outcome{})
		s.open(d)
		return hsm.PINResponse{}, fmt.Errorf("%s for token %s: %w", req.Kind, req.Token.Label, hsm.ErrPINLocked)
	}
	out, err := s.run(ctx, d, time.Time{})
	if err != nil {
		return hsm.PINResponse{}, err
	}
	return out.pin, nil
}

// run registers d, opens its window, and waits for its outcome.
func (s *Server) run(ctx context.Context, d *dialog, deadline time.Time) (outcome, error) {
	s.register(d, deadline)
	s.open(d)
	timer := time.NewTimer(d.deadline.Sub(s.cfg.Now()))
	defer timer.Stop()
	what := d.kind + " dialog " + d.q.ID
	select {
	case out := <-d.result:
		return out, out.err
	case <-timer.C:
		if s.finish(d, stateExpired, outcome{}) {
			s.log.Info("consent dialog expired", "kind", d.kind, "id", d.q.ID)
			return outcome{}, fmt.Errorf("%s: no answer within the time limit: %w", what, hsm.ErrTimeout)
		}
	case <-ctx.Done():
		if s.finish(d, stateCanceled, outcome{}) {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return outcome{}, fmt.Errorf("%s: %w: %w", what, hsm.ErrTimeout, ctx.Err())
			}
			return outcome{}, fmt.Errorf("%s: %w: %w", what, hsm.ErrCancelled, ctx.Err())
		}
	case <-s.closed:
		if s.finish(d, stateCanceled, outcome{}) {
			return outcome{}, fmt.Errorf("%s: dialog server closed: %w", what, hsm.ErrCancelled)
		}
	}
	// Lost the race against an answer: it is already in the channel.
	out := <-d.result
	return out, out.err
}

func (s *Server) register(d *dialog, deadline time.Time) {
	now := s.cfg.Now()
	d.id = randomHex(16)
	d.link = randomHex(16)
	d.session = randomHex(16)
	d.csrf = randomHex(16)
	d.deadline = now.Add(s.cfg.Timeout)
	if !deadline.IsZero() && deadline.Before(d.deadline) {
		d.deadline = deadline
	}
	d.state = statePending
	d.changed = make(chan struct{})
	d.result = make(chan outcome, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, old := range s.dialogs {
		if old.state != statePending && now.Sub(old.finished) > keepFinished {
			delete(s.dialogs, id)
		}
	}
	s.dialogs[d.id] = d
}

// open shows d's single-use link to the person: every question gets its
// own window, never one that is already open for another question.
func (s *Server) open(d *dialog) {
	s.log.Info("consent dialog pending", "kind", d.kind, "id", d.q.ID)
	u := s.base + "/q/" + d.id + "?k=" + d.link
	if err := s.cfg.Open(u); err != nil {
		// Headless box, no xdg-open: the person can still open it by hand
		// (the link is the dialog's capability, but the log is the user's own).
		s.log.Warn("consent dialog: cannot open the browser; open the URL by hand", "id", d.q.ID, "url", u, "err", err)
	}
}

// finish moves d out of pending and delivers out; it reports whether this
// call did it (false when another outcome won).
func (s *Server) finish(d *dialog, state string, out outcome) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.state != statePending {
		return false
	}
	d.state = state
	d.finished = s.cfg.Now()
	d.notice = ""
	close(d.changed)
	d.changed = make(chan struct{})
	d.result <- out
	s.changedLocked() // a decision may have added a grant or a journal record
	return true
}

func (s *Server) lookup(id string) *dialog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dialogs[id]
}
