package consent

import (
	"context"
	"errors"
	"fmt"

	"github.com/signet-agent/signet/agent/grants"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
)

// checkChoices bounds a request that asks the person to pick a key.
func checkChoices(req Request) error {
	switch {
	case req.Kind != Sign:
		return fmt.Errorf("a key is chosen for a signature, not for %q: %w", req.Kind, hsm.ErrInvalidRequest)
	case len(req.Choices) > MaxChoices:
		return fmt.Errorf("%d candidate keys (at most %d): %w", len(req.Choices), MaxChoices, hsm.ErrInvalidRequest)
	case req.KeyURI != "" || req.Key != nil:
		return fmt.Errorf("a key choice names no key of its own: %w", hsm.ErrInvalidRequest)
	case req.GrantOnly || req.GrantID != "":
		return fmt.Errorf("a key choice presents no grant: %w", hsm.ErrInvalidRequest)
	case req.GrantUses > MaxChoiceUses:
		return fmt.Errorf("a key choice for %d signatures (at most %d): %w", req.GrantUses, MaxChoiceUses, hsm.ErrInvalidRequest)
	}
	for _, c := range req.Choices {
		if c.URI == "" {
			return fmt.Errorf("candidate key without a URI: %w", hsm.ErrInvalidRequest)
		}
	}
	return nil
}

// askChoice is Ask for a request with Choices (see docs/consent.md,
// "Choosing a key").
func (e *Engine) askChoice(ctx context.Context, req Request) error {
	if err := checkChoices(req); err != nil {
		e.record(ctx, req, verdict{by: journal.ByPolicy, why: err.Error(), err: err, decide: true})
		return err
	}
	req.Choices = uniqueChoices(req.Choices)
	v := e.decideChoice(ctx, req)
	// A pick the rules made without a question (no grant) allows nothing
	// by itself: the signature that follows is decided and journaled on
	// its own, durably before it is released. So this record need not
	// wait for the disk; the signature's record, written after it, makes
	// it durable (journal.AppendLazy).
	lazy := v.allow && !v.asked && v.grant == ""
	err := e.conclude(ctx, req, v, lazy, "key choice", "choose key", "candidates", len(req.Choices))
	if errors.Is(err, errUnjournaled) && v.grant != "" {
		_, _ = e.grants.Revoke(v.grant)
	}
	if err != nil {
		return err
	}
	if out := OutcomeFrom(ctx); out != nil {
		out.KeyURI, out.GrantID = v.key.URI, v.grant
		if e.cfg.KeyInfo != nil || e.cfg.CachedKey != nil {
			k := *v.key
			out.Key = &k
		}
	}
	return nil
}

// uniqueChoices drops repeated URIs, keeping the first.
func uniqueChoices(cs []hsm.KeyInfo) []hsm.KeyInfo {
	seen := make(map[string]bool, len(cs))
	out := make([]hsm.KeyInfo, 0, len(cs))
	for _, c := range cs {
		if !seen[c.URI] {
			seen[c.URI] = true
			out = append(out, c)
		}
	}
	return out
}

// decideChoice runs the steps for a key choice; an allowing verdict names
// the picked key (and the one-use grant, when the person picked it).
func (e *Engine) decideChoice(ctx context.Context, req Request) verdict {
	req, v, decided := e.prepareChoice(ctx, req)
	if decided {
		return v
	}
	return e.settle(ctx, req, steps{check: e.checkChoice,
		noPerson: "a key must be picked and no one can be asked", ask: e.putChoice})
}

// prepareChoice runs the steps before the candidates are known: the
// origin's (a refused origin is refused before the key store is touched),
// the rules on the candidates the key store remembers, and then the
// candidates are looked up. decided reports that v is the verdict; req
// then has the candidates found.
func (e *Engine) prepareChoice(ctx context.Context, req Request) (_ Request, v verdict, decided bool) {
	v, firstUse, refused := e.originStep(req)
	if refused {
		return req, v, true
	}
	if firstUse && e.cfg.Prompter == nil {
		return req, refuse(journal.ByPolicy, noPerson), true
	}
	// A choice the unattended rules settle without a question (one
	// candidate a rule allows, or every candidate denied) needs no fresh
	// look at the token: what the key store remembers from its last use of
	// each candidate (EngineConfig.CachedKey) says it exists and has a
	// private key, and gives its certificate for the journal.
	if !firstUse {
		if cached := e.cachedChoices(req.Choices, req.Filter); cached != nil {
			r := req
			r.Choices = cached
			if v, _, needAsk := e.choiceRules(r); !needAsk {
				return req, v, true
			}
		}
	}
	// Only now, with the origin not refused, is the key store touched.
	n := len(req.Choices)
	req.Choices = e.lookUpChoices(ctx, req.Choices, req.Filter)
	if len(req.Choices) > 0 {
		return req, verdict{}, false
	}
	if firstUse {
		// An origin nobody approved learns nothing about the keys.
		return req, refuse(journal.ByPolicy, fmt.Sprintf("none of the %d candidate keys is known", n)), true
	}
	err := fmt.Errorf("choose a key: none of the %d candidates is known and matches the filter (%s): %w", n, req.Filter, hsm.ErrKeyNotFound)
	return req, verdict{by: journal.ByPolicy, why: err.Error(), err: err, decide: true}, true
}

// checkChoice runs the steps before a key choice's question: the
// origin's, then the rules on each candidate (taking no use, so it may
// run again). The request to ask about has the candidates the rules left.
func (e *Engine) checkChoice(req Request) checked {
	v, firstUse, refused := e.originStep(req)
	if refused {
		return checked{v: v}
	}
	v, choices, needAsk := e.choiceRules(req)
	req.Choices = choices
	return checked{v: v, req: req, firstUse: firstUse, needAsk: needAsk}
}

// lookUpChoices looks the candidates up with EngineConfig.KeyInfo and
// drops those that cannot be found, have no private key or do not match
// the filter. Each kept KeyInfo keeps the URI as given: the pick is
// reported in that spelling. Without KeyInfo the candidates stay as they
// are.
func (e *Engine) lookUpChoices(ctx context.Context, cs []hsm.KeyInfo, f ChoiceFilter) []hsm.KeyInfo {
	if e.cfg.KeyInfo == nil {
		return cs
	}
	out := make([]hsm.KeyInfo, 0, len(cs))
	for _, c := range cs {
		k, err := e.cfg.KeyInfo(ctx, c.URI)
		if err != nil || !k.HasPrivateKey || !f.Match(k) {
			e.cfg.Log.Debug("consent: candidate key dropped", "key", c.URI, "filter", f.String(), "error", err)
			continue
		}
		k.URI = c.URI
		out = append(out, k)
	}
	return out
}

// cachedChoices returns the candidates as the key store remembers them
// (EngineConfig.CachedKey: a key it used since its token was inserted, so
// one with a private key), each keeping the URI as given, without those
// the filter drops; nil unless every candidate is remembered (or none is
// left). It never touches a token.
func (e *Engine) cachedChoices(cs []hsm.KeyInfo, f ChoiceFilter) []hsm.KeyInfo {
	if e.cfg.CachedKey == nil {
		return nil
	}
	out := make([]hsm.KeyInfo, 0, len(cs))
	for _, c := range cs {
		k, ok := e.cfg.CachedKey(c.URI)
		if !ok || !k.HasPrivateKey {
			return nil
		}
		k.URI = c.URI
		if f.Match(k) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// choiceRules applies the unattended rules to each candidate as to a
// signature with it, without taking a counted use (the signature that
// follows takes it): candidates a rule denies are dropped; when one
// candidate is left and a rule allows it, it is picked without asking.
// needAsk reports that the person must pick among choices.
func (e *Engine) choiceRules(req Request) (v verdict, choices []hsm.KeyInfo, needAsk bool) {
	var allowed []bool
	rules := e.policy().rules
	for i := range req.Choices {
		r := req
		r.Choices, r.KeyURI, r.Key = nil, req.Choices[i].URI, &req.Choices[i]
		rv := rules.peek(r)
		if rv == ruleDeny {
			continue
		}
		choices = append(choices, req.Choices[i])
		allowed = append(allowed, rv == ruleAllow)
	}
	switch {
	case len(choices) == 0:
		return refuse(journal.ByPolicy, "unattended rules deny every candidate key"), nil, false
	case len(choices) == 1 && allowed[0]:
		v := allow(journal.ByPolicy, "unattended rule allows the only candidate key")
		v.key = &choices[0]
		return v, choices, false
	}
	return verdict{}, choices, true
}

// putChoice asks the person to pick one of req.Choices.
func (e *Engine) putChoice(ctx context.Context, req Request, firstUse bool) verdict {
	now := e.now()
	q, err := e.newQuestion(req, firstUse, now)
	if err != nil {
		return refuse(journal.ByPolicy, err.Error())
	}
	ans, v, ok := e.put(ctx, q, now)
	if !ok {
		return v
	}
	picked := pickedKey(req.Choices, ans.KeyURI)
	if picked == nil {
		v := refuse(journal.ByUser, "the answer picked none of the offered keys")
		v.asked = true
		return v
	}
	e.rememberApproval(ctx, req, firstUse, ans, now)
	v = allow(journal.ByUser, "the person picked a key")
	v.asked, v.key = true, picked
	if req.Origin == "" {
		return v // grants belong to origins
	}
	g, err := e.grants.Add(grants.Grant{
		Origin: req.Origin, Plugin: req.Plugin, KeyURI: picked.URI, Operation: string(Sign),
		Uses: max(1, req.GrantUses), Expires: e.now().Add(ChoiceGrantTTL), ByID: true,
	})
	if err != nil {
		e.cfg.Log.Warn("consent: create grant for the picked key", "origin", req.Origin, "error", err)
		return refuse(journal.ByPolicy, "grant for the picked key could not be created: "+err.Error())
	}
	v.grant = g.ID
	return v
}

// pickedKey is the candidate with the URI the person picked, or nil.
func pickedKey(cs []hsm.KeyInfo, uri string) *hsm.KeyInfo {
	for i := range cs {
		if cs[i].URI == uri {
			return &cs[i]
		}
	}
	return nil
}

// choiceGrant reports whether id names a live one-use grant of a key
// choice (grants.Grant.ByID).
func (e *Engine) choiceGrant(id string) bool {
	if id == "" {
		return false
	}
	g, ok := e.grants.Get(id)
	return ok && g.ByID
}
