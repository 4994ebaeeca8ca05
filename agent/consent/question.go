package consent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/grants"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
)

// ask puts the question about req to the person, offering a grant when
// the plugin offers one.
func (e *Engine) ask(ctx context.Context, req Request, firstUse bool) verdict {
	// The key is looked up for the dialog only once the origin passed: a
	// first-use question shows the key URI the origin named, so an origin
	// the person then refuses never caused a key-store call.
	if !firstUse && req.Key == nil && req.KeyURI != "" && e.cfg.KeyInfo != nil {
		if k, err := e.cfg.KeyInfo(ctx, req.KeyURI); err == nil {
			req.Key = &k
		}
	}
	now := e.now()
	q, err := e.newQuestion(req, firstUse, now)
	if err != nil {
		return refuse(journal.ByPolicy, err.Error())
	}
	q.Grant = grantOffer(req, firstUse)
	ans, v, ok := e.put(ctx, q, now)
	if !ok {
		return v
	}
	accepted := q.Grant != nil && ans.Remember
	if req.GrantOnly && !firstUse && !accepted {
		// Only the grant was asked for: an approval without accepting
		// it allows nothing.
		return personRefused()
	}
	v = allow(journal.ByUser, "the person approved")
	v.asked = true
	e.rememberApproval(ctx, req, firstUse, ans, now)
	if !accepted {
		return v
	}
	return e.createGrant(ctx, req, *q.Grant, v)
}

// grantOffer is the grant the question about req offers, or nil: a grant
// is offered when the plugin offers one (Request.GrantUses) for a key of
// an origin that is not first-use and may be remembered.
func grantOffer(req Request, firstUse bool) *GrantOffer {
	minUses := 2 // the request itself takes one use
	if req.GrantOnly {
		minUses = 1
	}
	if firstUse || !rememberable(req.Origin) || req.GrantUses < minUses || req.KeyURI == "" {
		return nil
	}
	within := req.GrantWithin
	if within <= 0 {
		within = DefaultGrantWithin
	}
	within = min(within, MaxGrantWithin)
	return &GrantOffer{Uses: min(req.GrantUses, grants.MaxUses), Within: within}
}

// createGrant creates the grant offer the person accepted for req, which
// v allowed, and returns v naming it. The request took one of its uses,
// unless only the grant was asked for. A grant that cannot be created
// refuses a request for the grant alone; any other request stays allowed.
func (e *Engine) createGrant(ctx context.Context, req Request, offer GrantOffer, v verdict) verdict {
	uses := offer.Uses - 1 // this request took one
	if req.GrantOnly {
		uses = offer.Uses
	}
	if uses <= 0 {
		return v
	}
	g, err := e.grants.Add(grants.Grant{
		Origin: req.Origin, Plugin: req.Plugin, KeyURI: req.KeyURI, Operation: string(req.Kind),
		Uses: uses, Expires: e.now().Add(offer.Within),
	})
	if err != nil {
		e.cfg.Log.Warn("consent: create grant", "origin", req.Origin, "error", err)
		if req.GrantOnly {
			return refuse(journal.ByPolicy, "grant could not be created: "+err.Error())
		}
		return v
	}
	e.journalGrant(ctx, req, g)
	v.grant = g.ID
	if out := OutcomeFrom(ctx); out != nil {
		out.GrantID = g.ID
	}
	return v
}

// newQuestion is the question about req, asked at now.
func (e *Engine) newQuestion(req Request, firstUse bool, now time.Time) (Question, error) {
	id, err := randomID()
	if err != nil {
		return Question{}, err
	}
	return Question{ID: id, Request: req, FirstUse: firstUse, Deadline: now.Add(e.cfg.Timeout)}, nil
}

// put puts q, asked at now, to the person, for at most the question
// timeout. ok false reports that v is the verdict: the question failed,
// or the person refused (on a first-use question, remembered as Never
// when the person asked so).
func (e *Engine) put(ctx context.Context, q Question, now time.Time) (ans Answer, v verdict, ok bool) {
	qctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	ans, err := e.cfg.Prompter.Confirm(qctx, q)
	if err != nil {
		return ans, questionFailed(ctx, qctx, q.Request, err), false
	}
	if !ans.Allow {
		if q.FirstUse && ans.Remember {
			e.remember(ctx, q.Request, Never, now)
		}
		return ans, personRefused(), false
	}
	return ans, verdict{}, true
}

// personRefused is the verdict of a question the person said no to.
func personRefused() verdict {
	v := refuse(journal.ByUser, "the person refused")
	v.asked = true
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

// rememberApproval remembers the origin the person approved on its
// first-use question as Always, when the person asked so and the origin
// may be remembered.
func (e *Engine) rememberApproval(ctx context.Context, req Request, firstUse bool, ans Answer, now time.Time) {
	if firstUse && ans.Remember && rememberable(req.Origin) {
		e.remember(ctx, req, Always, now)
	}
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
	e.journalRemembered(ctx, req, c)
}

func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("question id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
