// Package grants keeps the person's standing permissions: "allow ORIGIN to
// sign N times with KEY within T minutes" (Cipher's accessToken). The
// consent layer adds a grant when the person approves one in the dialog and
// consults the [Store] before asking again: a request that a grant covers
// goes ahead without a dialog and consumes one use. A grant covers a request
// when origin, plugin and operation are equal, the key URIs name the same
// key, and it has uses and time left. [Store.Consume] takes a use under the
// store's mutex, so a grant of N never allows more than N operations, even
// concurrently or when an operation then fails; [Store.ConsumeID] does the
// same for a grant named by its ID, a 128-bit random bearer token that is
// still bound to its origin, plugin, key and operation. Grants live in
// memory only and are lost when the agent restarts.
//
//	store := grants.New()
//	g, err := store.Add(grants.Grant{
//		Origin: "https://portal.example", Plugin: "cipher", Operation: "sign",
//		KeyURI: keyURI, Uses: 5, Expires: time.Now().Add(10 * time.Minute),
//	})
//	// err: a bad grant (ErrInvalid); g.ID is its bearer token
//	if used, ok := store.Consume("https://portal.example", "cipher", keyURI, "sign", time.Now()); ok {
//		// sign without a dialog; used.Remaining uses are left
//	}
//
// Design: docs/grants.md (matching, consumption, why grants are not
// persisted).
package grants

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/signet-agent/signet/hsm"
)

// Bounds on a grant.
const (
	MaxUses = 1000
	MaxTTL  = 24 * time.Hour
)

var (
	// ErrNotFound is returned by Revoke for an unknown (or expired, or
	// used up) grant ID.
	ErrNotFound = errors.New("grant not found")
	// ErrInvalid is returned by Add for a grant outside the bounds.
	ErrInvalid = errors.New("invalid grant")
)

// Grant is a permission for Origin (through Plugin) to perform Operation
// with the key KeyURI, Uses times, until Expires.
type Grant struct {
	ID        string    `json:"id"` // 32 hex digits (128 random bits)
	Origin    string    `json:"origin"`
	Plugin    string    `json:"plugin"`
	KeyURI    string    `json:"key_uri"`
	Operation string    `json:"operation"` // "sign", "decrypt", …
	Uses      int       `json:"uses"`      // as granted
	Remaining int       `json:"remaining"`
	Expires   time.Time `json:"expires"`
	Created   time.Time `json:"created"`
	// ByID: only ConsumeID (the caller presents the ID) may use the grant;
	// Consume never picks it. The consent engine's one-use grant for a key
	// the person picked (consent.Request.Choices) is one: it covers the one
	// signature the person saw, not any request of that origin.
	ByID bool `json:"by_id,omitempty"`
}

// Expired reports whether g has run out of time at now.
func (g Grant) Expired(now time.Time) bool { return !now.Before(g.Expires) }

func (g *Grant) covers(origin, plugin, keyURI, op string) bool {
	return g.Origin == origin && g.Plugin == plugin && g.Operation == op && hsm.SameURI(g.KeyURI, keyURI)
}

// Store holds the active grants. It is safe for concurrent use.
type Store struct {
	now func() time.Time

	mu     sync.Mutex
	grants map[string]*Grant
}

// Option configures New.
type Option func(*Store)

// WithClock sets the clock Add, List and Revoke use (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{now: time.Now, grants: map[string]*Grant{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("grant id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Add stores a new grant built from g's Origin, Plugin, KeyURI, Operation,
// Uses and Expires, and returns it with ID, Remaining (= Uses) and Created
// set. Origin, KeyURI and Operation are required; Uses must be 1..MaxUses
// and Expires in (now, now+MaxTTL].
func (s *Store) Add(g Grant) (Grant, error) {
	now := s.now()
	switch {
	case g.Origin == "":
		return Grant{}, fmt.Errorf("%w: no origin", ErrInvalid)
	case g.KeyURI == "":
		return Grant{}, fmt.Errorf("%w: no key", ErrInvalid)
	case g.Operation == "":
		return Grant{}, fmt.Errorf("%w: no operation", ErrInvalid)
	case g.Uses < 1 || g.Uses > MaxUses:
		return Grant{}, fmt.Errorf("%w: %d uses (1 to %d allowed)", ErrInvalid, g.Uses, MaxUses)
	case !g.Expires.After(now):
		return Grant{}, fmt.Errorf("%w: already expired", ErrInvalid)
	case g.Expires.Sub(now) > MaxTTL:
		return Grant{}, fmt.Errorf("%w: lasts longer than %v", ErrInvalid, MaxTTL)
	}
	id, err := newID()
	if err != nil {
		return Grant{}, err
	}
	ng := Grant{
		ID: id, Origin: g.Origin, Plugin: g.Plugin, KeyURI: g.KeyURI, Operation: g.Operation,
		Uses: g.Uses, Remaining: g.Uses, Expires: g.Expires.Round(0), Created: now.Round(0), ByID: g.ByID,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grants[id] = &ng
	return ng, nil
}

// Consume takes one use of a grant that covers the request at time now,
// and returns the grant as it is after the use (Remaining already
// decremented). It reports false when no grant covers the request.
// Grants with ByID set are left to ConsumeID.
func (s *Store) Consume(origin, plugin, keyURI, op string, now time.Time) (Grant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	var best *Grant
	for _, g := range s.grants {
		if g.ByID || !g.covers(origin, plugin, keyURI, op) {
			continue
		}
		if best == nil || g.Expires.Before(best.Expires) ||
			(g.Expires.Equal(best.Expires) && g.ID < best.ID) {
			best = g
		}
	}
	if best == nil {
		return Grant{}, false
	}
	return s.takeLocked(best), true
}

// ConsumeID is Consume for the grant with the given ID only (a token the
// caller presented). The grant must still cover the request.
func (s *Store) ConsumeID(id, origin, plugin, keyURI, op string, now time.Time) (Grant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	g, ok := s.grants[id]
	if !ok || !g.covers(origin, plugin, keyURI, op) {
		return Grant{}, false
	}
	return s.takeLocked(g), true
}

func (s *Store) takeLocked(g *Grant) Grant {
	g.Remaining--
	if g.Remaining <= 0 {
		delete(s.grants, g.ID)
	}
	return *g
}

// sweepLocked drops expired and used-up grants.
func (s *Store) sweepLocked(now time.Time) {
	for id, g := range s.grants {
		if g.Expired(now) || g.Remaining <= 0 {
			delete(s.grants, id)
		}
	}
}

// List returns the active grants, oldest first.
func (s *Store) List() []Grant {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(s.now())
	out := make([]Grant, 0, len(s.grants))
	for _, g := range s.grants {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Get returns the active grant with the given ID.
func (s *Store) Get(id string) (Grant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(s.now())
	g, ok := s.grants[id]
	if !ok {
		return Grant{}, false
	}
	return *g, true
}

// Revoke removes the grant with the given ID and returns it as it was.
func (s *Store) Revoke(id string) (Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(s.now())
	g, ok := s.grants[id]
	if !ok {
		// the ID is a bearer token for Cipher pages: not echoed
		return Grant{}, fmt.Errorf("revoke grant: %w", ErrNotFound)
	}
	delete(s.grants, id)
	return *g, nil
}

// RevokeOrigin removes every grant given to origin and returns them.
func (s *Store) RevokeOrigin(origin string) []Grant {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Grant
	for id, g := range s.grants {
		if g.Origin == origin {
			out = append(out, *g)
			delete(s.grants, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
