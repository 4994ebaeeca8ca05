package consent

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/grants"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
)

// The Engine is the consent system the host asks (it implements Asker).
//
// # Order of decision
//
// For a request from a web origin:
//
//  1. The administrator's lists (policy.allow / policy.deny): a deny
//     refuses, before and regardless of anything the person remembered; an
//     allow skips the first-use question.
//  2. The person's remembered decision for the origin (Decisions, kept in
//     DATA_DIR/origins.json): Never refuses; Always skips the first-use
//     question.
//  3. An unattended allow rule naming the origin (and plugin) also skips it.
//  4. Otherwise the first-use question (Question.FirstUse) with the request
//     itself: Allow once answers this request only, Always remembers the
//     origin, Deny refuses (Deny + Remember remembers Never). One dialog
//     covers the origin and the operation it came with. Always and grants
//     are never kept for the opaque origin "null", which unrelated
//     sandboxed pages share.
//
// Local callers (Request.Origin empty, Request.Caller set) skip 1–4.
//
// Listing (Kind List) and the origin question (Kind Origin) need nothing
// more, unless an unattended rule names them. Key use (sign, decrypt,
// keygen, csr, import) then goes through:
//
//  5. Unattended rules (policy.unattended.rules), first match: allow (taking
//     a use when counted), deny, ask (go on to the person).
//  6. A grant (agent/grants) covering origin, plugin, key and operation —
//     the one named by Request.GrantID when set — consumed atomically.
//  7. The person: Question with the request (the key and certificate looked
//     up through EngineConfig.KeyInfo, only once 1–4 passed). When the plugin offers a
//     grant (Request.GrantUses > 1) and the person accepts it
//     (Answer.Remember), a grant of GrantUses-1 further uses within
//     GrantWithin is created (Request.GrantOnly: a request for the grant
//     alone, Cipher's accessToken, skips step 6 and creates a grant of all
//     GrantUses uses; after a first-use question it is asked separately,
//     only once the origin is remembered). Its ID goes to the journal and, when the
//     caller attached an Outcome (WithOutcome), to Outcome.GrantID: the
//     host returns it to the plugin, which hands it to the page.
//
// Without a Prompter (headless agent) every step that would ask refuses.
//
// # Choosing a key
//
// A request with Choices (sdk Consent.ChooseKey; E-IMZO's pseudo key ids
// "ckc", "idcard", "baikey": whatever token key the person picks) is a
// signature whose key the person picks, in one dialog with the operation:
//
//  1. Steps 1–4 as for any request: a refused origin is refused before
//     the key store is touched (and without a Prompter a first-use origin
//     is refused there too).
//  2. The candidates are looked up (EngineConfig.KeyInfo); unknown ones and
//     ones without a private key are dropped. None left: ErrKeyNotFound for
//     an approved origin, ErrRefused for a first-use one (an origin nobody
//     approved learns nothing about the keys). A first-use origin's
//     candidates are looked up to be shown in its dialog.
//  3. Unattended rules are applied to each candidate as to a signature
//     with it, without taking a counted use: candidates a rule denies are
//     dropped (none left: refused); when exactly one is left and a rule
//     allows it, it is picked without asking and no grant is made — the
//     rule then decides (and counts) the signature itself.
//  4. Otherwise the person picks, in one Question carrying the candidates
//     (FirstUse set for a first-use origin, whose choices come in the same
//     dialog). Answer.KeyURI must be one of them; anything else refuses.
//     Without a Prompter: refused. A grant is never offered or presented
//     with a choice, and grants do not pick keys.
//  5. Picking is the consent for ONE signature with that key: a one-use
//     grant (grants.Grant.ByID: usable only by presenting its id, so it
//     covers the signature the person saw and no other request of the
//     origin) lasting ChoiceGrantTTL. Its id and the key go to the journal
//     (Op consent, the key's URI and certificate serial, "key chosen
//     among N") and to Outcome; the plugin presents the id on its Sign,
//     which step 6 then allows without a question — also for a first-use
//     origin the person allowed once, because the grant is that very
//     approval. A local caller gets no grant (grants belong to origins),
//     so its signature is asked about on its own.
//
// # A refused origin learns nothing
//
// Every refusal returns the same error value, ErrRefused, whatever the
// reason (admin deny, remembered Never, the person said no, a deny rule, no
// one to ask) and whatever the request named: the origin cannot tell an
// admin deny from a user deny or a key that exists from one that does not.
// Steps 1–4 run before anything touches the key store, and the host asks
// before listing, so a refused origin never causes a key-store call. (One
// exception, by design: a key choice's first-use dialog shows the
// candidate keys, so they are looked up before the person decides on the
// origin; the origin learns nothing from it unless the person allows.) The
// reason goes to the journal, which is the person's, not the origin's.
// A question nobody answered in time returns ErrTimedOut.
//
// # Journal
//
// Every decision appends one record (Op from the request's kind, or
// OpConsent for the origin question; Decision, DecidedBy, GrantID) —
// except refusals, which are coalesced (see "Refusals in the journal"
// below). The host reports each operation's outcome with Record. When the
// journal cannot record an approval, the request is refused (fail closed).
//
// One exception saves a synchronous write per signature: when the caller
// sets Outcome.OneRecord (the host does for Sign) and a key operation is
// allowed without a question — an unattended rule or a grant — Ask
// journals nothing and Record later writes ONE record carrying both the
// decision (Decision, DecidedBy, GrantID) and the outcome (Result,
// ErrorKind, Error). The caller releases the result only once that
// record is on disk and withholds it when Record fails, so the approval
// of every released signature is still durable before the signature
// leaves the agent (fail closed), and the chain keeps the records in the
// order they were written. The signature itself may then have been made
// on the token without any record if the agent dies in between; nothing
// left the agent. Decisions a person made (the question and its answer
// are what the journal must prove), refusals, listings, origin questions,
// grant requests and key choices are journaled by Ask as before.
//
// A key choice the unattended rules settle without a question (one
// candidate, no grant) allows nothing by itself — the signature that
// follows is decided by the rules again and journaled on its own — so its
// record is written without waiting for the disk (journal.AppendLazy): it
// precedes the signature's record in the file, and that record's fsync
// makes both durable before the signature is released.
//
// A key choice settled by the unattended rules without a question takes
// the candidates from the key store's cache (EngineConfig.CachedKey) when
// it knows every one of them, and touches the token only otherwise; a
// question always shows candidates looked up afresh (EngineConfig.KeyInfo).
//
// # Concurrency
//
// An Engine is safe for concurrent use: the rule counters, decisions and
// grants have their own locks. The person sees one question at a time,
// however many pages ask:
//
//   - Requests are grouped by site (config.Site: the registrable domain of
//     the origin's host, so https://a.example.com and https://b.example.com
//     are one site; the whole origin for an IP address, localhost, "null";
//     the caller for a local caller). A site has at most one request
//     holding its turn, and at most MaxQueued requests holding or waiting
//     for it; those queued re-check remembered decisions and grants when
//     their turn comes.
//   - At most EngineConfig.MaxPending sites (DefaultMaxPending) have
//     requests waiting to ask; a request of another site is refused at
//     once (ErrRefused, as for a full site queue).
//   - The holders of their site's turn then take the one global turn, one
//     question after the other.
//
// Waiting for both turns is bounded by the question timeout and ends when
// the request's context does. No lock is held while a question is open.
//
// # Refusals in the journal
//
// A refusal leads to nothing, so its record never waits for the disk, and
// refusals nobody was asked about (a refused origin, a full queue, a deny
// rule) are coalesced per site (journal.AppendRefusal): the first is
// written, the rest counted and written as one record. Refusals because
// too many sites are waiting are counted together across sites. A
// person's refusal is a decision and gets a record of its own.
type Engine struct {
	cfg       EngineConfig
	rules     *ruleSet
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
	// (default DefaultMaxPending; see the Engine doc, "Concurrency").
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
	// the Engine doc). It matches hsm.ErrDenied.
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
	return &Engine{cfg: cfg, rules: newRuleSet(cfg.Policy.Unattended.Rules), decisions: d, grants: g, now: cfg.Now,
		queues: map[string]*askQueue{}, turn: make(chan struct{}, 1)}, nil
}

// Decisions returns the remembered origin decisions (for the dashboard:
// list, revoke with Forget).
func (e *Engine) Decisions() *Decisions { return e.decisions }

// Grants returns the grant store (for the dashboard: list, revoke).
func (e *Engine) Grants() *grants.Store { return e.grants }
