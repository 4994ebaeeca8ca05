package consent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/grants"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/agent/prompt"
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

// ForgetOrigin revokes everything the person gave origin: its remembered
// decision and its grants. It journals the revocation.
func (e *Engine) ForgetOrigin(ctx context.Context, origin string) error {
	_, err := e.decisions.Forget(origin)
	if err != nil {
		return err
	}
	for _, g := range e.grants.RevokeOrigin(origin) {
		e.journal(ctx, journal.Record{Op: journal.OpRevoke, Origin: origin, Plugin: g.Plugin, KeyURI: g.KeyURI,
			GrantID: g.ID, DecidedBy: journal.ByUser})
	}
	return e.journal(ctx, journal.Record{Op: journal.OpConsent, Origin: origin, Summary: "origin decision revoked",
		Decision: journal.DecisionNone, DecidedBy: journal.ByUser})
}

// RevokeGrant revokes the grant with the given ID and journals it.
func (e *Engine) RevokeGrant(ctx context.Context, id string) error {
	g, err := e.grants.Revoke(id)
	if err != nil {
		return err
	}
	return e.journal(ctx, journal.Record{Op: journal.OpRevoke, Origin: g.Origin, Plugin: g.Plugin, KeyURI: g.KeyURI,
		GrantID: g.ID, Summary: fmt.Sprintf("%s: %d of %d uses left", g.Operation, g.Remaining, g.Uses), DecidedBy: journal.ByUser})
}

// verdict is the outcome of one step.
type verdict struct {
	allow  bool
	by     string       // journal.ByAdmin …
	why    string       // for the journal and log; never shown to the origin
	grant  string       // grant ID that allowed it (or, for a key choice, that covers the signature)
	key    *hsm.KeyInfo // the picked key, for a key choice
	err    error        // ErrRefused, ErrTimedOut or a cancellation
	asked  bool         // a question was put
	decide bool         // false: no decision recorded (nothing was decided)
	group  string       // for a refusal: what the journal counts it with ("": the site)
}

func refuse(by, why string) verdict { return verdict{by: by, why: why, err: ErrRefused, decide: true} }
func allow(by, why string) verdict  { return verdict{allow: true, by: by, why: why, decide: true} }

// Ask decides on req; see the Engine doc for the order.
func (e *Engine) Ask(ctx context.Context, req Request) error {
	if len(req.Documents) > MaxDocuments {
		err := fmt.Errorf("%d documents in one request (at most %d): %w", len(req.Documents), MaxDocuments, hsm.ErrInvalidRequest)
		e.record(ctx, req, verdict{by: journal.ByPolicy, why: err.Error(), err: err, decide: true})
		return err
	}
	if req.Origin == "" && req.Caller == "" {
		req.Caller = "local"
	}
	if len(req.Choices) > 0 {
		return e.askChoice(ctx, req)
	}
	v := e.decide(ctx, req)
	if out := OutcomeFrom(ctx); out != nil && out.OneRecord && v.allow && !v.asked && oneRecord(req) {
		// No one was asked: the decision is journaled with the outcome,
		// in one record, by Record (the caller releases the result only
		// once that record is on disk).
		out.pending = &v
		return nil
	}
	if err := e.record(ctx, req, v); err != nil && v.allow {
		e.cfg.Log.Warn("consent: journal failed, refusing", "error", err)
		return fmt.Errorf("%s refused: the journal cannot record it: %w", req.Kind, hsm.ErrDenied)
	}
	if !v.allow {
		e.cfg.Log.Info("consent refused", "kind", req.Kind, "plugin", req.Plugin, "origin", req.Origin,
			"caller", req.Caller, "key", req.KeyURI, "by", v.by, "reason", v.why)
		return v.err
	}
	return nil
}

func (e *Engine) decide(ctx context.Context, req Request) verdict {
	v, _, needAsk := e.precheck(req)
	if !needAsk {
		return v
	}
	if e.cfg.Prompter == nil {
		return refuse(journal.ByPolicy, "needs a person's approval and no one can be asked")
	}
	// One open question at a time, one site in line at a time: a page
	// cannot flood the person with dialogs, and requests that queued
	// behind a question see its outcome — an origin remembered, a grant
	// accepted — instead of asking again.
	release, v, ok := e.queue(ctx, req)
	if !ok {
		return v
	}
	defer release()
	v, firstUse, needAsk := e.precheck(req)
	if !needAsk {
		return v
	}
	v = e.ask(ctx, req, firstUse)
	if firstUse && req.GrantOnly && v.allow {
		// The origin passed its first-use question; the grant is a
		// question of its own, put only when the origin is now approved
		// beyond this request ("Always"): grants are never consulted for
		// an origin that would be asked about again. Otherwise the request
		// is allowed without a grant.
		_ = e.record(ctx, Request{Kind: Origin, Plugin: req.Plugin, Origin: req.Origin, RequestID: req.RequestID,
			Summary: "origin allowed before a grant request"}, v)
		if pv, again, need := e.precheck(req); !need {
			v = pv
		} else if !again {
			v = e.ask(ctx, req, false)
		}
	}
	return v
}

// precheck runs every step before the question. needAsk reports that the
// person must decide; it then has taken no rule or grant use, so precheck
// may run again.
func (e *Engine) precheck(req Request) (v verdict, firstUse, needAsk bool) {
	v, firstUse, refused := e.originStep(req)
	if refused {
		return v, false, false
	}
	keyUse := req.Kind != List && req.Kind != Origin

	// Unattended rules (not for the origin question itself, which must not
	// take a counted use). An allow rule that matches also approved the
	// origin above, so firstUse is false when it allows.
	rv := ruleNone
	if req.Kind != Origin {
		rv = e.rules.decide(req)
	}
	switch rv {
	case ruleAllow:
		return allow(journal.ByPolicy, "unattended rule"), false, false
	case ruleDeny:
		return refuse(journal.ByPolicy, "unattended rule denies it"), false, false
	case ruleAsk:
		keyUse = true // the administrator wants the person asked
	case ruleNone:
	}
	if !firstUse && !keyUse {
		return allow(journal.ByPolicy, "origin allowed; listing needs no more"), false, false
	}

	// A grant counts for an origin that passed steps 1–4, and — presented
	// by id — the one-use grant of a key choice also for a first-use
	// origin: the person approved the origin for this very signature in
	// the choice's dialog ("Allow once").
	if req.Origin != "" && keyUse && !req.GrantOnly && (!firstUse || e.choiceGrant(req.GrantID)) {
		now := e.now()
		var (
			g  grants.Grant
			ok bool
		)
		if req.GrantID != "" {
			g, ok = e.grants.ConsumeID(req.GrantID, req.Origin, req.Plugin, req.KeyURI, string(req.Kind), now)
		} else {
			g, ok = e.grants.Consume(req.Origin, req.Plugin, req.KeyURI, string(req.Kind), now)
		}
		if ok {
			v := allow(journal.ByGrant, fmt.Sprintf("grant, %d uses left", g.Remaining))
			v.grant = g.ID
			return v, false, false
		}
		if req.GrantID != "" {
			return refuse(journal.ByGrant, "presented grant does not cover the request"), false, false
		}
	}
	return verdict{}, firstUse, true
}

// originStep applies steps 1–4 to a web origin's request: refused reports
// that v is the verdict; firstUse that the person must approve the origin.
// Local callers pass.
func (e *Engine) originStep(req Request) (v verdict, firstUse, refused bool) {
	if req.Origin == "" {
		return verdict{}, false, false
	}
	switch e.cfg.Policy.Admin(req.Origin) {
	case config.AdminDeny:
		return refuse(journal.ByAdmin, "origin denied by the administrator"), false, true
	case config.AdminAllow:
		return verdict{}, false, false
	}
	od, ok := e.decisions.Get(req.Origin)
	switch {
	case ok && od.Choice == Never:
		return refuse(journal.ByPolicy, "origin refused earlier by the person"), false, true
	case ok && od.Choice == Always, e.rules.approvesOrigin(req):
		return verdict{}, false, false
	}
	return verdict{}, true, false
}

// MaxQueued bounds the requests from one site (or local caller) that
// hold or wait for its turn to ask (the open question included); more are
// refused.
const MaxQueued = 16

// pendingGroup is the journal group of refusals because too many sites
// wait to ask.
const pendingGroup = "too many sites waiting to ask"

// askSite names the queue req waits in (see the Engine doc,
// "Concurrency").
func askSite(req Request) string {
	if req.Origin == "" {
		return "caller:" + req.Caller
	}
	return "site:" + config.Site(req.Origin)
}

// queue waits for the turn of req's site and then for the one question
// turn, at most the question timeout in all. ok false returns the verdict
// to give instead.
func (e *Engine) queue(ctx context.Context, req Request) (release func(), v verdict, ok bool) {
	who := askSite(req)
	e.qmu.Lock()
	q := e.queues[who]
	if q == nil {
		if len(e.queues) >= e.cfg.MaxPending {
			e.qmu.Unlock()
			v := refuse(journal.ByPolicy, fmt.Sprintf("too many questions pending (%d sites waiting)", e.cfg.MaxPending))
			v.group = pendingGroup
			return nil, v, false
		}
		q = &askQueue{turn: make(chan struct{}, 1)}
		e.queues[who] = q
	}
	if q.waiting >= MaxQueued {
		e.qmu.Unlock()
		return nil, refuse(journal.ByPolicy, "too many questions pending for this site"), false
	}
	q.waiting++
	e.qmu.Unlock()
	done := func() {
		e.qmu.Lock()
		q.waiting--
		if q.waiting == 0 {
			delete(e.queues, who)
		}
		e.qmu.Unlock()
	}
	t := time.NewTimer(e.cfg.Timeout)
	defer t.Stop()
	gone := func() verdict {
		return verdict{by: journal.ByUser, why: "request went away while queued", decide: true,
			err: fmt.Errorf("%s: %v: %w", req.Kind, ctx.Err(), hsm.ErrCancelled)}
	}
	late := verdict{by: journal.ByUser, why: "no turn to ask in time", decide: true, err: ErrTimedOut}
	select {
	case q.turn <- struct{}{}:
	case <-ctx.Done():
		done()
		return nil, gone(), false
	case <-t.C:
		done()
		return nil, late, false
	}
	select {
	case e.turn <- struct{}{}:
		return func() { <-e.turn; <-q.turn; done() }, verdict{}, true
	case <-ctx.Done():
		<-q.turn
		done()
		return nil, gone(), false
	case <-t.C:
		<-q.turn
		done()
		return nil, late, false
	}
}

// askQueue serialises the questions of one site.
type askQueue struct {
	turn    chan struct{} // holds a token while a request of the site has the turn
	waiting int           // requests holding or waiting for the turn; under Engine.qmu
}

// ask puts the question to the person.
func (e *Engine) ask(ctx context.Context, req Request, firstUse bool) verdict {
	// The key is looked up for the dialog only once the origin passed: a
	// first-use question shows the key URI the origin named, so an origin
	// the person then refuses never caused a key-store call.
	if !firstUse && req.Key == nil && req.KeyURI != "" && e.cfg.KeyInfo != nil {
		if k, err := e.cfg.KeyInfo(ctx, req.KeyURI); err == nil {
			req.Key = &k
		}
	}
	id, err := randomID()
	if err != nil {
		return refuse(journal.ByPolicy, err.Error())
	}
	now := e.now()
	q := Question{ID: id, Request: req, FirstUse: firstUse, Deadline: now.Add(e.cfg.Timeout)}
	minUses := 2 // the request itself takes one use
	if req.GrantOnly {
		minUses = 1
	}
	offer := !firstUse && rememberable(req.Origin) && req.GrantUses >= minUses && req.KeyURI != ""
	if offer {
		within := req.GrantWithin
		if within <= 0 {
			within = DefaultGrantWithin
		}
		within = min(within, MaxGrantWithin)
		q.Grant = &GrantOffer{Uses: min(req.GrantUses, grants.MaxUses), Within: within}
	}
	qctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	ans, err := e.cfg.Prompter.Confirm(qctx, q)
	if err != nil {
		return questionFailed(ctx, qctx, req, err)
	}
	if req.GrantOnly && !firstUse && (!offer || !ans.Remember) {
		// Only the grant was asked for: an approval without accepting
		// it allows nothing.
		ans.Allow = false
		ans.Remember = false
	}
	if !ans.Allow {
		if firstUse && ans.Remember {
			e.remember(ctx, req, Never, now)
		}
		v := refuse(journal.ByUser, "the person refused")
		v.asked = true
		return v
	}
	v := allow(journal.ByUser, "the person approved")
	v.asked = true
	if firstUse && ans.Remember && rememberable(req.Origin) {
		e.remember(ctx, req, Always, now)
	}
	uses := 0
	if offer && ans.Remember {
		uses = q.Grant.Uses - 1 // this request took one
		if req.GrantOnly {
			uses = q.Grant.Uses
		}
	}
	if uses > 0 {
		g, err := e.grants.Add(grants.Grant{
			Origin: req.Origin, Plugin: req.Plugin, KeyURI: req.KeyURI, Operation: string(req.Kind),
			Uses: uses, Expires: e.now().Add(q.Grant.Within),
		})
		if err != nil {
			e.cfg.Log.Warn("consent: create grant", "origin", req.Origin, "error", err)
			if req.GrantOnly {
				return refuse(journal.ByPolicy, "grant could not be created: "+err.Error())
			}
		} else {
			e.journal(ctx, journal.Record{Op: journal.OpGrant, Plugin: req.Plugin, Origin: req.Origin,
				RequestID: req.RequestID, KeyURI: req.KeyURI, GrantID: g.ID,
				Summary:  fmt.Sprintf("%s: %d further uses until %s", req.Kind, g.Uses, g.Expires.UTC().Format(time.RFC3339)),
				Decision: journal.DecisionAllowed, DecidedBy: journal.ByUser})
			v.grant = g.ID
			if out := OutcomeFrom(ctx); out != nil {
				out.GrantID = g.ID
			}
		}
	}
	return v
}

// questionFailed is the verdict for a question the Prompter returned err
// for; qctx is the question's context (ctx with the question timeout).
func questionFailed(ctx, qctx context.Context, req Request, err error) verdict {
	switch {
	case ctx.Err() != nil:
		return verdict{by: journal.ByUser, why: "request went away", decide: true, asked: true,
			err: fmt.Errorf("%s: %v: %w", req.Kind, ctx.Err(), hsm.ErrCancelled)}
	case errors.Is(err, hsm.ErrTimeout) || qctx.Err() != nil:
		return verdict{by: journal.ByUser, why: "no answer in time", decide: true, asked: true, err: ErrTimedOut}
	case errors.Is(err, hsm.ErrCancelled):
		return verdict{by: journal.ByUser, why: "question dismissed", decide: true, asked: true,
			err: fmt.Errorf("%s: question dismissed: %w", req.Kind, hsm.ErrCancelled)}
	}
	v := refuse(journal.ByUser, "prompter: "+err.Error())
	v.asked = true
	return v
}

// rememberable reports whether an approval may outlive the request: the
// opaque origin "null" (sandboxed frames, file: pages) and malformed
// origins are shared by unrelated pages, so "Always" and grants are never
// kept for them (a refusal still is).
func rememberable(origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	_, _, _, err := config.ParseOrigin(origin)
	return err == nil
}

// remember keeps the person's choice for req's origin and journals it.
func (e *Engine) remember(ctx context.Context, req Request, c OriginChoice, now time.Time) {
	od := OriginDecision{Origin: req.Origin, Choice: c, Plugin: req.Plugin, Decided: now, Evidence: req.Evidence}
	if err := e.decisions.Set(od); err != nil {
		e.cfg.Log.Warn("consent: remember origin", "origin", req.Origin, "error", err)
		return
	}
	d := journal.DecisionAllowed
	if c == Never {
		d = journal.DecisionDenied
	}
	e.journal(ctx, journal.Record{Op: journal.OpConsent, Plugin: req.Plugin, Origin: req.Origin, RequestID: req.RequestID,
		Summary: "origin remembered: " + string(c), Decision: d, DecidedBy: journal.ByUser})
}

func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("question id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// record journals a decision.
func (e *Engine) record(ctx context.Context, req Request, v verdict) error {
	return e.recordDecision(ctx, req, v, false)
}

// recordDecision journals a decision; lazy returns before the record is
// on disk (journal.AppendLazy).
func (e *Engine) recordDecision(ctx context.Context, req Request, v verdict, lazy bool) error {
	if !v.decide {
		return nil
	}
	r := baseRecord(req)
	r.DecidedBy, r.GrantID = v.by, v.grant
	if k := v.key; k != nil {
		r.KeyURI = k.URI
		if k.Certificate != nil && k.Certificate.SerialNumber != nil {
			r.CertSerial = k.Certificate.SerialNumber.Text(16)
		}
	}
	switch {
	case v.allow:
		r.Decision = journal.DecisionAllowed
	case errors.Is(v.err, hsm.ErrTimeout):
		r.Decision = journal.DecisionTimeout
	case errors.Is(v.err, hsm.ErrCancelled):
		r.Decision = journal.DecisionCancelled
	default:
		r.Decision = journal.DecisionDenied
	}
	if !v.allow {
		r.ErrorKind = journal.ErrorKind(v.err)
		r.Error = v.why
	}
	switch {
	case !v.allow && !v.asked:
		return e.journalRefusal(ctx, r, v.group)
	case !v.allow, lazy:
		// A refusal leads to nothing: it need not wait for the disk.
		return e.journalLazy(ctx, r)
	}
	return e.journal(ctx, r)
}

// oneRecord reports whether req's decision may be journaled together
// with its outcome (Outcome.OneRecord): a key operation, not a listing, an
// origin question, a grant request or a key choice, whose outcome Record
// reports.
func oneRecord(req Request) bool {
	switch req.Kind {
	case List, Origin, "":
		return false
	}
	return !req.GrantOnly && len(req.Choices) == 0
}

// Record journals the outcome of an operation the Engine allowed: the host
// calls it once the key store returned (err nil for success). Listing
// outcomes need not be recorded. When ctx carries an Outcome whose
// decision Ask deferred (Outcome.OneRecord, Outcome.Deferred), the record
// carries that decision too; the caller must then withhold the result
// when Record fails.
func (e *Engine) Record(ctx context.Context, req Request, err error) error {
	if err == nil && req.Key == nil && req.KeyURI != "" && e.cfg.CachedKey != nil {
		if k, ok := e.cfg.CachedKey(req.KeyURI); ok {
			req.Key = &k
		}
	}
	r := baseRecord(req)
	if out := OutcomeFrom(ctx); out != nil && out.pending != nil {
		v := out.pending
		out.pending = nil // one record per decision
		r.Decision, r.DecidedBy, r.GrantID = journal.DecisionAllowed, v.by, v.grant
	}
	r.SetOutcome(err)
	return e.journal(ctx, r)
}

func baseRecord(req Request) journal.Record {
	op := journal.Op(req.Kind)
	if req.Kind == Origin || req.Kind == "" || req.GrantOnly || len(req.Choices) > 0 {
		op = journal.OpConsent
	}
	r := journal.Record{
		Plugin: req.Plugin, Origin: req.Origin, Caller: req.Caller, RequestID: req.RequestID,
		Op: op, Summary: req.Summary, KeyURI: req.KeyURI,
		Evidence: req.Evidence, // the journal bounds and copies it
	}
	if r.Summary == "" {
		r.Summary = HTMLText(req.SummaryHTML) // Cipher's metaData, as text
	}
	if n := len(req.Choices); n > 0 {
		r.Summary = strings.TrimSuffix(fmt.Sprintf("key chosen among %d: %s", n, r.Summary), ": ")
	}
	if req.Key != nil && req.Key.Certificate != nil && req.Key.Certificate.SerialNumber != nil {
		r.CertSerial = req.Key.Certificate.SerialNumber.Text(16)
	}
	for _, d := range req.Documents {
		r.Documents = append(r.Documents, journal.Document{Name: d.Name, Size: d.Size, SHA256: journal.DocumentDigest(d.SHA256)})
	}
	return r
}

func (e *Engine) journal(ctx context.Context, r journal.Record) error {
	if e.cfg.Journal == nil {
		return nil
	}
	if r.Time.IsZero() {
		r.Time = e.now()
	}
	// A cancelled request is still recorded.
	_, err := e.cfg.Journal.Append(context.WithoutCancel(ctx), r)
	return err
}

// journalLazy is journal without waiting for the disk
// (journal.AppendLazy): the next durable record makes it durable.
func (e *Engine) journalLazy(ctx context.Context, r journal.Record) error {
	if e.cfg.Journal == nil {
		return nil
	}
	if r.Time.IsZero() {
		r.Time = e.now()
	}
	_, err := e.cfg.Journal.AppendLazy(context.WithoutCancel(ctx), r)
	return err
}

// journalRefusal journals a refusal no one was asked about, coalesced
// with the others of its group (journal.AppendRefusal).
func (e *Engine) journalRefusal(ctx context.Context, r journal.Record, group string) error {
	if e.cfg.Journal == nil {
		return nil
	}
	if r.Time.IsZero() {
		r.Time = e.now()
	}
	_, err := e.cfg.Journal.AppendRefusal(context.WithoutCancel(ctx), r, group)
	return err
}

// PINPrompt returns the prompt the key store uses: a token named by one of
// the configuration's PIN sources (policy.unattended.pin_sources: file or
// environment variable) gets its PIN from there without asking; any other
// PIN or password is asked in the Prompter's dialog. Without a Prompter,
// such a request is cancelled. The PIN is handed to the key store and
// never logged or journaled.
func (e *Engine) PINPrompt() hsm.PINPrompt {
	type source struct {
		match  func(uri string) bool
		prompt hsm.PINPrompt
	}
	var sources []source
	for _, s := range e.cfg.Policy.Unattended.PINSources {
		var p hsm.PINPrompt
		switch {
		case s.File != "":
			p = prompt.FromFile(s.File)
		case s.Env != "":
			p = prompt.FromEnv(s.Env)
		default:
			continue
		}
		sources = append(sources, source{match: TokenURIMatcher(s.Token), prompt: p})
	}
	return func(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
		for _, s := range sources {
			if s.match(req.Token.URI) {
				return s.prompt(ctx, req)
			}
		}
		if e.cfg.Prompter == nil {
			return hsm.PINResponse{}, fmt.Errorf("%s for %s: no PIN source configured and no one to ask: %w", req.Kind, req.Token.Label, hsm.ErrCancelled)
		}
		return e.cfg.Prompter.PIN(ctx, req)
	}
}

// TokenURIMatcher matches a configured token URI against a token's URI: for
// pkcs11: URIs every attribute of the pattern must appear in the token's
// URI; other URIs must be equal.
func TokenURIMatcher(pattern string) func(string) bool {
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
