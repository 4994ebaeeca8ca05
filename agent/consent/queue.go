package consent

import (
	"context"
	"fmt"
	"time"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
)

// MaxQueued bounds the requests from one site (or local caller) that
// hold or wait for its turn to ask (the open question included); more are
// refused.
const MaxQueued = 16

// pendingGroup is the journal group of refusals because too many sites
// wait to ask.
const pendingGroup = "too many sites waiting to ask"

// askQueue serialises the questions of one site.
type askQueue struct {
	turn    chan struct{} // holds a token while a request of the site has the turn
	waiting int           // requests holding or waiting for the turn; under Engine.qmu
}

// askSite names the queue req waits in (see docs/consent.md,
// "One question at a time").
func askSite(req Request) string {
	if req.Origin == "" {
		return "caller:" + req.Caller
	}
	return "site:" + config.Site(req.Origin)
}

// queue waits for the turn of req's site and then for the one question
// turn, at most the question timeout in all. ok false returns the verdict
// to give instead.
func (e *Engine) queue(ctx context.Context, req Request) (release func(), v verdict, ok bool) {
	q, leave, v, ok := e.join(askSite(req))
	if !ok {
		return nil, v, false
	}
	t := time.NewTimer(e.cfg.Timeout)
	defer t.Stop()
	gone := func() verdict {
		return verdict{by: journal.ByUser, why: "request went away while queued", decide: true,
			err: fmt.Errorf("%s: %v: %w", req.Kind, ctx.Err(), hsm.ErrCancelled)}
	}
	late := verdict{by: journal.ByUser, why: "no turn to ask in time", decide: true, err: ErrTimedOut}
	select {
	case q.turn <- struct{}{}:
	case <-ctx.Done():
		leave()
		return nil, gone(), false
	case <-t.C:
		leave()
		return nil, late, false
	}
	select {
	case e.turn <- struct{}{}:
		return func() { <-e.turn; <-q.turn; leave() }, verdict{}, true
	case <-ctx.Done():
		<-q.turn
		leave()
		return nil, gone(), false
	case <-t.C:
		<-q.turn
		leave()
		return nil, late, false
	}
}

// join counts a request in the queue of site, creating the queue when it
// has none. ok false returns the refusal to give instead: too many sites
// wait, or too many requests of this one. leave undoes the join.
func (e *Engine) join(site string) (q *askQueue, leave func(), v verdict, ok bool) {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	q = e.queues[site]
	if q == nil {
		if len(e.queues) >= e.cfg.MaxPending {
			v := refuse(journal.ByPolicy, fmt.Sprintf("too many questions pending (%d sites waiting)", e.cfg.MaxPending))
			v.group = pendingGroup
			return nil, nil, v, false
		}
		q = &askQueue{turn: make(chan struct{}, 1)}
		e.queues[site] = q
	}
	if q.waiting >= MaxQueued {
		return nil, nil, refuse(journal.ByPolicy, "too many questions pending for this site"), false
	}
	q.waiting++
	leave = func() {
		e.qmu.Lock()
		q.waiting--
		if q.waiting == 0 {
			delete(e.queues, site)
		}
		e.qmu.Unlock()
	}
	return q, leave, verdict{}, true
}
