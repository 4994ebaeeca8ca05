package journal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// errInjected stands for an fsync that failed (EIO: the disk lost the
// dirty pages), which a real file cannot be made to produce on demand.
var errInjected = errors.New("injected fsync failure")

// syncProbe replaces a journal's fsync: it counts the calls, can hold the
// first one until hold returns true, fails them with fail, and records
// the highest seq known to be on disk (everything written before a
// successful fsync began; for journals that do not rotate).
type syncProbe struct {
	calls   atomic.Int64
	durable atomic.Uint64
	hold    func() bool // while false, the first fsync waits (nil: never)
	fail    error
}

func (p *syncProbe) install(j *Journal) {
	j.syncFile = p.sync
}

func (p *syncProbe) sync(f *os.File) error {
	if p.calls.Add(1) == 1 && p.hold != nil {
		deadline := time.Now().Add(10 * time.Second)
		for !p.hold() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	if p.fail != nil {
		return p.fail
	}
	// Every line in the file now is covered by this fsync; in a journal
	// that has not rotated, line n holds seq n.
	data, err := os.ReadFile(f.Name())
	if err != nil {
		return err
	}
	seq := uint64(bytes.Count(data, []byte{'\n'}))
	if err := f.Sync(); err != nil {
		return err
	}
	for {
		old := p.durable.Load()
		if seq <= old || p.durable.CompareAndSwap(old, seq) {
			return nil
		}
	}
}

// writtenLines is how many lines j wrote so far.
func writtenLines(j *Journal) int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.written
}

// appendConcurrently runs n Appends at once and returns their results.
func appendConcurrently(j *Journal, n int, check func(Record, error)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			check(j.Append(context.Background(), sampleRecord(i)))
		}()
	}
	wg.Wait()
}

// Concurrent appenders share fsyncs: while the first fsync is held, every
// other appender writes its record and waits; one more fsync then covers
// them all. Each Append returns only once its own record is on disk, and
// the chain verifies.
func TestGroupCommitSharesFsync(t *testing.T) {
	const n = 32
	j, path := openTemp(t)
	p := &syncProbe{}
	p.hold = func() bool { return writtenLines(j) == n }
	p.install(j)

	var mu sync.Mutex
	var errs []error
	appendConcurrently(j, n, func(r Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
		if err == nil {
			assert.LessOrEqual(t, r.Seq, p.durable.Load(), "Append of seq %d returned before its record was on disk", r.Seq)
		}
	})
	for _, err := range errs {
		assert.NoError(t, err)
	}
	assert.Len(t, errs, n)
	assert.LessOrEqual(t, p.calls.Load(), int64(2), "fsyncs for %d concurrent appends", n)
	requireVerified(t, path, n)
}

// A lone Append costs exactly one fsync: group commit adds no wait and no
// second sync to a single signature.
func TestGroupCommitSingleAppendOneFsync(t *testing.T) {
	j, path := openTemp(t)
	p := &syncProbe{}
	p.install(j)
	for i := range 5 {
		r, err := j.Append(context.Background(), sampleRecord(i))
		require.NoError(t, err)
		assert.Equal(t, int64(i+1), p.calls.Load(), "fsyncs after %d serial appends", i+1)
		assert.Equal(t, r.Seq, p.durable.Load(), "record durable when Append returned")
	}
	requireVerified(t, path, 5)
}

// An fsync that fails fails every appender whose record it was to cover,
// and those written while it ran: none of them is told its record is on
// disk. The failure is sticky (the kernel may have dropped the pages):
// later appends fail too.
func TestGroupCommitFailedFsyncFailsTheBatch(t *testing.T) {
	const n = 16
	j, _ := openTemp(t)
	p := &syncProbe{fail: errInjected}
	p.hold = func() bool { return writtenLines(j) == n }
	p.install(j)

	var failed, succeeded atomic.Int64
	appendConcurrently(j, n, func(r Record, err error) {
		if err != nil {
			failed.Add(1)
			assert.Contains(t, err.Error(), "journal append", "error names the journal")
			return
		}
		succeeded.Add(1)
	})
	assert.Zero(t, succeeded.Load(), "appends reported durable after a failed fsync")
	assert.Equal(t, int64(n), failed.Load())
	assert.Equal(t, int64(1), p.calls.Load(), "no fsync is tried after a failure")

	_, err := j.Append(context.Background(), sampleRecord(n))
	require.Error(t, err, "append after a failed fsync")
	assert.ErrorIs(t, err, errInjected)
}

// Group commit across rotation: concurrent appenders into a journal that
// rotates every few records all get their record durable, and the chain
// verifies over every file.
func TestGroupCommitAcrossRotation(t *testing.T) {
	const n = 64
	j, path := openTemp(t, WithMaxSize(2048))
	var errs atomic.Int64
	appendConcurrently(j, n, func(_ Record, err error) {
		if !assert.NoError(t, err) {
			errs.Add(1)
		}
	})
	require.Zero(t, errs.Load())
	rotated, err := RotatedFiles(path)
	require.NoError(t, err)
	require.NotEmpty(t, rotated, "the journal rotated")
	rep, err := VerifyFile(path)
	require.NoError(t, err)
	require.True(t, rep.OK(), "verify: %v", rep.Problems)
	recs, err := ReadFile(path, Filter{})
	require.NoError(t, err)
	signed := map[string]bool{}
	for _, r := range recs {
		if r.Op == OpSign {
			signed[r.RequestID] = true
		}
	}
	assert.Len(t, signed, n, "every appender's record is in the chain")
}
