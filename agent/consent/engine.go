package consent

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/grants"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
)

// The Engine is the consent system the host asks (it implements Asker).
// It decides from the administrator's origin lists, the person's
// remembered origin decisions, unattended rules and grants, and asks the
// person (its Prompter) when none of them settles the request, one
// question at a time. Every refusal is the same ErrRefused, whatever the
// reason; the reason goes to the journal, with one record per decision.
// Without a Prompter everything that needs a person is refused. An Engine
// is safe for concurrent use. The order of the steps and the reasoning
// behind them are in docs/consent.md.
type Engine struct {
	cfg       EngineConfig
	pol       atomic.Pointer[policyState] // see SetPolicy
	decisions *Decisions
	grants    *grants.Store
	now       func() time.Time

	qmu    sync.Mutex
	queues map[string]*askQueue // by site; at most cfg.MaxPending
	turn   chan struct{}        // holds a token while a question is open
}

// EngineConfig configures NewEngine.
type EngineConfig struct {
	// Policy is the configuration's policy section (admin lists,
	// unattended rules, PIN sources). Nil means an empty policy.
	Policy *config.Policy
	// Prompter asks the person; nil refuses whatever would need a person.
	Prompter Prompter
	// Grants is the grant store; nil creates one (memory only).
	Grants *grants.Store
	// Journal receives one record per decision and outcome; nil records
	// nothing.
	Journal *journal.Journal
	// DataDir keeps the remembered origin decisions (DecisionsFile);
	// "" keeps them in memory only.
	DataDir string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Timeout bounds each question (default DefaultTimeout).
	Timeout time.Duration
	// KeyInfo looks up the key a request names so that the question can
	// show it (subject, issuer, validity). Called only after the origin
	// passed; may be nil. Errors are ignored (the key store reports them
	// when the operation runs).
	KeyInfo func(ctx context.Context, uri string) (hsm.KeyInfo, error)
	// CachedKey returns what the key store remembers about a key without
	// touching the token (hsm.KeyCache); Record uses it to journal the
	// certificate serial of operations no person was asked about. May be nil.
	CachedKey func(uri string) (hsm.KeyInfo, bool)
	// Log receives one line per refusal (never a PIN); nil discards.
	Log *slog.Logger
	// MaxPending bounds the sites with requests waiting to ask the person
	// (default DefaultMaxPending; see docs/consent.md, "One question at a time").
	MaxPending int
}

// DefaultMaxPending is the default of EngineConfig.MaxPending.
const DefaultMaxPending = 8

// DefaultTimeout is how long a question waits for the person.
const DefaultTimeout = 2 * time.Minute

// MaxDocuments bounds the documents one request (one batch) may list.
const MaxDocuments = 1000

// MaxGrantWithin bounds how long a grant offered by a plugin may last.
const MaxGrantWithin = grants.MaxTTL

// DefaultGrantWithin is the grant duration when the plugin offers uses but
// no duration.
const DefaultGrantWithin = 10 * time.Minute

var (
	// ErrRefused is returned for every refusal, whatever the reason (see
	// docs/consent.md). It matches hsm.ErrDenied.
	ErrRefused = fmt.Errorf("request refused: %w", hsm.ErrDenied)
	// ErrTimedOut is returned when no one answered a question in time. It
	// matches hsm.ErrTimeout.
	ErrTimedOut = fmt.Errorf("no decision in time: %w", hsm.ErrTimeout)
)

// NewEngine builds an Engine and loads the remembered decisions.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.Policy == nil {
		cfg.Policy = &config.Policy{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	g := cfg.Grants
	if g == nil {
		g = grants.New(grants.WithClock(cfg.Now))
	}
	path := ""
	if cfg.DataDir != "" {
		path = filepath.Join(cfg.DataDir, DecisionsFile)
	}
	d, err := OpenDecisions(path)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, decisions: d, grants: g, now: cfg.Now,
		queues: map[string]*askQueue{}, turn: make(chan struct{}, 1)}
	e.SetPolicy(cfg.Policy)
	return e, nil
}

// Decisions returns the remembered origin decisions (for the dashboard:
// list, revoke with Forget).
func (e *Engine) Decisions() *Decisions { return e.decisions }

// Grants returns the grant store (for the dashboard: list, revoke).
func (e *Engine) Grants() *grants.Store { return e.grants }
