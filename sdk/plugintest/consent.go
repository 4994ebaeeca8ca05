package plugintest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk"
)

// Kind is the kind of operation a Question is about.
type Kind string

// Operation kinds, as the host asks about them.
const (
	Sign    Kind = "sign"    // KeyService.Sign, Consent.ChooseKey, Consent.GrantSign
	Decrypt Kind = "decrypt" // KeyService.Decrypt
	KeyGen  Kind = "keygen"  // KeyService.GenerateKey
	CSR     Kind = "csr"     // KeyService.CreateCSR
	Import  Kind = "import"  // KeyService.ImportCertificate
	List    Kind = "list"    // KeyService.Tokens, Keys, Key
	Origin  Kind = "origin"  // Consent.Ask
)

// Question is one thing the host put to the consent system (the person,
// under `signet serve`): the operation as the plugin described it, with
// what the host added (the plugin's name).
type Question struct {
	Kind Kind
	// Plugin is the plugin's name, set by the host (the Description's Name).
	Plugin    string
	Origin    string // the web origin, "" for a local caller
	Caller    string
	Summary   string
	Documents []sdk.Document
	Evidence  map[string]string
	RequestID string
	// KeyURI is the key (or token) concerned; "" when none.
	KeyURI string
	// Choices are the candidate key URIs of a Consent.ChooseKey.
	Choices []string
	// SummaryHTML is the sanitised HTML summary.
	SummaryHTML string
	// GrantUses and GrantWithin are the grant the plugin offered; GrantID
	// the grant it presented; GrantOnly is set for Consent.GrantSign.
	GrantUses   int
	GrantWithin time.Duration
	GrantID     string
	GrantOnly   bool
}

// Consent is how the test host decides, and what it was asked. Make one
// with AllowAll, DenyAll, Deny, PickKey, Decide, AcceptGrants or
// Unattended, pass it in Config.Consent, and read Questions after the
// plugin ran. It is safe for concurrent use; use one per Start.
type Consent struct {
	asker consent.Asker // set by the constructor, or by Start for AcceptGrants
	// engine: Start builds the host's consent engine (AcceptGrants,
	// Unattended) with these origins allowed beforehand, these rules, and
	// the person of AcceptGrants (person) or nobody.
	engine  bool
	person  bool
	origins []string
	rules   []Rule
	// pick: PickKey's label or URI; Start resolves it to pickURI.
	pick string

	mu      sync.Mutex
	pickURI string
	asked   []Question
}

// AllowAll allows every operation; asked to pick a key (ChooseKey), it
// picks the first candidate without applying the ChooseKey filter (a pick
// the filter rejects then fails with sdk.ErrKeyNotFound; AcceptGrants
// runs the host's real filtering). It offers no grants: a Sign that offers one
// is allowed without creating it.
func AllowAll() *Consent { return &Consent{asker: consent.AllowAll} }

// DenyAll refuses every operation with an error matching sdk.ErrDenied.
func DenyAll() *Consent { return &Consent{asker: consent.DenyAll} }

// Deny refuses the operations of the given kinds (sdk.ErrDenied) and
// allows the others as AllowAll does.
func Deny(kinds ...Kind) *Consent {
	return &Consent{asker: consent.AskerFunc(func(ctx context.Context, req consent.Request) error {
		if slices.Contains(kinds, Kind(req.Kind)) {
			return consent.DenyAll.Ask(ctx, req)
		}
		return consent.AllowAll.Ask(ctx, req)
	})}
}

// PickKey allows every operation and, asked to pick a key, picks the key
// named by key: a label on the token (KeyRSA, KeyECDSA, KeyEd25519) or a
// key URI. When it is not among the candidates the choice is refused
// (sdk.ErrDenied), as by a person who finds no suitable key. Like
// AllowAll it creates no grant, so the Sign after the choice is asked
// about too; AcceptGrants shows the one-question flow of the real host.
func PickKey(key string) *Consent {
	c := &Consent{pick: key}
	c.asker = consent.AskerFunc(func(ctx context.Context, req consent.Request) error {
		if len(req.Choices) == 0 {
			return nil
		}
		c.mu.Lock()
		uri := c.pickURI
		c.mu.Unlock()
		for _, k := range req.Choices {
			if k.URI == uri {
				if out := consent.OutcomeFrom(ctx); out != nil {
					out.KeyURI = k.URI
				}
				return nil
			}
		}
		return fmt.Errorf("plugintest: %s is not among the candidates: %w", key, sdk.ErrDenied)
	})
	return c
}

// AcceptGrants runs the host's real consent engine, as under `signet
// serve`, with a person who allows every question and accepts every grant
// the plugin offers (Operation.GrantUses, Consent.GrantSign): the host
// creates the grant of N uses and reports its id to the plugin; later
// operations presenting it are decided by the grant alone, without a
// question, and are refused once it is used up, expired, or presented for
// another origin or key. Asked to pick a key, the person picks the first
// candidate (and the host issues the one-use grant of the choice).
//
// The origins are allowed beforehand (the person chose "Always" earlier).
// Any other origin first gets the first-use question, which the person
// answers "Always" — but, as in the real dialog, that question offers no
// grant. Questions then lists only what reached the person: operations a
// grant or the remembered origin decided are not asked.
func AcceptGrants(origins ...string) *Consent {
	return &Consent{engine: true, person: true, origins: slices.Clone(origins)}
}

// Rule is one unattended rule of the administrator (policy.unattended.rules
// in the agent's configuration). Empty (or "*") fields match anything.
type Rule struct {
	Origin    string // an origin pattern, or "local" for a local caller
	Plugin    string // a plugin name: the Description's Name
	Key       string // a key URI (exact match)
	Operation Kind
	Action    string // "allow", "deny" or "ask"
	Uses      int    // how many times an allow rule may be used (0: unbounded)
}

// Unattended runs the host's real consent engine with the administrator's
// unattended rules and nobody to ask, as `signet serve --prompt none` on a
// kiosk or in CI: the first matching rule allows or denies; whatever would
// need a person (no rule, an "ask" rule, an origin's first use that no
// allow rule covers) is refused with sdk.ErrDenied. Questions lists every
// operation the host put to it.
func Unattended(rules ...Rule) *Consent {
	return &Consent{engine: true, rules: slices.Clone(rules)}
}

// Decide allows or refuses each operation with f: return nil to allow, or
// an error wrapping sdk.ErrDenied, sdk.ErrTimeout or sdk.ErrCancelled (the
// plugin sees that sentinel). ctx is the host's: it is cancelled when the
// plugin's call is. Asked to pick a key, an allowing f picks the first
// candidate.
func Decide(f func(ctx context.Context, q Question) error) *Consent {
	return &Consent{asker: consent.AskerFunc(func(ctx context.Context, req consent.Request) error {
		if err := f(ctx, question(req)); err != nil {
			return err
		}
		return consent.AllowAll.Ask(ctx, req)
	})}
}

// Questions returns what was asked so far, oldest first: every operation
// the host put to the consent system, or, for AcceptGrants, every question
// that reached the person.
func (c *Consent) Questions() []Question {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.asked)
}

// QuestionsOf returns the questions of one kind, oldest first.
func (c *Consent) QuestionsOf(kind Kind) []Question {
	var out []Question
	for _, q := range c.Questions() {
		if q.Kind == kind {
			out = append(out, q)
		}
	}
	return out
}

// ask records req and decides on it; the host calls it.
func (c *Consent) ask(ctx context.Context, req consent.Request) error {
	if !c.person {
		c.record(req)
	}
	return c.asker.Ask(ctx, req)
}

func (c *Consent) record(req consent.Request) {
	c.mu.Lock()
	c.asked = append(c.asked, question(req))
	c.mu.Unlock()
}

func question(req consent.Request) Question {
	q := Question{
		Kind: Kind(req.Kind), Plugin: req.Plugin, Origin: req.Origin, Caller: req.Caller,
		Summary: req.Summary, SummaryHTML: req.SummaryHTML, Evidence: req.Evidence,
		RequestID: req.RequestID, KeyURI: req.KeyURI,
		GrantUses: req.GrantUses, GrantWithin: req.GrantWithin, GrantID: req.GrantID, GrantOnly: req.GrantOnly,
	}
	for _, d := range req.Documents {
		q.Documents = append(q.Documents, sdk.Document{Name: d.Name, Size: d.Size, SHA256: d.SHA256, ContentType: d.ContentType})
	}
	for _, k := range req.Choices {
		q.Choices = append(q.Choices, k.URI)
	}
	return q
}

// yes is the person of AcceptGrants: allows, remembers the origin, accepts
// the grant offered, and picks the first candidate. It records what it
// was asked.
type yes struct{ c *Consent }

func (y yes) Confirm(_ context.Context, q consent.Question) (consent.Answer, error) {
	y.c.record(q.Request)
	a := consent.Answer{Allow: true, Remember: true}
	if len(q.Request.Choices) > 0 {
		a.KeyURI = q.Request.Choices[0].URI
	}
	return a, nil
}

func (yes) PIN(context.Context, hsm.PINRequest) (hsm.PINResponse, error) {
	return hsm.PINResponse{}, fmt.Errorf("plugintest: the key store has the PIN: %w", sdk.ErrCancelled)
}
