package testutil

import (
	"context"
	"sync"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
)

// Person is a consent.Prompter that stands for the person in tests of the
// real consent engine: it records every question and allows it once; in a
// key choice it picks the candidate whose URI is Pick (the first candidate
// when Pick is empty or not offered). It enters no PIN.
type Person struct {
	Pick string

	mu    sync.Mutex
	asked []consent.Question
}

// Confirm records q and allows it once.
func (p *Person) Confirm(_ context.Context, q consent.Question) (consent.Answer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, q)
	a := consent.Answer{Allow: true}
	for _, c := range q.Request.Choices {
		if a.KeyURI == "" || c.URI == p.Pick {
			a.KeyURI = c.URI
		}
	}
	return a, nil
}

// PIN cancels: the person enters no PIN.
func (p *Person) PIN(context.Context, hsm.PINRequest) (hsm.PINResponse, error) {
	return hsm.PINResponse{}, hsm.ErrCancelled
}

// Questions returns the questions asked so far, in order.
func (p *Person) Questions() []consent.Question {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]consent.Question(nil), p.asked...)
}
