package eimzo

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Limits bound what WebSocket connections may hold, so that no number of
// local clients can exhaust the plugin's memory. The zero value of a field
// means its default (DefaultLimits).
//
// An origin is "allowed" once the host has accepted a call carrying it in
// this process (the origin policy passed, a key listing or a signature
// succeeded); it stays allowed for AllowedOriginTTL. Origins not (yet)
// allowed get the small frame limit and share a quarter of the frame
// budget and half of the connections, so strangers cannot starve a page
// the person uses.
type Limits struct {
	// MaxConns bounds all open WebSocket connections (option
	// max_connections).
	MaxConns int
	// MaxConnsPerOrigin bounds the open connections of one origin (option
	// max_connections_per_origin).
	MaxConnsPerOrigin int
	// MaxFrame is the largest message from an allowed origin (option
	// max_frame).
	MaxFrame int64
	// MaxFrameBeforeAllowed is the largest message from an origin the host
	// has not yet accepted (option max_frame_before_allowed).
	MaxFrameBeforeAllowed int64
	// FrameBudget bounds the message bytes being read or held (until the
	// reply is written) by all connections together (option frame_budget).
	FrameBudget int64
	// FrameTimeout is how long one message may take to arrive from its
	// first frame header to its last byte (option frame_timeout).
	FrameTimeout time.Duration
	// ReplyTimeout is how long writing one reply may take: a client that
	// does not read its reply does not hold the reply and the request's
	// budget for longer.
	ReplyTimeout time.Duration
	// BudgetWait is how long a connection waits for frame budget before it
	// is closed with 1013 "Try Again Later".
	BudgetWait time.Duration
	// AllowedOriginTTL is how long an origin stays allowed after the host
	// last accepted a call from it.
	AllowedOriginTTL time.Duration
}

// DefaultLimits are the limits of a plugin configured without options.
var DefaultLimits = Limits{
	MaxConns:              256,
	MaxConnsPerOrigin:     32,
	MaxFrame:              MaxFrame,
	MaxFrameBeforeAllowed: 1 << 20,
	FrameBudget:           128 << 20,
	FrameTimeout:          30 * time.Second,
	ReplyTimeout:          time.Minute,
	BudgetWait:            2 * time.Second,
	AllowedOriginTTL:      time.Hour,
}

// withDefaults fills the zero fields from DefaultLimits and keeps the
// limits consistent: the budget holds at least one largest message, and
// the small limit is not above the large one.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	l.MaxConns = orDefault(l.MaxConns, d.MaxConns)
	l.MaxConnsPerOrigin = orDefault(l.MaxConnsPerOrigin, d.MaxConnsPerOrigin)
	l.MaxFrame = orDefault(l.MaxFrame, d.MaxFrame)
	l.MaxFrameBeforeAllowed = min(orDefault(l.MaxFrameBeforeAllowed, d.MaxFrameBeforeAllowed), l.MaxFrame)
	l.FrameBudget = max(orDefault(l.FrameBudget, d.FrameBudget), l.MaxFrame)
	l.FrameTimeout = orDefault(l.FrameTimeout, d.FrameTimeout)
	l.ReplyTimeout = orDefault(l.ReplyTimeout, d.ReplyTimeout)
	l.BudgetWait = orDefault(l.BudgetWait, d.BudgetWait)
	l.AllowedOriginTTL = orDefault(l.AllowedOriginTTL, d.AllowedOriginTTL)
	return l
}

// orDefault is v, or d when v is zero or negative (unset).
func orDefault[T int | int64 | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// strangerConns is the share of MaxConns open to origins not yet allowed.
func (l Limits) strangerConns() int { return max(1, l.MaxConns/2) }

// strangerBudget is the share of FrameBudget open to origins not yet
// allowed; it holds at least one of their largest messages.
func (l Limits) strangerBudget() int64 { return max(l.FrameBudget/4, l.MaxFrameBeforeAllowed) }

// Sentinel errors of the limits; the transport turns them into close
// codes.
var (
	// ErrTooManyConnections: a connection limit is reached (1013).
	ErrTooManyConnections = errors.New("too many connections")
	// ErrBusy: no frame budget within BudgetWait (1013).
	ErrBusy = errors.New("frame budget exhausted")
)

// maxAllowedOrigins bounds the allowed-origin memory; only origins the
// host accepted enter it, so this is far above any real use.
const maxAllowedOrigins = 4096

// allowedOrigins remembers the origins the host accepted a call from, each
// until AllowedOriginTTL after the last acceptance.
type allowedOrigins struct {
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	until map[string]time.Time
}

func newAllowedOrigins(ttl time.Duration, now func() time.Time) *allowedOrigins {
	return &allowedOrigins{ttl: ttl, now: now, until: map[string]time.Time{}}
}

// allow records that the host accepted a call from origin.
func (a *allowedOrigins) allow(origin string) {
	if origin == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if _, ok := a.until[origin]; !ok && len(a.until) >= maxAllowedOrigins {
		for o, t := range a.until {
			if !t.After(now) {
				delete(a.until, o)
			}
		}
		if len(a.until) >= maxAllowedOrigins {
			return // full of live entries: the origin stays a stranger
		}
	}
	a.until[origin] = now.Add(a.ttl)
}

// allowed reports whether the host accepted a call from origin within the
// TTL.
func (a *allowedOrigins) allowed(origin string) bool {
	if origin == "" {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.until[origin]
	if ok && !t.After(a.now()) {
		delete(a.until, origin)
		return false
	}
	return ok
}

// connCounter counts open connections, in all, per origin, and from
// origins not yet allowed.
type connCounter struct {
	limits Limits

	mu        sync.Mutex
	total     int
	strangers int
	perOrigin map[string]int
}

func newConnCounter(l Limits) *connCounter {
	return &connCounter{limits: l, perOrigin: map[string]int{}}
}

// admit counts a new connection from origin or refuses it with
// ErrTooManyConnections. release must be called once when it closes.
func (c *connCounter) admit(origin string, allowed bool) (release func(), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.total >= c.limits.MaxConns || c.perOrigin[origin] >= c.limits.MaxConnsPerOrigin ||
		(!allowed && c.strangers >= c.limits.strangerConns()) {
		return nil, ErrTooManyConnections
	}
	c.total++
	c.perOrigin[origin]++
	if !allowed {
		c.strangers++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.total--
			if c.perOrigin[origin]--; c.perOrigin[origin] == 0 {
				delete(c.perOrigin, origin)
			}
			if !allowed {
				c.strangers--
			}
		})
	}, nil
}

// budget is the global frame budget: bytes of messages being read or held
// by all connections, with a smaller share for origins not yet allowed.
type budget struct {
	total, strangerTotal int64

	mu           sync.Mutex
	used         int64
	strangerUsed int64         // bytes held by connections from strangers
	changed      chan struct{} // closed and replaced whenever bytes are released
}

func newBudget(total, strangerTotal int64) *budget {
	return &budget{total: total, strangerTotal: strangerTotal, changed: make(chan struct{})}
}

// hold is what one message holds of the budget.
type hold struct {
	b        *budget
	stranger bool
	n        int64
}

// newHold starts an empty hold for a message from an allowed origin or a
// stranger.
func (b *budget) newHold(stranger bool) *hold { return &hold{b: b, stranger: stranger} }

// grow takes n more bytes, waiting up to wait for other holds to release
// some; ErrBusy when they do not, ctx's error when it ends first.
func (h *hold) grow(ctx context.Context, n int64, wait time.Duration) error {
	b := h.b
	var timer *time.Timer
	for {
		b.mu.Lock()
		if b.used+n <= b.total && (!h.stranger || b.strangerUsed+n <= b.strangerTotal) {
			b.used += n
			if h.stranger {
				b.strangerUsed += n
			}
			b.mu.Unlock()
			h.n += n
			if timer != nil {
				timer.Stop()
			}
			return nil
		}
		changed := b.changed
		b.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(wait)
		}
		select {
		case <-changed:
		case <-timer.C:
			return ErrBusy
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
}

// shrink gives n bytes back.
func (h *hold) shrink(n int64) {
	n = min(n, h.n)
	if n <= 0 {
		return
	}
	h.n -= n
	b := h.b
	b.mu.Lock()
	b.used -= n
	if h.stranger {
		b.strangerUsed -= n
	}
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// release gives everything back; a nil hold is allowed.
func (h *hold) release() {
	if h != nil {
		h.shrink(h.n)
	}
}

// inUse reports the bytes held in all and by strangers (tests).
func (b *budget) inUse() (all, strangers int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.strangerUsed
}
