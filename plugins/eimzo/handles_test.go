package eimzo

// The keyId registry: ids, expiry on the server's clock, scoping to the
// loading domain, and the MaxHandles bound. Internal: the registry is not
// reachable from outside without real key files, and its clock is
// Config.Now.

import (
	"context"
	"testing"
	"time"

	"github.com/signet-agent/signet/sdk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testClock is a settable clock for Config.Now.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time          { return c.t }
func (c *testClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

const keyIDPattern = `^[0-9a-f]{32}$`

func TestHandlesIDs(t *testing.T) {
	hs := newHandles(newTestClock().now)
	seen := map[string]bool{}
	for range 200 {
		id := hs.add(handle{Type: TypePFX, Domain: "portal.example"}, time.Hour)
		require.Regexp(t, keyIDPattern, id, "keyId is not 32 lowercase hex digits")
		require.False(t, seen[id], "keyId %s issued twice", id)
		seen[id] = true
	}
}

func TestHandlesExpiry(t *testing.T) {
	clock := newTestClock()
	hs := newHandles(clock.now)
	id := hs.add(handle{Type: TypePFX, Domain: "portal.example", Name: "DS1"}, time.Hour)

	clock.advance(time.Hour - time.Nanosecond)
	h, ok := hs.get("portal.example", id)
	require.True(t, ok, "handle gone just before expiry")
	require.Equal(t, id, h.ID, "just before expiry")
	require.Equal(t, "DS1", h.Name, "just before expiry")
	require.Equal(t, TypePFX, h.Type, "just before expiry")
	require.True(t, h.Expires.Equal(clock.t.Add(time.Nanosecond)), "just before expiry: expires %v", h.Expires)
	// get returns a copy: changing it does not change the registry.
	h.Domain = "other.example"
	_, ok = hs.get("portal.example", id)
	require.True(t, ok, "changing a returned handle changed the registry")

	clock.advance(time.Nanosecond) // exactly at Expires: gone
	_, ok = hs.get("portal.example", id)
	require.False(t, ok, "handle still valid at its expiry")
	assert.Empty(t, hs.byID, "expired handle kept in the registry")
	assert.False(t, hs.remove("portal.example", id), "remove reported an expired handle as present")

	// Expired handles are dropped when a new one is added, even if nobody
	// asks for them again.
	for range 10 {
		hs.add(handle{Domain: "a.example"}, time.Minute)
	}
	clock.advance(time.Minute)
	live := hs.add(handle{Domain: "a.example"}, time.Minute)
	assert.Len(t, hs.byID, 1, "entries after expiry, want only the new one")
	_, ok = hs.get("a.example", live)
	assert.True(t, ok, "new handle missing")
}

func TestHandlesDomainScope(t *testing.T) {
	hs := newHandles(newTestClock().now)
	id := hs.add(handle{Type: TypePFX, Domain: "portal.example"}, time.Hour)
	for _, other := range []string{"evil.example", "", "null", "PORTAL.EXAMPLE", "portal.example.evil.example"} {
		_, ok := hs.get(other, id)
		assert.False(t, ok, "domain %q got portal.example's handle", other)
		assert.False(t, hs.remove(other, id), "domain %q removed portal.example's handle", other)
	}
	_, ok := hs.get("portal.example", id)
	require.True(t, ok, "the loading domain lost its handle")
	require.True(t, hs.remove("portal.example", id), "the loading domain could not remove its handle")
	_, ok = hs.get("portal.example", id)
	assert.False(t, ok, "handle still there after remove")
	assert.False(t, hs.remove("portal.example", id), "second remove reported the handle present")
}

func TestHandlesMaxEviction(t *testing.T) {
	clock := newTestClock()
	hs := newHandles(clock.now)
	ids := make([]string, MaxHandles)
	for i := range ids {
		ids[i] = hs.add(handle{Domain: "portal.example"}, time.Hour)
		clock.advance(time.Second) // later handles expire later
	}
	require.Len(t, hs.byID, MaxHandles)
	// One more: the one that expires first goes, nothing else.
	extra := hs.add(handle{Domain: "other.example"}, time.Hour)
	require.Len(t, hs.byID, MaxHandles, "handles after one more")
	_, ok := hs.get("portal.example", ids[0])
	assert.False(t, ok, "the oldest handle survived past MaxHandles")
	for _, id := range append(ids[1:], extra) {
		require.Contains(t, hs.byID, id, "handle evicted, want only the oldest")
	}
	// Eviction goes by expiry, not age: a young handle with a short
	// lifetime is the next to go (its own add evicted ids[1]).
	short := hs.add(handle{Domain: "portal.example"}, time.Millisecond)
	hs.add(handle{Domain: "portal.example"}, time.Hour)
	assert.NotContains(t, hs.byID, short, "the handle expiring first was not the one evicted")
	assert.Contains(t, hs.byID, ids[2], "a longer-lived handle was evicted instead of the one expiring first")
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
	h, err := s.keyFor(callFrom("portal.example"), id)
	require.NoError(t, err, "keyFor own id")
	require.Equal(t, id, h.ID, "keyFor own id")
	for _, tc := range []struct {
		name, domain, id string
	}{
		{"unknown", "portal.example", "00000000000000000000000000000000"},
		{"empty", "portal.example", ""},
		{"other domain", "evil.example", id},
	} {
		_, err := s.keyFor(callFrom(tc.domain), tc.id)
		assert.Equal(t, StatusKeyIDNotFound, asError(err).Status, "%s: %v, want -1010", tc.name, err)
	}
	clock.advance(10 * time.Minute)
	_, err = s.keyFor(callFrom("portal.example"), id)
	assert.Equal(t, StatusKeyIDNotFound, asError(err).Status, "after KeyTTL: %v, want -1010", err)
}

func TestHandlesSetKey(t *testing.T) {
	hs := newHandles(newTestClock().now)
	id := hs.add(handle{Type: TypePFX, Domain: "portal.example", Key: sdk.Key{URI: "file:///disk/VALI.pfx#old"}}, time.Hour)
	assert.False(t, hs.setKey("evil.example", id, sdk.Key{URI: "file:///disk/EVIL.pfx#x"}), "another domain replaced the key")
	require.True(t, hs.setKey("portal.example", id, sdk.Key{URI: "file:///disk/VALI.pfx#new"}), "the loading domain could not replace its key")
	h, ok := hs.get("portal.example", id)
	if assert.True(t, ok, "handle gone after setKey") {
		assert.Equal(t, "file:///disk/VALI.pfx#new", h.Key.URI, "after setKey")
	}
	hs.remove("portal.example", id)
	assert.False(t, hs.setKey("portal.example", id, sdk.Key{}), "setKey on a removed handle reported it present")
}
