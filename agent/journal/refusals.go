package journal

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/signet-agent/signet/agent/config"
)

// Refusal coalescing defaults (see AppendRefusal).
const (
	// DefaultRefusalWindow is how long further refusals of an origin are
	// counted after the one that was written.
	DefaultRefusalWindow = time.Minute
	// DefaultMaxRefusalOrigins bounds the origins whose refusals are
	// counted separately at one time; refusals of further origins are
	// counted together.
	DefaultMaxRefusalOrigins = 256
)

// WithRefusalCoalescing sets the window in which further refusals of an
// origin are counted instead of written, and how many origins are counted
// separately at a time (see AppendRefusal). window <= 0 or maxOrigins <= 0
// keep the defaults.
func WithRefusalCoalescing(window time.Duration, maxOrigins int) Option {
	return func(j *Journal) {
		if window > 0 {
			j.refusals.window = window
		}
		if maxOrigins > 0 {
			j.refusals.max = maxOrigins
		}
	}
}

// otherOrigins is the key of the refusals of origins beyond the tracked
// ones.
const otherOrigins = "\x00other"

// AppendRefusal journals a refusal without waiting for the disk and
// without writing a record per refusal when one site is refused again and
// again. Refusals are counted together by group: group names it, and ""
// means the site of the record's origin (config.Site: the registrable
// domain, so that the sub-domains of one site, which one party controls,
// count as one), or its local caller.
//
//   - The first refusal of a group is written at once (as AppendLazy
//     does) and opens a window (WithRefusalCoalescing,
//     DefaultRefusalWindow).
//   - Further refusals of the group in the window are only counted. When
//     the window ends, when another record of the same site is appended,
//     or at Close, one record stands for all of them: the fields all of
//     them share, Repeat with their count and the times of the first and
//     last, and a summary naming the group.
//   - At most DefaultMaxRefusalOrigins groups have a window open at a
//     time; refusals of any other group meanwhile are counted together
//     in one window and written as one record.
//
// So a flood of refusals costs at most two records per origin and window
// and the memory of a bounded number of counters, and a refusal never
// waits for an fsync: its record becomes durable with the next Append
// that waits, or Close. The returned Record is the one written, or the
// zero Record when the refusal was only counted.
func (j *Journal) AppendRefusal(ctx context.Context, r Record, group string) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, fmt.Errorf("journal append: %w", err)
	}
	if r.Op == "" {
		return Record{}, fmt.Errorf("journal append: record without op")
	}
	if r.Time.IsZero() {
		r.Time = j.now()
	}
	r.Repeat = nil
	r.normalize()
	if group == "" {
		group = refusalKey(&r)
	}
	return j.refusals.add(r, group)
}

// refusalKey is the group a record's refusals are counted in by default:
// the site of its origin, or its local caller.
func refusalKey(r *Record) string {
	if r.Origin != "" {
		return "site " + config.Site(r.Origin)
	}
	return "local caller " + r.Caller
}

// refusals counts the refusals of the origins with an open window.
type refusals struct {
	j      *Journal
	window time.Duration
	max    int

	mu     sync.Mutex
	open   map[string]*list.Element // key → *refusalWindow in order
	order  *list.List               // open windows, oldest first (they end in that order)
	other  *refusalWindow           // refusals of untracked origins, or nil
	timer  *time.Timer
	closed bool
}

// refusalWindow is one origin's open window.
type refusalWindow struct {
	key         string
	end         time.Time
	rec         Record // what the counted refusals share
	count       int    // refusals counted since the written one
	first, last time.Time
}

func newRefusals(j *Journal, window time.Duration, max int) *refusals {
	return &refusals{j: j, window: window, max: max, open: map[string]*list.Element{}, order: list.New()}
}

func (rs *refusals) add(r Record, key string) (Record, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		return Record{}, fmt.Errorf("journal append: %w", ErrClosed)
	}
	rs.expireLocked(r.Time)
	if e, ok := rs.open[key]; ok {
		e.Value.(*refusalWindow).count1(r)
		return Record{}, nil
	}
	if len(rs.open) >= rs.max {
		if rs.other == nil {
			rs.other = &refusalWindow{key: otherOrigins, end: r.Time.Add(rs.window)}
			rs.armLocked()
		}
		r.Origin, r.Caller = "", ""
		rs.other.count1(r)
		return Record{}, nil
	}
	w := &refusalWindow{key: key, end: r.Time.Add(rs.window)}
	rs.open[key] = rs.order.PushBack(w)
	rs.armLocked()
	return rs.j.appendRecord(r, false)
}

// count1 counts r in the window.
func (w *refusalWindow) count1(r Record) {
	if w.count == 0 {
		w.rec, w.first = r, r.Time
	} else {
		w.rec = shared(w.rec, r)
	}
	w.count++
	w.last = r.Time
}

// shared keeps the fields of a that b has too.
func shared(a, b Record) Record {
	keep := func(x *string, y string) {
		if *x != y {
			*x = ""
		}
	}
	keep(&a.Plugin, b.Plugin)
	keep(&a.Origin, b.Origin)
	keep(&a.Caller, b.Caller)
	keep(&a.KeyURI, b.KeyURI)
	keep(&a.CertSerial, b.CertSerial)
	keep(&a.DecidedBy, b.DecidedBy)
	keep(&a.ErrorKind, b.ErrorKind)
	keep(&a.Error, b.Error)
	if a.Op != b.Op {
		a.Op = OpConsent
	}
	if a.Decision != b.Decision {
		a.Decision = DecisionDenied
	}
	return a
}

// record is the record that stands for the counted refusals.
func (w *refusalWindow) record(tracked int) Record {
	r := w.rec
	r.Time = w.last
	r.RequestID, r.GrantID, r.Documents, r.DocumentsOmitted, r.Evidence = "", "", nil, 0, nil
	r.Result = ""
	what := fmt.Sprintf("refused again ×%d (%d in all) for %s", w.count, w.count+1, clip(w.key, maxField))
	if w.key == otherOrigins {
		what = fmt.Sprintf("refused ×%d (sites beyond the %d tracked ones)", w.count, tracked)
	}
	r.Summary = fmt.Sprintf("%s from %s to %s", what,
		w.first.UTC().Format(time.RFC3339Nano), w.last.UTC().Format(time.RFC3339Nano))
	r.Repeat = &Repeat{Count: w.count, First: w.first, Last: w.last}
	return r
}

// flushLocked writes w's record when it counted refusals.
func (rs *refusals) flushLocked(w *refusalWindow) {
	if w.count == 0 {
		return
	}
	r := w.record(rs.max)
	w.count = 0
	// Written like every refusal, without waiting for the disk. A write
	// error is the journal's sticky error: the next Append reports it.
	r.normalize()
	_, _ = rs.j.appendRecord(r, false)
}

// expireLocked flushes and closes the windows that ended by now.
func (rs *refusals) expireLocked(now time.Time) {
	for e := rs.order.Front(); e != nil; e = rs.order.Front() {
		w := e.Value.(*refusalWindow)
		if now.Before(w.end) {
			break
		}
		rs.order.Remove(e)
		delete(rs.open, w.key)
		rs.flushLocked(w)
	}
	if rs.other != nil && !now.Before(rs.other.end) {
		rs.flushLocked(rs.other)
		rs.other = nil
	}
}

// armLocked sets the timer to the end of the window that ends first.
func (rs *refusals) armLocked() {
	var next time.Time
	if e := rs.order.Front(); e != nil {
		next = e.Value.(*refusalWindow).end
	}
	if rs.other != nil && (next.IsZero() || rs.other.end.Before(next)) {
		next = rs.other.end
	}
	if next.IsZero() {
		return
	}
	d := max(next.Sub(rs.j.now()), time.Millisecond)
	if rs.timer == nil {
		rs.timer = time.AfterFunc(d, rs.tick)
	} else {
		rs.timer.Reset(d)
	}
}

func (rs *refusals) tick() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		return
	}
	rs.expireLocked(rs.j.now())
	rs.armLocked()
}

// flushFor ends the window of r's site, writing what it counted, before
// r (another record of the same site) is appended.
func (rs *refusals) flushFor(r *Record) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.open) == 0 {
		return
	}
	key := refusalKey(r)
	e, ok := rs.open[key]
	if !ok {
		return
	}
	rs.order.Remove(e)
	delete(rs.open, key)
	rs.flushLocked(e.Value.(*refusalWindow))
}

// close writes every counted refusal; later refusals fail with ErrClosed.
func (rs *refusals) close() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		return
	}
	for e := rs.order.Front(); e != nil; e = e.Next() {
		rs.flushLocked(e.Value.(*refusalWindow))
	}
	if rs.other != nil {
		rs.flushLocked(rs.other)
	}
	rs.open, rs.other = map[string]*list.Element{}, nil
	rs.order.Init()
	if rs.timer != nil {
		rs.timer.Stop()
	}
	rs.closed = true
}
