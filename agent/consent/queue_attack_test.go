package consent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
)

// person stands for the person in front of the dialog: each question
// stays open until the test lets it go, then is answered with a refusal.
// It counts the questions open at the same time.
type person struct {
	release chan struct{} // closed: every question is answered
	open    atomic.Int32
	maxOpen atomic.Int32
	asked   atomic.Int32
	mu      sync.Mutex
	origins []string
}

func newPerson() *person { return &person{release: make(chan struct{})} }

func (p *person) Confirm(ctx context.Context, q Question) (Answer, error) {
	n := p.open.Add(1)
	defer p.open.Add(-1)
	for m := p.maxOpen.Load(); n > m && !p.maxOpen.CompareAndSwap(m, n); m = p.maxOpen.Load() {
	}
	p.asked.Add(1)
	p.mu.Lock()
	p.origins = append(p.origins, q.Request.Origin)
	p.mu.Unlock()
	select {
	case <-p.release:
		return Answer{Allow: false}, nil
	case <-ctx.Done():
		return Answer{}, fmt.Errorf("question: %w", hsm.ErrTimeout)
	}
}

func (p *person) PIN(context.Context, hsm.PINRequest) (hsm.PINResponse, error) {
	return hsm.PINResponse{}, hsm.ErrCancelled
}

// coalesced closes the fixture's journal and returns its records and the
// number of refusals they stand for.
func coalesced(t *testing.T, f *fixture) ([]journal.Record, int) {
	t.Helper()
	require.NoError(t, f.journal.Close())
	recs := f.records(t)
	n := 0
	for _, r := range recs {
		require.NotEqual(t, journal.DecisionAllowed, r.Decision)
		if r.Repeat != nil {
			n += r.Repeat.Count
		} else {
			n++
		}
	}
	return recs, n
}

// TestAttackSubdomainsOneQuestion: 25 sub-domains of one site ask at once
// (the attack opened 25 dialogs). The person sees one question at a time;
// the site holds at most MaxQueued requests and the others are refused at
// once, before any question is answered; the refusals nobody was asked
// about are coalesced in the journal.
func TestAttackSubdomainsOneQuestion(t *testing.T) {
	f := newFixture(t, "")
	p := newPerson()
	e := f.engine(t, p)
	const n = 25
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- e.Ask(context.Background(), list(fmt.Sprintf("https://s%d.evil.example", i))) }()
	}
	for range n - MaxQueued { // refused while the first question is still open
		assert.ErrorIs(t, <-errs, ErrRefused)
	}
	assert.LessOrEqual(t, p.asked.Load(), int32(1), "no question answered yet, so at most one asked")
	close(p.release)
	for range MaxQueued {
		assert.ErrorIs(t, <-errs, ErrRefused)
	}
	assert.Equal(t, int32(1), p.maxOpen.Load(), "questions open at the same time")
	assert.Equal(t, int32(MaxQueued), p.asked.Load())

	recs, refused := coalesced(t, f)
	assert.Equal(t, n, refused)
	// One record per question the person answered, and two for the
	// n-MaxQueued refused at once: the first, and one counting the rest.
	assert.Len(t, recs, MaxQueued+2)
	var rep *journal.Repeat
	for _, r := range recs {
		if r.Repeat != nil {
			require.Nil(t, rep, "one coalesced record")
			rep = r.Repeat
			assert.Contains(t, r.Summary, "site evil.example")
		}
	}
	require.NotNil(t, rep)
	assert.Equal(t, n-MaxQueued-1, rep.Count)
}

// TestAttackManySitesCapped: 25 sites ask at once. The person still sees
// one question at a time, at most DefaultMaxPending sites wait to ask,
// the others are refused at once, and those refusals are coalesced across
// sites.
func TestAttackManySitesCapped(t *testing.T) {
	f := newFixture(t, "")
	p := newPerson()
	e := f.engine(t, p)
	const n = 25
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- e.Ask(context.Background(), sign(fmt.Sprintf("https://evil%d.example", i))) }()
	}
	for range n - DefaultMaxPending {
		assert.ErrorIs(t, <-errs, ErrRefused)
	}
	assert.LessOrEqual(t, p.asked.Load(), int32(1))
	close(p.release)
	for range DefaultMaxPending {
		assert.ErrorIs(t, <-errs, ErrRefused)
	}
	assert.Equal(t, int32(1), p.maxOpen.Load(), "questions open at the same time")
	assert.Equal(t, int32(DefaultMaxPending), p.asked.Load())

	recs, refused := coalesced(t, f)
	assert.Equal(t, n, refused)
	assert.Len(t, recs, DefaultMaxPending+2)
	var coalescedCount int
	for _, r := range recs {
		if r.Repeat != nil {
			coalescedCount = r.Repeat.Count
			assert.Contains(t, r.Summary, pendingGroup)
		}
	}
	assert.Equal(t, n-DefaultMaxPending-1, coalescedCount)
	assert.Zero(t, f.keyInfo.Load(), "no first-use origin caused a key-store call")
}

// TestQueueWaitEnds: a request waiting for the question turn gives up
// when its context ends or the question timeout passes, and frees its
// site's place.
func TestQueueWaitEnds(t *testing.T) {
	t.Run("cancelled", func(t *testing.T) {
		f := newFixture(t, "")
		p := newPerson()
		e := f.engine(t, p)
		first := make(chan error, 1)
		go func() { first <- e.Ask(context.Background(), list("https://a.example")) }()
		require.Eventually(t, func() bool { return p.asked.Load() == 1 }, 10*time.Second, time.Millisecond)
		ctx, cancel := context.WithCancel(context.Background())
		second := make(chan error, 1)
		go func() { second <- e.Ask(ctx, list("https://b.example")) }()
		require.Eventually(t, func() bool {
			e.qmu.Lock()
			defer e.qmu.Unlock()
			return len(e.queues) == 2
		}, 10*time.Second, time.Millisecond)
		cancel()
		err := <-second
		assert.ErrorIs(t, err, hsm.ErrCancelled)
		e.qmu.Lock()
		_, waiting := e.queues["site:b.example"]
		e.qmu.Unlock()
		assert.False(t, waiting, "the cancelled request left its site's queue")
		close(p.release)
		assert.ErrorIs(t, <-first, ErrRefused)
		assert.Equal(t, int32(1), p.asked.Load())
	})
	t.Run("timeout", func(t *testing.T) {
		f := newFixture(t, "")
		p := newPerson()
		e := f.engine(t, p, func(c *EngineConfig) { c.Timeout = 200 * time.Millisecond })
		errs := make(chan error, 2)
		go func() { errs <- e.Ask(context.Background(), list("https://a.example")) }()
		require.Eventually(t, func() bool { return p.asked.Load() == 1 }, 10*time.Second, time.Millisecond)
		go func() { errs <- e.Ask(context.Background(), list("https://b.example")) }()
		for range 2 {
			err := <-errs
			assert.True(t, errors.Is(err, ErrTimedOut), "%v", err)
		}
		assert.Equal(t, int32(1), p.maxOpen.Load())
	})
}
