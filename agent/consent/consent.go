// Package consent decides whether an operation a plugin asks for may go
// ahead. This is the minimal interface the plugin host calls; issue 5 builds
// the real consent system (browser dialog, grants, origin policy, journal)
// behind the same interface.
//
// The host calls Asker.Ask before every key use and listing, with a Request
// describing who asks, which plugin, which key and what is concerned. Ask
// returns nil to allow, or an error matching hsm.ErrDenied, hsm.ErrTimeout
// or hsm.ErrCancelled. Implementations must be safe for concurrent use.
package consent

import (
	"context"
	"fmt"
	"path"
	"sync"
	"time"

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
	Kind      Kind
	Plugin    string // set by the host, never by the plugin
	Origin    string // web origin, or "" for a local caller
	Caller    string // local caller description
	Summary   string
	Documents []Document
	Evidence  map[string]string
	RequestID string
	KeyURI    string       // empty when no key is concerned
	Key       *hsm.KeyInfo // the key, when the host could look it up

	// GrantUses > 1 offers the person a grant (Cipher's accessToken):
	// allow this origin GrantUses operations of this kind with this key
	// within GrantWithin, this one included. Set by the plugin.
	GrantUses   int
	GrantWithin time.Duration
	// GrantID names the grant the caller presents (a Cipher token); when
	// set, only that grant may cover the request.
	GrantID string
}

// Asker decides on requests.
type Asker interface {
	Ask(ctx context.Context, req Request) error
}

// AskerFunc adapts a function to Asker.
type AskerFunc func(ctx context.Context, req Request) error

// Ask calls f.
func (f AskerFunc) Ask(ctx context.Context, req Request) error { return f(ctx, req) }

// AllowAll approves everything (tests, plugintest).
var AllowAll Asker = AskerFunc(func(context.Context, Request) error { return nil })

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

// Rule is one unattended-policy rule. Empty fields match anything; Origin,
// Plugin and KeyURI are path.Match patterns ("https://*.example.org").
type Rule struct {
	Origin   string
	Plugin   string
	KeyURI   string
	Kind     Kind
	Decision Decision
	// Uses limits how many times the rule may allow; 0 means unlimited.
	Uses int
}

// Unattended is a rule-based Asker for CI and kiosks: the first matching
// rule decides; no match denies. Use counts are consumed atomically.
type Unattended struct {
	mu    sync.Mutex
	rules []Rule
	used  []int
}

// NewUnattended returns an Unattended policy over rules.
func NewUnattended(rules []Rule) *Unattended {
	return &Unattended{rules: rules, used: make([]int, len(rules))}
}

// Ask applies the first matching rule.
func (u *Unattended) Ask(_ context.Context, req Request) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i, r := range u.rules {
		if !match(r.Origin, req.Origin) || !match(r.Plugin, req.Plugin) || !match(r.KeyURI, req.KeyURI) {
			continue
		}
		if r.Kind != "" && r.Kind != req.Kind {
			continue
		}
		if r.Decision != Allow {
			return fmt.Errorf("%s by plugin %s: refused by policy: %w", req.Kind, req.Plugin, hsm.ErrDenied)
		}
		if r.Uses > 0 {
			if u.used[i] >= r.Uses {
				continue // exhausted: later rules may still decide
			}
			u.used[i]++
		}
		return nil
	}
	return fmt.Errorf("%s by plugin %s: no policy rule allows it: %w", req.Kind, req.Plugin, hsm.ErrDenied)
}

func match(pattern, s string) bool {
	if pattern == "" || pattern == "*" {
		return true
	}
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}

type ctxKey struct{}

// WithRequest returns ctx carrying req, so that code further down — the
// key store's PIN prompt — can show the person what the PIN is for.
func WithRequest(ctx context.Context, req Request) context.Context {
	return context.WithValue(ctx, ctxKey{}, req)
}

// RequestFrom returns the Request attached with WithRequest.
func RequestFrom(ctx context.Context) (Request, bool) {
	r, ok := ctx.Value(ctxKey{}).(Request)
	return r, ok
}
