package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"sync"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
)

// pool is the capped set of sessions one token generation owns. At most cap
// sessions are open at once (idle plus in use). Callers wait first come,
// first served: a released session (or the right to open a new one) goes to
// the longest waiter. A waiter whose context ends leaves the queue.
//
// A pool belongs to one insertion of a token. When the token goes away the
// pool is shut down: waiters fail with ErrTokenRemoved, idle sessions are
// closed, and sessions still in use are closed when they come back.
type pool struct {
	api   ckAPI
	slot  uint
	name  string // token label, for errors
	cap   int
	flags uint

	mu      sync.Mutex
	idle    []p11.SessionHandle
	open    int // idle + in use
	waiters []chan grant
	dead    error // set by shutdown
}

// grant is what a waiter receives: a session, or the right to open one
// (h == 0, ok false), or an error.
type grant struct {
	h   p11.SessionHandle
	ok  bool
	err error
}

func newPool(api ckAPI, slot uint, name string, capacity int) *pool {
	return &pool{api: api, slot: slot, name: name, cap: capacity, flags: p11.CKF_SERIAL_SESSION | p11.CKF_RW_SESSION}
}

// get returns a session; put it back with put.
func (p *pool) get(ctx context.Context) (p11.SessionHandle, error) {
	p.mu.Lock()
	if p.dead != nil {
		p.mu.Unlock()
		return 0, p.dead
	}
	var g grant
	switch {
	case len(p.waiters) == 0 && len(p.idle) > 0:
		g = grant{h: p.idle[len(p.idle)-1], ok: true}
		p.idle = p.idle[:len(p.idle)-1]
		p.mu.Unlock()
	case len(p.waiters) == 0 && p.open < p.cap:
		p.open++
		p.mu.Unlock()
	default:
		w := make(chan grant, 1)
		p.waiters = append(p.waiters, w)
		p.mu.Unlock()
		select {
		case g = <-w:
		case <-ctx.Done():
			p.mu.Lock()
			removed := false
			for i, x := range p.waiters {
				if x == w {
					p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
					removed = true
					break
				}
			}
			p.mu.Unlock()
			if !removed {
				// A grant raced with the cancellation: pass it on.
				g = <-w
				if g.err == nil {
					p.putGrant(g)
				}
			}
			return 0, fmt.Errorf("waiting for a session on token %q: %w: %w", p.name, hsm.ErrCancelled, ctx.Err())
		}
	}
	if g.err != nil {
		return 0, g.err
	}
	if g.ok {
		return g.h, nil
	}
	h, err := p.openSession()
	if err != nil {
		p.putGrant(grant{}) // give the opening right back
		return 0, err
	}
	return h, nil
}

func (p *pool) openSession() (p11.SessionHandle, error) {
	h, err := p.api.OpenSession(p.slot, p.flags)
	if isCode(err, p11.CKR_TOKEN_WRITE_PROTECTED) {
		p.mu.Lock()
		p.flags = p11.CKF_SERIAL_SESSION
		p.mu.Unlock()
		h, err = p.api.OpenSession(p.slot, p11.CKF_SERIAL_SESSION)
	}
	if err != nil {
		return 0, fmt.Errorf("open session on token %q: %w", p.name, mapErr(err))
	}
	return h, nil
}

// put returns a session. bad closes it instead (its state is unknown).
func (p *pool) put(h p11.SessionHandle, bad bool) {
	if bad {
		// PKCS#11 logs the token out when its last session closes: when
		// this is the last one, open its replacement first (if the cap
		// allows one more) to keep the login.
		p.mu.Lock()
		last := p.open == 1 && p.cap > 1 && p.dead == nil
		p.mu.Unlock()
		if last {
			if nh, err := p.api.OpenSession(p.slot, p.flags); err == nil {
				_ = p.api.CloseSession(h)
				p.putGrant(grant{h: nh, ok: true})
				return
			}
		}
		_ = p.api.CloseSession(h)
		p.putGrant(grant{})
		return
	}
	p.putGrant(grant{h: h, ok: true})
}

// putGrant hands a session, or the right to open one, to the first waiter,
// else keeps it (idle) or forgets it (open count goes down).
func (p *pool) putGrant(g grant) {
	p.mu.Lock()
	if p.dead != nil {
		p.open--
		p.mu.Unlock()
		if g.ok {
			_ = p.api.CloseSession(g.h)
		}
		return
	}
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		w <- g
		return
	}
	if g.ok {
		p.idle = append(p.idle, g.h)
	} else {
		p.open--
	}
	p.mu.Unlock()
}

// shutdown fails waiters with err, closes idle sessions and makes put close
// the sessions in use when they come back.
func (p *pool) shutdown(err error) {
	p.mu.Lock()
	if p.dead != nil {
		p.mu.Unlock()
		return
	}
	p.dead = err
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	waiters := p.waiters
	p.waiters = nil
	p.mu.Unlock()
	for _, h := range idle {
		_ = p.api.CloseSession(h)
	}
	for _, w := range waiters {
		w <- grant{err: err}
	}
}

// withSession runs f on a session. If f reports the session unusable
// (invalid handle, device gone) it is closed instead of reused.
func (p *pool) withSession(ctx context.Context, f func(h p11.SessionHandle) error) error {
	h, err := p.get(ctx)
	if err != nil {
		return err
	}
	err = f(h)
	p.put(h, sessionBroken(err))
	return err
}

var errPoolClosed = errors.New("backend closed")
