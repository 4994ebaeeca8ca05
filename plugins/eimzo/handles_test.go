package eimzo

// The keyId registry: ids, expiry on the server's clock, scoping to the
// loading domain, and the MaxHandles bound. Internal: the registry is not
// reachable from outside without real key files, and its clock is
// Config.Now.

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/signet-agent/signet/sdk"
)

// testClock is a settable clock for Config.Now.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time          { return c.t }
func (c *testClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

var keyIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestHandlesIDs(t *testing.T) {
	hs := newHandles(newTestClock().now)
	seen := map[string]bool{}
	for range 200 {
		id := hs.add(handle{Type: TypePFX, Domain: "portal.example"}, time.Hour)
		if !keyIDPattern.MatchString(id) {
			t.Fatalf("keyId %q is not 32 lowercase hex digits", id)
		}
		if seen[id] {
			t.Fatalf("keyId %s issued twice", id)
		}
		seen[id] = true
	}
}

func TestHandlesExpiry(t *testing.T) {
	clock := newTestClock()
	hs := newHandles(clock.now)
	id := hs.add(handle{Type: TypePFX, Domain: "portal.example", Name: "DS1"}, time.Hour)

	clock.advance(time.Hour - time.Nanosecond)
	h, ok := hs.get("portal.example", id)
	if !ok || h.ID != id || h.Name != "DS1" || h.Type != TypePFX || !h.Expires.Equal(clock.t.Add(time.Nanosecond)) {
		t.Fatalf("just before expiry: %+v %v", h, ok)
	}
	// get returns a copy: changing it does not change the registry.
	h.Domain = "other.example"
	if _, ok := hs.get("portal.example", id); !ok {
		t.Fatal("changing a returned handle changed the registry")
	}

	clock.advance(time.Nanosecond) // exactly at Expires: gone
	if _, ok := hs.get("portal.example", id); ok {
		t.Fatal("handle still valid at its expiry")
	}
	if n := len(hs.byID); n != 0 {
		t.Errorf("expired handle kept in the registry (%d entries)", n)
	}
	if hs.remove("portal.example", id) {
		t.Error("remove reported an expired handle as present")
	}

	// Expired handles are dropped when a new one is added, even if nobody
	// asks for them again.
	for range 10 {
		hs.add(handle{Domain: "a.example"}, time.Minute)
	}
	clock.advance(time.Minute)
	live := hs.add(handle{Domain: "a.example"}, time.Minute)
	if len(hs.byID) != 1 {
		t.Errorf("%d entries after expiry, want only the new one", len(hs.byID))
	}
	if _, ok := hs.get("a.example", live); !ok {
		t.Error("new handle missing")
	}
}

func TestHandlesDomainScope(t *testing.T) {
	hs := newHandles(newTestClock().now)
	id := hs.add(handle{Type: TypePFX, Domain: "portal.example"}, time.Hour)
	for _, other := range []string{"evil.example", "", "null", "PORTAL.EXAMPLE", "portal.example.evil.example"} {
		if _, ok := hs.get(other, id); ok {
			t.Errorf("domain %q got portal.example's handle", other)
		}
		if hs.remove(other, id) {
			t.Errorf("domain %q removed portal.example's handle", other)
		}
	}
	if _, ok := hs.get("portal.example", id); !ok {
		t.Fatal("the loading domain lost its handle")
	}
	if !hs.remove("portal.example", id) {
		t.Fatal("the loading domain could not remove its handle")
	}
	if _, ok := hs.get("portal.example", id); ok {
		t.Error("handle still there after remove")
	}
	if hs.remove("portal.example", id) {
		t.Error("second remove reported the handle present")
	}
}

func TestHandlesMaxEviction(t *testing.T) {
	clock := newTestClock()
	hs := newHandles(clock.now)
	ids := make([]string, MaxHandles)
	for i := range ids {
		ids[i] = hs.add(handle{Domain: "portal.example"}, time.Hour)
		clock.advance(time.Second) // later handles expire later
	}
	if len(hs.byID) != MaxHandles {
		t.Fatalf("%d handles, want %d", len(hs.byID), MaxHandles)
	}
	// One more: the one that expires first goes, nothing else.
	extra := hs.add(handle{Domain: "other.example"}, time.Hour)
	if len(hs.byID) != MaxHandles {
		t.Fatalf("%d handles after one more, want %d", len(hs.byID), MaxHandles)
	}
	if _, ok := hs.get("portal.example", ids[0]); ok {
		t.Error("the oldest handle survived past MaxHandles")
	}
	for _, id := range append(ids[1:], extra) {
		if _, ok := hs.byID[id]; !ok {
			t.Fatalf("handle %s evicted, want only the oldest", id)
		}
	}
	// Eviction goes by expiry, not age: a young handle with a short
	// lifetime is the next to go (its own add evicted ids[1]).
	short := hs.add(handle{Domain: "portal.example"}, time.Millisecond)
	hs.add(handle{Domain: "portal.example"}, time.Hour)
	if _, ok := hs.byID[short]; ok {
		t.Error("the handle expiring first was not the one evicted")
	}
	if _, ok := hs.byID[ids[2]]; !ok {
		t.Error("a longer-lived handle was evicted instead of the one expiring first")
	}
}

// TestHandlesThroughServer checks that the Server's registry uses
// Config.Now and Config.KeyTTL, and that keyFor answers -1010 for an
// unknown, foreign or expired keyId.
func TestHandlesThroughServer(t *testing.T) {
	clock := newTestClock()
	s := NewServer(Config{Now: clock.now, KeyTTL: 10 * time.Minute})
	// A key pair: keyFor returns it as it is (a PFX handle without a
	// certificate would first be unlocked through the key store).
	id := s.handles.add(handle{Type: TypeKeyPair, Domain: "portal.example"}, s.keyTTL)
	callFrom := func(domain string) *call {
		return &call{ctx: context.Background(), sess: &session{server: s, domain: domain}, fn: &function{Plugin: "pfx", Name: "test"}}
	}
	if h, err := s.keyFor(callFrom("portal.example"), id); err != nil || h.ID != id {
		t.Fatalf("keyFor own id: %+v, %v", h, err)
	}
	for _, tc := range []struct {
		name, domain, id string
	}{
		{"unknown", "portal.example", "00000000000000000000000000000000"},
		{"empty", "portal.example", ""},
		{"other domain", "evil.example", id},
	} {
		if _, err := s.keyFor(callFrom(tc.domain), tc.id); asError(err).Status != StatusKeyIDNotFound {
			t.Errorf("%s: %v, want -1010", tc.name, err)
		}
	}
	clock.advance(10 * time.Minute)
	if _, err := s.keyFor(callFrom("portal.example"), id); asError(err).Status != StatusKeyIDNotFound {
		t.Errorf("after KeyTTL: %v, want -1010", err)
	}
}

func TestHandlesSetKey(t *testing.T) {
	hs := newHandles(newTestClock().now)
	id := hs.add(handle{Type: TypePFX, Domain: "portal.example", Key: sdk.Key{URI: "file:///disk/VALI.pfx#old"}}, time.Hour)
	if hs.setKey("evil.example", id, sdk.Key{URI: "file:///disk/EVIL.pfx#x"}) {
		t.Error("another domain replaced the key")
	}
	if !hs.setKey("portal.example", id, sdk.Key{URI: "file:///disk/VALI.pfx#new"}) {
		t.Fatal("the loading domain could not replace its key")
	}
	if h, ok := hs.get("portal.example", id); !ok || h.Key.URI != "file:///disk/VALI.pfx#new" {
		t.Errorf("after setKey: %+v %v", h, ok)
	}
	hs.remove("portal.example", id)
	if hs.setKey("portal.example", id, sdk.Key{}) {
		t.Error("setKey on a removed handle reported it present")
	}
}
