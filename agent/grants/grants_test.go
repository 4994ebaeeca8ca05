package grants

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestAdd(t *testing.T) {
	c := newClock()
	s := New(WithClock(c.Now))
	g := add(t, s, c, 3, 5*time.Minute)
	if len(g.ID) != 32 || g.Remaining != 3 || g.Uses != 3 || !g.Created.Equal(c.Now()) {
		t.Errorf("grant %+v", g)
	}
	g2 := add(t, s, c, 3, 5*time.Minute)
	if g2.ID == g.ID {
		t.Error("two grants share an ID")
	}
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
		if _, err := s.Add(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad grant %d: %v", i, err)
		}
	}
	if n := len(s.List()); n != 2 {
		t.Errorf("%d grants listed", n)
	}
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
		if _, ok := s.Consume(m.origin, m.plugin, m.key, m.op, c.Now()); ok {
			t.Errorf("consumed for %v", m)
		}
	}
	// the same key spelled differently (attribute order) is the same key
	same := "pkcs11:object=key1;token=Signet%20Test;type=private"
	got, ok := s.Consume(origin, plugin, same, "sign", c.Now())
	if !ok || got.ID != g.ID || got.Remaining != 1 {
		t.Fatalf("first use: %+v %v", got, ok)
	}
	got, ok = s.Consume(origin, plugin, key, "sign", c.Now())
	if !ok || got.Remaining != 0 {
		t.Fatalf("second use: %+v %v", got, ok)
	}
	if _, ok := s.Consume(origin, plugin, key, "sign", c.Now()); ok {
		t.Fatal("third use of a grant of 2")
	}
	if len(s.List()) != 0 {
		t.Error("used-up grant still listed")
	}
}

func TestConsumePrefersEarliestExpiry(t *testing.T) {
	c := newClock()
	s := New(WithClock(c.Now))
	long := add(t, s, c, 5, 10*time.Minute)
	short := add(t, s, c, 5, 2*time.Minute)
	if g, _ := s.Consume(origin, plugin, key, "sign", c.Now()); g.ID != short.ID {
		t.Errorf("used %s, want the grant expiring first %s", g.ID, short.ID)
	}
	c.Advance(3 * time.Minute)
	if g, _ := s.Consume(origin, plugin, key, "sign", c.Now()); g.ID != long.ID {
		t.Errorf("used %s after the short one expired, want %s", g.ID, long.ID)
	}
}

func TestExpiry(t *testing.T) {
	c := newClock()
	s := New(WithClock(c.Now))
	g := add(t, s, c, 10, 5*time.Minute)
	c.Advance(5*time.Minute - time.Nanosecond)
	if _, ok := s.Consume(origin, plugin, key, "sign", c.Now()); !ok {
		t.Fatal("refused just before expiry")
	}
	c.Advance(time.Nanosecond)
	if _, ok := s.Consume(origin, plugin, key, "sign", c.Now()); ok {
		t.Fatal("consumed at expiry")
	}
	if _, ok := s.Get(g.ID); ok {
		t.Error("expired grant still there")
	}
	if len(s.List()) != 0 {
		t.Error("expired grant listed")
	}
}

func TestConsumeID(t *testing.T) {
	c := newClock()
	s := New(WithClock(c.Now))
	a := add(t, s, c, 1, time.Minute)
	b := add(t, s, c, 1, time.Minute)
	if _, ok := s.ConsumeID("00000000000000000000000000000000", origin, plugin, key, "sign", c.Now()); ok {
		t.Error("unknown token accepted")
	}
	if _, ok := s.ConsumeID(b.ID, "https://evil.example", plugin, key, "sign", c.Now()); ok {
		t.Error("token accepted from another origin")
	}
	if g, ok := s.ConsumeID(b.ID, origin, plugin, key, "sign", c.Now()); !ok || g.ID != b.ID {
		t.Errorf("ConsumeID: %+v %v", g, ok)
	}
	if _, ok := s.ConsumeID(b.ID, origin, plugin, key, "sign", c.Now()); ok {
		t.Error("used-up token accepted")
	}
	if _, ok := s.Get(a.ID); !ok {
		t.Error("ConsumeID touched another grant")
	}
}

// A grant with ByID is used only by presenting its ID.
func TestByIDOnlyThroughConsumeID(t *testing.T) {
	c := newClock()
	s := New(WithClock(c.Now))
	g, err := s.Add(Grant{Origin: origin, Plugin: plugin, KeyURI: key, Operation: "sign", Uses: 1, Expires: c.Now().Add(time.Minute), ByID: true})
	if err != nil || !g.ByID {
		t.Fatalf("Add: %+v, %v", g, err)
	}
	if _, ok := s.Consume(origin, plugin, key, "sign", c.Now()); ok {
		t.Fatal("Consume used a ByID grant")
	}
	if got, ok := s.ConsumeID(g.ID, origin, plugin, key, "sign", c.Now()); !ok || got.Remaining != 0 {
		t.Fatalf("ConsumeID: %+v, %v", got, ok)
	}
	if _, ok := s.ConsumeID(g.ID, origin, plugin, key, "sign", c.Now()); ok {
		t.Fatal("a one-use ByID grant was used twice")
	}
}

func TestRevoke(t *testing.T) {
	c := newClock()
	s := New(WithClock(c.Now))
	g1 := add(t, s, c, 5, time.Minute)
	g2 := add(t, s, c, 5, time.Minute)
	other, err := s.Add(Grant{Origin: "https://other.example", Plugin: plugin, KeyURI: key, Operation: "sign", Uses: 1, Expires: c.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Revoke(g1.ID); err != nil || got.ID != g1.ID {
		t.Fatalf("Revoke: %+v %v", got, err)
	}
	if _, err := s.Revoke(g1.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Revoke: %v", err)
	}
	if got := s.RevokeOrigin(origin); len(got) != 1 || got[0].ID != g2.ID {
		t.Errorf("RevokeOrigin: %+v", got)
	}
	if _, ok := s.Consume(origin, plugin, key, "sign", c.Now()); ok {
		t.Error("consumed after revoke")
	}
	if l := s.List(); len(l) != 1 || l[0].ID != other.ID {
		t.Errorf("left: %+v", l)
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
		if ok.Load() != 31 {
			t.Fatalf("round %d: %d successes, want 31", round, ok.Load())
		}
		seen := map[int]bool{}
		for r := range remaining {
			if seen[r] {
				t.Fatalf("round %d: two uses saw remaining=%d", round, r)
			}
			seen[r] = true
		}
	}
}
