package consent

import (
	"context"
	"time"

	"github.com/signet-agent/signet/hsm"
)

// Prompter puts a question in front of the person: the local web dialog and
// the terminal implement it. The consent engine decides WHEN to ask (after
// admin policy, remembered decisions and grants had no answer); a Prompter
// only shows and collects. Implementations must be safe for concurrent use:
// several requests may be pending at once.
type Prompter interface {
	// Confirm shows q and blocks until the person answers, ctx is done, or
	// the prompter's own timeout passes. A dismissed or timed-out question
	// returns an error matching hsm.ErrDenied, hsm.ErrTimeout or
	// hsm.ErrCancelled.
	Confirm(ctx context.Context, q Question) (Answer, error)
	// PIN asks for a token PIN or a PFX password in the same dialog, showing
	// what it is for (the Request attached to ctx with WithRequest, if any)
	// and the token's PIN state; it asks for explicit confirmation before a
	// final try. It has the shape of hsm.PINPrompt.
	PIN(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error)
}

// Question is one thing the person decides. When Request.Choices is set
// the person also picks one of those keys (label, certificate subject,
// issuer and validity shown for each; the Engine has looked them up): the
// Prompter must make the person pick explicitly (no key preselected) and
// report it in Answer.KeyURI.
type Question struct {
	// ID identifies the question (random, unguessable); the web dialog puts
	// it in the page URL.
	ID      string
	Request Request
	// FirstUse is set when the origin has never been allowed: the dialog
	// offers Allow once / Always / Deny for the origin itself.
	FirstUse bool
	// Grant, when set, offers to allow this origin Uses operations with this
	// key within Within (Cipher's accessToken) instead of one.
	Grant *GrantOffer
	// Deadline is when the question times out and counts as denied.
	Deadline time.Time
}

// GrantOffer is a proposed grant of several uses.
type GrantOffer struct {
	Uses   int
	Within time.Duration
}

// Answer is the person's decision.
type Answer struct {
	Allow bool
	// Remember: for a first-use question, "Always" (remember the origin);
	// with Allow false, "Deny forever" (remember the refusal). For an
	// operation question, accept the offered grant.
	Remember bool
	// KeyURI is the key the person picked when the question offered
	// Request.Choices: with Allow it must be the URI of one of them (the
	// Engine refuses any other answer).
	KeyURI string
}
