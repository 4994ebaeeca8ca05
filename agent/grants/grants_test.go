package grants

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	origin = "https://portal.example"
	plugin = "cipher"
	key    = "pkcs11:token=Signet%20Test;object=key1;type=private"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func add(t *testing.T, s *Store, c *clock, uses int, ttl time.Duration) Grant {
	t.Helper()
	g, err := s.Add(Grant{Origin: origin, Plugin: plugin, KeyURI: key, Operation: "sign", Uses: uses, Expires: c.Now().Add(ttl)})
	require.NoError(t, err)
	return g
}

func TestAdd(t *testing.T) {
	c := newClock()
	s := New(WithClock(c.Now))
	g := add(t, s, c, 3, 5*time.Minute)
	assert.Len(t, g.ID, 32, "grant %+v", g)
	assert.Equal(t, 3, g.Remaining, "grant %+v", g)
	assert.Equal(t, 3, g.Uses, "grant %+v", g)
	assert.True(t, g.Created.Equal(c.Now()), "grant %+v", g)
	g2 := add(t, s, c, 3, 5*time.Minute)
	assert.NotEqual(t, g.ID, g2.ID, "two grants share an ID")
	bad := []Grant{
		{Plugin: plugin, KeyURI: key, Operation: "sign", Uses: 1, Expires: c.Now().Add(time.Minute)},
		{Origin: origin, Plugin: plugin, Operation: "sign", Uses: 1, Expires: c.Now().Add(time.Minute)},
		{Origin: origin, Plugin: plugin, KeyURI: key, Uses: 1, Expires: c.Now().Add(time.Minute)},
		{Origin: origin, Plugin: plugin, KeyURI: key, Operation: "sign", Uses: 0, Expires: c.Now().Add(time.Minute)},
		{Origin: origin, Plugin: plugin, KeyURI: key, Operation: "sign", Uses: MaxUses + 1, Expires: c.Now().Add(time.Minute)},
		{Origin: origin, Plugin: plugin, KeyURI: key, Operation: "sign", Uses: 1, Expires: c.Now()},
		{Origin: origin, Plugin: plugin, KeyURI: key, Operation: "sign", Uses: 1, Expires: c.Now().Add(MaxTTL + time.Second)},
	}
	for i, b := range bad {
		_, err := s.Add(b)
		assert.ErrorIs(t, err, ErrInvalid, "bad grant %d", i)
	}
	assert.Len(t, s.List(), 2)
}

func TestConsumeCountsDownAndMatches(t *testing.T) {
	c := newClock()
	s := New(WithClock(c.Now))
	g := add(t, s, c, 2, time.Minute)
	misses := []struct{ origin, plugin, key, op string }{
		{"https://evil.example", plugin, key, "sign"},
		{origin, "eimzo", key, "sign"},
		{origin, plugin, "pkcs11:token=Signet%20Test;object=key2;type=private", "sign"},
		{origin, plugin, key, "decrypt"},
	}
	for _, m := range misses {
		_, ok := s.Consume(m.origin, m.plugin, m.key, m.op, c.Now())
		assert.False(t, ok, "consumed for %v", m)
	}
	// the same key spelled differently (attribute order) is the same key
	same := "pkcs11:object=key1;token=Signet%20Test;type=private"
	got, ok := s.Consume(origin, plugin, same, "sign", c.Now())
	require.True(t, ok, "first use")
	require.Equal(t, g.ID, got.ID, "first use")
	require.Equal(t, 1, got.Remaining, "first use")
	got, ok = s.Consume(origin, plugin, key, "sign", c.Now())
	require.True(t, ok, "second use")
	require.Equal(t, 0, got.Remaining, "second use")
	_, ok = s.Consume(origin, plugin, key, "sign", c.Now())
	require.False(t, ok, "third use of a grant of 2")
	assert.Empty(t, s.List(), "used-up grant still listed")
}

func TestConsumePrefersEarliestExpiry(t *testing.T) {
	c := newClock()
	s := New(WithClock(c.Now))
	long := add(t, s, c, 5, 10*time.Minute)
	short := add(t, s, c, 5, 2*time.Minute)
	g, _ := s.Consume(origin, plugin, key, "sign", c.Now())
	assert.Equal(t, short.ID, g.ID, "want the grant expiring first")
	c.Advance(3 * time.Minute)
	g, _ = s.Consume(origin, plugin, key, "sign", c.Now())
	assert.Equal(t, long.ID, g.ID, "after the short one expired")
}

func TestExpiry(t *testing.T) {
	c := newClock()
	s := New(WithClock(c.Now))
	g := add(t, s, c, 10, 5*time.Minute)
	c.Advance(5*time.Minute - time.Nanosecond)
	_, ok := s.Consume(origin, plugin, key, "sign", c.Now())
	require.True(t, ok, "refused just before expiry")
	c.Advance(time.Nanosecond)
	_, ok = s.Consume(origin, plugin, key, "sign", c.Now())
	require.False(t, ok, "consumed at expiry")
	_, ok = s.Get(g.ID)
	assert.False(t, ok, "expired grant still there")
	assert.Empty(t, s.List(), "expired grant listed")
}

func TestConsumeID(t *testing.T) {
	c := newClock()
	s := New(WithClock(c.Now))
	a := add(t, s, c, 1, time.Minute)
	b := add(t, s, c, 1, time.Minute)
	_, ok := s.ConsumeID("00000000000000000000000000000000", origin, plugin, key, "sign", c.Now())
	assert.False(t, ok, "unknown token accepted")
	_, ok = s.ConsumeID(b.ID, "https://evil.example", plugin, key, "sign", c.Now())
	assert.False(t, ok, "token accepted from another origin")
	g, ok := s.ConsumeID(b.ID, origin, plugin, key, "sign", c.Now())
	assert.True(t, ok, "ConsumeID")
	assert.Equal(t, b.ID, g.ID, "ConsumeID")
	_, ok = s.ConsumeID(b.ID, origin, plugin, key, "sign", c.Now())
	assert.False(t, ok, "used-up token accepted")
	_, ok = s.Get(a.ID)
	assert.True(t, ok, "ConsumeID touched another grant")
}

// A grant with ByID is used only by presenting its ID.
func TestByIDOnlyThroughConsumeID(t *testing.T) {
	c := newClock()
	s := New(WithClock(c.Now))
	g, err := s.Add(Grant{Origin: origin, Plugin: plugin, KeyURI: key, Operation: "sign", Uses: 1, Expires: c.Now().Add(time.Minute), ByID: true})
	require.NoError(t, err)
	require.True(t, g.ByID, "Add: %+v", g)
	_, ok := s.Consume(origin, plugin, key, "sign", c.Now())
	require.False(t, ok, "Consume used a ByID grant")
	got, ok := s.ConsumeID(g.ID, origin, plugin, key, "sign", c.Now())
	require.True(t, ok, "ConsumeID")
	require.Equal(t, 0, got.Remaining, "ConsumeID")
	_, ok = s.ConsumeID(g.ID, origin, plugin, key, "sign", c.Now())
	require.False(t, ok, "a one-use ByID grant was used twice")
}

func TestRevoke(t *testing.T) {
	c := newClock()
	s := New(WithClock(c.Now))
	g1 := add(t, s, c, 5, time.Minute)
	g2 := add(t, s, c, 5, time.Minute)
	other, err := s.Add(Grant{Origin: "https://other.example", Plugin: plugin, KeyURI: key, Operation: "sign", Uses: 1, Expires: c.Now().Add(time.Minute)})
	require.NoError(t, err)
	got, err := s.Revoke(g1.ID)
	require.NoError(t, err, "Revoke")
	require.Equal(t, g1.ID, got.ID, "Revoke")
	_, err = s.Revoke(g1.ID)
	assert.ErrorIs(t, err, ErrNotFound, "second Revoke")
	if revoked := s.RevokeOrigin(origin); assert.Len(t, revoked, 1, "RevokeOrigin") {
		assert.Equal(t, g2.ID, revoked[0].ID, "RevokeOrigin")
	}
	_, ok := s.Consume(origin, plugin, key, "sign", c.Now())
	assert.False(t, ok, "consumed after revoke")
	if left := s.List(); assert.Len(t, left, 1, "left") {
		assert.Equal(t, other.ID, left[0].ID, "left")
	}
}

// 32 racing requests against a grant of 31 uses: exactly 31 succeed.
func TestConcurrentConsumeExact(t *testing.T) {
	for round := range 20 {
		c := newClock()
		s := New(WithClock(c.Now))
		add(t, s, c, 31, time.Minute)
		var ok atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		remaining := make(chan int, 32)
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if g, yes := s.Consume(origin, plugin, key, "sign", c.Now()); yes {
					ok.Add(1)
					remaining <- g.Remaining
				}
			}()
		}
		close(start)
		wg.Wait()
		close(remaining)
		require.Equal(t, int32(31), ok.Load(), "round %d: successes", round)
		seen := map[int]bool{}
		for r := range remaining {
			require.False(t, seen[r], "round %d: two uses saw remaining=%d", round, r)
			seen[r] = true
		}
	}
}
