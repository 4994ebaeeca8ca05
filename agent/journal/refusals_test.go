package journal

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// manualClock is a clock the test moves.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newManualClock() *manualClock {
	return &manualClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func refusal(origin string) Record {
	return Record{Plugin: "eimzo", Origin: origin, Op: OpList, Decision: DecisionDenied,
		DecidedBy: ByPolicy, ErrorKind: "denied", Error: "origin refused earlier by the person"}
}

// refusedCount sums the refusals the records stand for (1 for a record
// without Repeat).
func refusedCount(recs []Record) int {
	n := 0
	for _, r := range recs {
		if r.Repeat != nil {
			n += r.Repeat.Count
		} else {
			n++
		}
	}
	return n
}

// TestRefusalFloodCoalesced: 2000 refusals of one origin (the attack: a
// page refused again and again on one kept-open connection) produce two
// records — the first refusal and one standing for the other 1999 —
// instead of 2000, and none of them waits for an fsync.
func TestRefusalFloodCoalesced(t *testing.T) {
	clk := newManualClock()
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := Open(path, WithClock(clk.now)) // with fsync
	require.NoError(t, err)
	const n = 2000
	for range n {
		_, err := j.AppendRefusal(context.Background(), refusal("https://evil.example"), "")
		require.NoError(t, err)
		clk.add(time.Millisecond)
	}
	j.syncMu.Lock()
	synced := j.synced
	j.syncMu.Unlock()
	assert.Zero(t, synced, "a refusal waited for an fsync")
	require.NoError(t, j.Close())

	recs, err := ReadFile(path, Filter{})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Nil(t, recs[0].Repeat)
	require.NotNil(t, recs[1].Repeat)
	assert.Equal(t, n-1, recs[1].Repeat.Count)
	assert.Contains(t, recs[1].Summary, fmt.Sprintf("(%d in all)", n))
	assert.Equal(t, "https://evil.example", recs[1].Origin)
	assert.Equal(t, DecisionDenied, recs[1].Decision)
	assert.Equal(t, recs[0].Time.Add(time.Millisecond), recs[1].Repeat.First)
	assert.Equal(t, recs[0].Time.Add((n-1)*time.Millisecond), recs[1].Repeat.Last)
	assert.Equal(t, n, refusedCount(recs))
	requireVerified(t, path, 2)
}

// TestRefusalOriginsBounded: refusals from 10k distinct origins (an
// attacker that varies the origin to defeat per-origin coalescing) keep at
// most the configured number of origins in memory and write at most one
// record per tracked origin plus one for all the others.
func TestRefusalOriginsBounded(t *testing.T) {
	clk := newManualClock()
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := Open(path, WithClock(clk.now), WithoutSync())
	require.NoError(t, err)
	const origins = 10000
	for i := range origins {
		_, err := j.AppendRefusal(context.Background(), refusal(fmt.Sprintf("https://evil%d.example", i)), "")
		require.NoError(t, err)
		j.refusals.mu.Lock()
		tracked := len(j.refusals.open)
		j.refusals.mu.Unlock()
		require.LessOrEqual(t, tracked, DefaultMaxRefusalOrigins)
	}
	require.NoError(t, j.Close())
	recs, err := ReadFile(path, Filter{})
	require.NoError(t, err)
	assert.Len(t, recs, DefaultMaxRefusalOrigins+1)
	last := recs[len(recs)-1]
	require.NotNil(t, last.Repeat)
	assert.Equal(t, origins-DefaultMaxRefusalOrigins, last.Repeat.Count)
	assert.Empty(t, last.Origin, "the record of untracked origins names none")
	assert.Equal(t, origins, refusedCount(recs))
	requireVerified(t, path, DefaultMaxRefusalOrigins+1)
}

// TestRefusalWindowEnds: counted refusals are written when the window
// ends (the timer, and the next refusal after it), and before any other
// record of the same origin.
func TestRefusalWindowEnds(t *testing.T) {
	ctx := context.Background()
	t.Run("another record of the origin", func(t *testing.T) {
		clk := newManualClock()
		j, path := openTemp(t, WithClock(clk.now), WithoutSync())
		for range 3 {
			_, err := j.AppendRefusal(ctx, refusal("https://a.example"), "")
			require.NoError(t, err)
		}
		_, err := j.AppendRefusal(ctx, refusal("https://b.example"), "")
		require.NoError(t, err)
		ok := refusal("https://a.example")
		ok.Decision, ok.ErrorKind, ok.Error = DecisionAllowed, "", ""
		_, err = j.Append(ctx, ok)
		require.NoError(t, err)
		recs, err := j.List(Filter{Origin: "https://a.example"})
		require.NoError(t, err)
		require.Len(t, recs, 3)
		assert.Nil(t, recs[0].Repeat)
		require.NotNil(t, recs[1].Repeat)
		assert.Equal(t, 2, recs[1].Repeat.Count)
		assert.Equal(t, DecisionAllowed, recs[2].Decision)
		// A refusal after it starts a new window, written at once.
		_, err = j.AppendRefusal(ctx, refusal("https://a.example"), "")
		require.NoError(t, err)
		recs, err = j.List(Filter{Origin: "https://a.example"})
		require.NoError(t, err)
		assert.Len(t, recs, 4)
		require.NoError(t, j.Close())
		requireVerified(t, path, 5)
	})
	t.Run("next refusal after the window", func(t *testing.T) {
		clk := newManualClock()
		j, path := openTemp(t, WithClock(clk.now), WithoutSync())
		for range 5 {
			_, err := j.AppendRefusal(ctx, refusal("https://a.example"), "")
			require.NoError(t, err)
		}
		clk.add(DefaultRefusalWindow)
		_, err := j.AppendRefusal(ctx, refusal("https://a.example"), "")
		require.NoError(t, err)
		recs, err := j.List(Filter{})
		require.NoError(t, err)
		require.Len(t, recs, 3)
		require.NotNil(t, recs[1].Repeat)
		assert.Equal(t, 4, recs[1].Repeat.Count)
		assert.Nil(t, recs[2].Repeat, "a new window starts with a record of its own")
		require.NoError(t, j.Close())
		requireVerified(t, path, 3)
	})
	t.Run("timer", func(t *testing.T) {
		j, _ := openTemp(t, WithClock(time.Now), WithoutSync(), WithRefusalCoalescing(20*time.Millisecond, 0))
		for range 3 {
			_, err := j.AppendRefusal(ctx, refusal("https://a.example"), "")
			require.NoError(t, err)
		}
		require.Eventually(t, func() bool {
			recs, err := j.List(Filter{})
			return err == nil && len(recs) == 2 && recs[1].Repeat != nil && recs[1].Repeat.Count == 2
		}, 10*time.Second, 10*time.Millisecond, "the counted refusals are written when the window ends")
	})
	t.Run("after close", func(t *testing.T) {
		j, _ := openTemp(t)
		require.NoError(t, j.Close())
		_, err := j.AppendRefusal(ctx, refusal("https://a.example"), "")
		assert.ErrorIs(t, err, ErrClosed)
	})
}

// TestRefusalSharedFields: the record standing for several refusals keeps
// only what they all share.
func TestRefusalSharedFields(t *testing.T) {
	j, _ := openTemp(t, WithoutSync())
	ctx := context.Background()
	a := refusal("https://a.example")
	a.RequestID, a.KeyURI = "r1", "pkcs11:object=k1"
	_, err := j.AppendRefusal(ctx, a, "")
	require.NoError(t, err)
	b := a
	b.RequestID, b.Op = "r2", OpSign
	_, err = j.AppendRefusal(ctx, b, "")
	require.NoError(t, err)
	c := a
	c.RequestID, c.KeyURI, c.Op = "r3", "pkcs11:object=k2", OpSign
	_, err = j.AppendRefusal(ctx, c, "")
	require.NoError(t, err)
	require.NoError(t, j.Close())
	recs, err := ReadFile(j.Path(), Filter{})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	agg := recs[1]
	assert.Equal(t, OpSign, agg.Op)
	assert.Empty(t, agg.KeyURI, "the keys differ")
	assert.Empty(t, agg.RequestID)
	assert.Equal(t, "eimzo", agg.Plugin)
	assert.True(t, strings.HasPrefix(agg.Summary, "refused again ×2 (3 in all)"), agg.Summary)
}

// TestRefusalSubdomainsOneSite: the sub-domains of one site are one
// party; their refusals are counted together, and a named group counts
// refusals across sites.
func TestRefusalSubdomainsOneSite(t *testing.T) {
	ctx := context.Background()
	j, path := openTemp(t, WithoutSync())
	for i := range 25 {
		_, err := j.AppendRefusal(ctx, refusal(fmt.Sprintf("https://s%d.evil.example", i)), "")
		require.NoError(t, err)
	}
	for i := range 10 {
		_, err := j.AppendRefusal(ctx, refusal(fmt.Sprintf("https://site%d.example", i)), "busy")
		require.NoError(t, err)
	}
	require.NoError(t, j.Close())
	recs, err := ReadFile(path, Filter{})
	require.NoError(t, err)
	require.Len(t, recs, 4)
	assert.Equal(t, "https://s0.evil.example", recs[0].Origin)
	assert.Equal(t, "https://site0.example", recs[1].Origin)
	site, busy := recs[2], recs[3]
	require.NotNil(t, site.Repeat)
	assert.Equal(t, 24, site.Repeat.Count)
	assert.Empty(t, site.Origin, "the origins differ")
	assert.Contains(t, site.Summary, "site evil.example")
	require.NotNil(t, busy.Repeat)
	assert.Equal(t, 9, busy.Repeat.Count)
	assert.Contains(t, busy.Summary, "for busy")
	assert.Equal(t, 35, refusedCount(recs))
}
