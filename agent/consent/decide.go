package consent

import (
	"context"
	"fmt"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/grants"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
)

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
	// withheld: a listing for a choice allowed with the keys' identities
	// withheld (Outcome.Withheld).
	withheld bool
}

func refuse(by, why string) verdict { return verdict{by: by, why: why, err: ErrRefused, decide: true} }
func allow(by, why string) verdict  { return verdict{allow: true, by: by, why: why, decide: true} }

// noPerson is why a request that needs a person's approval is refused
// without a Prompter.
const noPerson = "needs a person's approval and no one can be asked"

// Ask decides on req; see docs/consent.md for the order of the steps.
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
	if e.deferRecord(ctx, req, v) {
		return nil
	}
	// A listing that only gathers a key choice's or a signature's
	// candidates, allowed without a question, allows nothing by itself:
	// the choice or signature that uses a key is decided and journaled on
	// its own, durably before it is released, and that record, written
	// after this one, makes it durable (journal.AppendLazy). A signature
	// call thus waits for one fsync.
	lazy := req.Kind == List && req.ForChoice && v.allow && !v.asked
	if err := e.conclude(ctx, req, v, lazy, string(req.Kind), req.Kind, "key", req.KeyURI); err != nil {
		return err
	}
	if out := OutcomeFrom(ctx); out != nil && v.withheld {
		out.Withheld = true
	}
	return nil
}

// checked is the outcome of the steps before the question.
type checked struct {
	v        verdict // the verdict, unless needAsk
	req      Request // the request to put to the person (a key choice: the candidates left)
	firstUse bool    // the person must approve the origin too
	needAsk  bool    // the person must decide; no rule or grant use was taken
}

// steps are what one kind of request brings to the decision sequence
// (settle).
type steps struct {
	// check runs every step before the question: the origin's (admin
	// lists, remembered decisions), unattended rules, grants.
	check func(req Request) checked
	// noPerson is why a request that needs the person is refused without
	// a Prompter.
	noPerson string
	// ask puts the question.
	ask func(ctx context.Context, req Request, firstUse bool) verdict
}

// settle is the decision sequence every request goes through: the steps
// that decide it without a person, or else — refused when there is no one
// to ask — its turn to ask, the same steps again and the question.
//
// One open question at a time, one site in line at a time: a page cannot
// flood the person with dialogs, and requests that queued behind a
// question see its outcome — an origin remembered, a grant accepted —
// instead of asking again.
func (e *Engine) settle(ctx context.Context, req Request, s steps) verdict {
	if c := s.check(req); !c.needAsk {
		return c.v
	}
	if e.cfg.Prompter == nil {
		return refuse(journal.ByPolicy, s.noPerson)
	}
	release, v, ok := e.queue(ctx, req)
	if !ok {
		return v
	}
	defer release()
	c := s.check(req)
	if !c.needAsk {
		return c.v
	}
	return s.ask(ctx, c.req, c.firstUse)
}

// decide decides on a request without Choices.
func (e *Engine) decide(ctx context.Context, req Request) verdict {
	return e.settle(ctx, req, steps{check: e.precheck, noPerson: noPerson, ask: e.askRequest})
}

// askRequest puts req's question. A grant request from a first-use
// origin the person allowed then asks for the grant separately.
func (e *Engine) askRequest(ctx context.Context, req Request, firstUse bool) verdict {
	v := e.ask(ctx, req, firstUse)
	if !firstUse || !req.GrantOnly || !v.allow {
		return v
	}
	// The origin passed its first-use question; the grant is a question
	// of its own, put only when the origin is now approved beyond this
	// request ("Always"): grants are never consulted for an origin that
	// would be asked about again. Otherwise the request is allowed
	// without a grant.
	_ = e.record(ctx, Request{Kind: Origin, Plugin: req.Plugin, Origin: req.Origin, RequestID: req.RequestID,
		Summary: "origin allowed before a grant request"}, v)
	switch c := e.precheck(req); {
	case !c.needAsk:
		return c.v
	case !c.firstUse:
		return e.ask(ctx, req, false)
	}
	return v
}

// precheck runs every step before the question. needAsk reports that the
// person must decide; it then has taken no rule or grant use, so precheck
// may run again.
func (e *Engine) precheck(req Request) checked {
	v, firstUse, refused := e.originStep(req)
	if refused {
		return checked{v: v}
	}
	v, keyUse, decided := e.ruleStep(req)
	if decided {
		return checked{v: v}
	}
	if firstUse && req.Kind == List && req.ForChoice && !keyUse && e.cfg.Prompter != nil {
		// A listing that only gathers a key choice's candidates: the
		// choice's dialog puts the origin's first-use question, so this
		// one asks nothing and names no key (docs/consent.md, "Listing
		// for a choice"). With no one to ask, the choice could not be
		// made: refused as any first-use listing.
		v := allow(journal.ByPolicy, "listing for a key choice by an origin not allowed yet; keys' identities withheld")
		v.withheld = true
		return checked{v: v}
	}
	if !firstUse && !keyUse {
		return checked{v: allow(journal.ByPolicy, "origin allowed; listing needs no more")}
	}
	if v, decided := e.grantStep(req, firstUse, keyUse); decided {
		return checked{v: v}
	}
	return checked{req: req, firstUse: firstUse, needAsk: true}
}

// originStep applies steps 1–4 to a web origin's request: refused reports
// that v is the verdict; firstUse that the person must approve the origin.
// Local callers pass.
func (e *Engine) originStep(req Request) (v verdict, firstUse, refused bool) {
	if req.Origin == "" {
		return verdict{}, false, false
	}
	pol := e.policy()
	switch pol.policy.Admin(req.Origin) {
	case config.AdminDeny:
		return refuse(journal.ByAdmin, "origin denied by the administrator"), false, true
	case config.AdminAllow:
		return verdict{}, false, false
	}
	od, ok := e.decisions.Get(req.Origin)
	switch {
	case ok && od.Choice == Never:
		return refuse(journal.ByPolicy, "origin refused earlier by the person"), false, true
	case ok && od.Choice == Always && !(req.Confirm && req.Kind == Origin), pol.rules.approvesOrigin(req):
		return verdict{}, false, false
	}
	return verdict{}, true, false
}

// ruleStep applies the unattended rules, except to the origin question
// itself, which must not take a counted use: decided reports that a rule
// allowed (taking a use) or denied req. An allow rule that matches also
// approved the origin in originStep, so the origin is not first-use when
// it allows. keyUse reports that req goes on as a key use: it is one, or a
// rule wants the person asked.
func (e *Engine) ruleStep(req Request) (v verdict, keyUse, decided bool) {
	keyUse = req.Kind != List && req.Kind != Origin
	if req.Kind == Origin {
		return verdict{}, keyUse, false
	}
	switch e.policy().rules.decide(req) {
	case ruleAllow:
		return allow(journal.ByPolicy, "unattended rule"), keyUse, true
	case ruleDeny:
		return refuse(journal.ByPolicy, "unattended rule denies it"), keyUse, true
	case ruleAsk:
		return verdict{}, true, false // the administrator wants the person asked
	}
	return verdict{}, keyUse, false
}

// grantStep consumes a grant covering req's key use: decided reports that
// v is the verdict (allowed by the grant, or refused because the grant
// req presented does not cover it). A grant counts for an origin that
// passed steps 1–4, and — presented by id — the one-use grant of a key
// choice also for a first-use origin: the person approved the origin for
// this very signature in the choice's dialog ("Allow once").
func (e *Engine) grantStep(req Request, firstUse, keyUse bool) (v verdict, decided bool) {
	if req.Origin == "" || !keyUse || req.GrantOnly || (firstUse && !e.choiceGrant(req.GrantID)) {
		return verdict{}, false
	}
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
	switch {
	case ok:
		v := allow(journal.ByGrant, fmt.Sprintf("grant, %d uses left", g.Remaining))
		v.grant = g.ID
		return v, true
	case req.GrantID != "":
		return refuse(journal.ByGrant, "presented grant does not cover the request"), true
	}
	return verdict{}, false
}
