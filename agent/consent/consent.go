// Package consent decides whether an operation a plugin asks for may go
// ahead. The host calls Asker.Ask before every key use and listing with a
// Request naming who asks, the plugin, the key and the documents; Ask
// returns nil to allow, or an error matching hsm.ErrDenied, hsm.ErrTimeout
// or hsm.ErrCancelled. The agent's Asker is the Engine: administrator
// origin lists, remembered origin decisions, unattended rules, grants and
// questions to a Prompter (the web dialog, or a Terminal), with one
// journal record per decision; it also routes PIN requests. How it decides
// is described in docs/consent.md.
//
//	e, err := consent.NewEngine(consent.EngineConfig{
//		Policy:   &cfg.Policy,
//		Prompter: dialog, // nil: refuse whatever needs a person
//		Journal:  j,
//		DataDir:  cfg.DataDir,
//	})
//	if err != nil {
//		return err
//	}
//	req := consent.Request{Kind: consent.Sign, Plugin: "eimzo",
//		Origin: "https://portal.example", KeyURI: uri}
//	if err := e.Ask(ctx, req); err != nil {
//		return err // refused, timed out or cancelled
//	}
//	sig, err := store.Sign(ctx, uri, digest, crypto.SHA256)
//	if jerr := e.Record(ctx, req, err); jerr != nil { // the outcome, journaled
//		return jerr
//	}
package consent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/hsm"
)

// Kind is the kind of operation.
type Kind string

// Operation kinds.
const (
	Sign    Kind = "sign"
	Decrypt Kind = "decrypt"
	Keygen  Kind = "keygen"
	CSR     Kind = "csr"
	Import  Kind = "import"
	List    Kind = "list"
	Origin  Kind = "origin" // first use of Signet by an origin
)

// Document is one document an operation concerns.
type Document struct {
	Name        string
	Size        int64
	SHA256      []byte
	ContentType string
}

// Request is what the person (or the policy) decides on.
type Request struct {
	Kind    Kind
	Plugin  string // set by the host, never by the plugin
	Origin  string // web origin, or "" for a local caller
	Caller  string // local caller description
	Summary string
	// SummaryHTML is an HTML description (Cipher's metaData), already
	// sanitised by the host (SanitizeHTML); a Prompter may show it as HTML.
	SummaryHTML string
	Documents   []Document
	Evidence    map[string]string
	RequestID   string
	KeyURI      string       // empty when no key is concerned
	Key         *hsm.KeyInfo // the key, when the host could look it up

	// GrantUses > 1 offers the person a grant (Cipher's accessToken):
	// allow this origin GrantUses operations of this kind with this key
	// within GrantWithin, this one included. Set by the plugin.
	GrantUses   int
	GrantWithin time.Duration
	// GrantID names the grant the caller presents (a Cipher token); when
	// set, only that grant may cover the request.
	GrantID string
	// GrantOnly asks for a grant and nothing else (Cipher's accessToken
	// request, before any signature): no operation happens now, so an
	// accepted grant has all GrantUses uses (GrantUses ≥ 1) and no
	// existing grant is consumed. The id is reported in Outcome.GrantID.
	GrantOnly bool
	// Confirm (Kind Origin only) asks the person even when they allowed
	// the origin before ("always"): the plugin's own trust decision (a
	// CryptoARM portal whose certificate changed). The administrator's
	// lists and the unattended rules still decide without a question.
	Confirm bool

	// Choices, when set, asks the person to pick the key for a signature
	// (sdk Consent.ChooseKey; E-IMZO's "ckc"): Kind is Sign, KeyURI and
	// Key are empty, no grant is offered or presented, and there are at
	// most MaxChoices candidates. The host passes the candidates' URIs;
	// the Engine looks them up (EngineConfig.KeyInfo) once the origin's
	// policy passed, drops those it cannot find, and keeps each URI as the
	// host gave it. The pick is reported in Outcome.KeyURI (and, looked
	// up, in Outcome.Key), with the one-use grant covering the signature
	// in Outcome.GrantID (see docs/consent.md, "Choosing a key").
	Choices []hsm.KeyInfo
	// Filter, for a request with Choices, drops the candidates that do not
	// match before the person sees them (sdk Consent.ChooseKey's filter).
	Filter ChoiceFilter

	// ForChoice marks a listing (Kind List) that only gathers candidates
	// for a key choice. For a web origin the person has not allowed yet
	// the Engine asks nothing: it allows the listing with the keys'
	// identities withheld (Outcome.Withheld) and leaves the origin's
	// first use to the choice's dialog.
	ForChoice bool
}

// MaxChoices bounds Request.Choices.
const MaxChoices = 64

// ChoiceFilter is what a candidate key must have to be shown in a key
// choice. The zero value matches every key.
type ChoiceFilter struct {
	// Certificate: only keys with a certificate.
	Certificate bool
	// Algorithms, when set, are the only algorithms shown.
	Algorithms []hsm.KeyAlgorithm
}

// Match reports whether k passes the filter.
func (f ChoiceFilter) Match(k hsm.KeyInfo) bool {
	if f.Certificate && k.Certificate == nil {
		return false
	}
	return len(f.Algorithms) == 0 || slices.Contains(f.Algorithms, k.Algorithm)
}

// String names the filter for errors and logs.
func (f ChoiceFilter) String() string {
	var parts []string
	if f.Certificate {
		parts = append(parts, "with a certificate")
	}
	if len(f.Algorithms) > 0 {
		names := make([]string, len(f.Algorithms))
		for i, a := range f.Algorithms {
			names[i] = string(a)
		}
		parts = append(parts, "of algorithm "+strings.Join(names, " or "))
	}
	if len(parts) == 0 {
		return "any key"
	}
	return strings.Join(parts, ", ")
}

// ChoiceGrantTTL is how long the one-use grant for a picked key lasts: the
// plugin signs right after the choice (the PIN, if any, is asked during
// that signature, not before).
const ChoiceGrantTTL = 5 * time.Minute

// MaxChoiceUses bounds the signatures one key choice covers: a choice
// with GrantUses N > 1 is the person's consent to N signatures of the
// request's documents (a CryptoARM job of N files), and its grant has N
// uses.
const MaxChoiceUses = 100

// Asker decides on requests.
type Asker interface {
	Ask(ctx context.Context, req Request) error
}

// AskerFunc adapts a function to Asker.
type AskerFunc func(ctx context.Context, req Request) error

// Ask calls f.
func (f AskerFunc) Ask(ctx context.Context, req Request) error { return f(ctx, req) }

// AllowAll approves everything (tests, plugintest). Asked to pick a key
// (Request.Choices), it picks the first candidate, without looking it up
// or applying Request.Filter (the host checks the pick against the filter
// afterwards), and creates no grant.
var AllowAll Asker = AskerFunc(func(ctx context.Context, req Request) error {
	if out := OutcomeFrom(ctx); out != nil && len(req.Choices) > 0 {
		out.KeyURI = req.Choices[0].URI
	}
	return nil
})

// DenyAll refuses everything.
var DenyAll Asker = AskerFunc(func(_ context.Context, req Request) error {
	return fmt.Errorf("%s by plugin %s: %w", req.Kind, req.Plugin, hsm.ErrDenied)
})

// Decision of an unattended rule.
type Decision string

// Decisions.
const (
	Allow Decision = "allow"
	Deny  Decision = "deny"
)

// Rule is one unattended-policy rule, the programmatic form of a
// configuration rule (config.Rule). Empty fields match anything. Origin is
// an origin pattern as in the configuration (config.ParsePattern:
// "https://*.example.org", "http://localhost:*", "*") or "local" for a local
// caller; Plugin is a plugin name; KeyURI names a key (hsm.SameURI).
type Rule struct {
	Origin   string
	Plugin   string
	KeyURI   string
	Kind     Kind
	Decision Decision
	// Uses limits how many times the rule may allow; 0 means unlimited.
	Uses int
}

// Unattended is a rule-based Asker for CI, kiosks and tests: the first
// matching rule decides; no match denies; use counts are consumed
// atomically. It is an Engine without a Prompter, journal or remembered
// decisions, so it applies the rules exactly as the agent does.
type Unattended struct {
	e *Engine
}

// NewUnattended returns an Unattended policy over rules.
func NewUnattended(rules []Rule) *Unattended {
	var pol config.Policy
	for _, r := range rules {
		pol.Unattended.Rules = append(pol.Unattended.Rules, config.Rule{
			Origin: r.Origin, Plugin: r.Plugin, Key: r.KeyURI, Operation: string(r.Kind),
			Action: string(r.Decision), Uses: r.Uses,
		})
	}
	e, err := NewEngine(EngineConfig{Policy: &pol})
	if err != nil {
		panic(err) // no data directory: cannot fail
	}
	return &Unattended{e: e}
}

// Ask applies the first matching rule.
func (u *Unattended) Ask(ctx context.Context, req Request) error { return u.e.Ask(ctx, req) }

type ctxKey struct{}

// WithRequest returns ctx carrying req, so that code further down — the
// key store's PIN prompt — can show the person what the PIN is for.
func WithRequest(ctx context.Context, req Request) context.Context {
	return context.WithValue(ctx, ctxKey{}, req)
}

// Outcome is what Ask reports back besides allow or refuse, for callers
// that attach one with WithOutcome.
type Outcome struct {
	// GrantID names the grant the person accepted while deciding this
	// request (the request offered one with GrantUses); empty otherwise.
	// The host hands it to the plugin, which gives it to the page (Cipher's
	// accessTokenUuid); the page presents it again as Request.GrantID.
	// For a key choice (Request.Choices) it names the one-use grant for the
	// signature with the picked key; the plugin presents it on that Sign.
	GrantID string
	// KeyURI is the key picked for a request with Choices (one of their
	// URIs, as given); empty otherwise.
	KeyURI string
	// Key is the picked key as the Engine looked it up (certificate and
	// chain included) for a request with Choices; nil when the consent
	// system did not look it up.
	Key *hsm.KeyInfo
	// Withheld reports that a listing for a choice (Request.ForChoice) was
	// allowed only with the keys' identities withheld: the caller returns
	// each key's URI and capabilities, no label, id, public key,
	// certificate or chain.
	Withheld bool

	// OneRecord is set by the caller before Ask: it promises to call
	// Record (with a context carrying this Outcome) once the operation
	// ran, and to release the operation's result only when Record returns
	// nil. An Engine may then journal a decision that needed no question
	// (an unattended rule, a grant) together with the outcome, in one
	// record written by Record, instead of a decision record now and an
	// outcome record later (see docs/consent.md, "Journal").
	OneRecord bool

	// pending is the decision Ask left for Record to journal (OneRecord);
	// set only by the Engine.
	pending *verdict
}

// Deferred reports whether Ask allowed without journaling its decision
// (Outcome.OneRecord): the caller must journal it with Record and withhold
// the operation's result when Record fails.
func (o *Outcome) Deferred() bool { return o != nil && o.pending != nil }

type outcomeKey struct{}

// WithOutcome returns ctx carrying out: an Asker that supports it (the
// Engine) fills it during Ask. One Outcome per Ask call.
func WithOutcome(ctx context.Context, out *Outcome) context.Context {
	return context.WithValue(ctx, outcomeKey{}, out)
}

// OutcomeFrom returns the Outcome attached with WithOutcome, or nil.
func OutcomeFrom(ctx context.Context) *Outcome {
	o, _ := ctx.Value(outcomeKey{}).(*Outcome)
	return o
}

// RequestFrom returns the Request attached with WithRequest.
func RequestFrom(ctx context.Context) (Request, bool) {
	r, ok := ctx.Value(ctxKey{}).(Request)
	return r, ok
}
