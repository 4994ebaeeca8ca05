package consent

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
)

// A listing for a choice by a first-use origin asks nothing and is
// allowed with the keys withheld; the choice that follows is the one
// question, with the first-use choices, and reports the picked key in
// full. A plain listing by the same origin still asks.
func TestListForChoiceDefersFirstUseToTheChoice(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "")
	store, keys := tokenKeys(t)
	p := &script{confirm: func(_ context.Context, _ int, q Question) (Answer, error) {
		if len(q.Request.Choices) > 0 {
			return Answer{Allow: true, KeyURI: q.Request.Choices[0].URI}, nil
		}
		return Answer{Allow: true}, nil // "Allow once"
	}}
	e := f.engine(t, p, f.withStore(store))

	l := list(portal)
	l.ForChoice = true
	var out Outcome
	require.NoError(t, e.Ask(WithOutcome(ctx, &out), l))
	assert.True(t, out.Withheld, "keys withheld from an origin not allowed yet")
	assert.Empty(t, p.asked(), "the listing for a choice asks nothing")

	var chosen Outcome
	require.NoError(t, e.Ask(WithOutcome(ctx, &chosen), choice(portal, uris(keys)...)))
	qs := p.asked()
	require.Len(t, qs, 1)
	assert.True(t, qs[0].FirstUse, "the choice is the origin's first use")
	require.NotNil(t, chosen.Key, "the picked key in full")
	assert.Equal(t, chosen.KeyURI, chosen.Key.URI)
	assert.NotNil(t, chosen.Key.Certificate)

	require.NoError(t, e.Ask(WithOutcome(ctx, &out), list(portal)))
	assert.Len(t, p.asked(), 2, "a plain listing by a first-use origin asks")
}

// An origin the administrator denies, or the person refused, gets no
// listing for a choice; an approved one gets it in full.
func TestListForChoicePolicy(t *testing.T) {
	ctx := context.Background()
	const denied, allowed = "https://evil.example", "https://ok.example"
	f := newFixture(t, "  deny: [\""+denied+"\"]\n  allow: [\""+allowed+"\"]\n")
	p := &script{confirm: answer(Answer{Allow: true})}
	e := f.engine(t, p)
	l := list(denied)
	l.ForChoice = true
	var out Outcome
	assert.ErrorIs(t, e.Ask(WithOutcome(ctx, &out), l), hsm.ErrDenied)
	assert.False(t, out.Withheld)

	require.NoError(t, e.Decisions().Set(OriginDecision{Origin: "https://never.example", Choice: Never}))
	l = list("https://never.example")
	l.ForChoice = true
	assert.ErrorIs(t, e.Ask(ctx, l), hsm.ErrDenied)

	l = list(allowed)
	l.ForChoice = true
	out = Outcome{}
	require.NoError(t, e.Ask(WithOutcome(ctx, &out), l))
	assert.False(t, out.Withheld, "an approved origin gets the keys in full")
	assert.Empty(t, p.asked())
}

// The filter drops the candidates that do not match before the person
// sees them; none left is "no such key", without a question.
func TestChoiceFilter(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "  allow: [\""+portal+"\"]\n")
	store, keys := tokenKeys(t)
	p := &script{confirm: func(_ context.Context, _ int, q Question) (Answer, error) {
		return Answer{Allow: true, KeyURI: q.Request.Choices[0].URI}, nil
	}}
	e := f.engine(t, p, f.withStore(store))
	r := choice(portal, uris(keys)...)
	r.Filter = ChoiceFilter{Certificate: true, Algorithms: []hsm.KeyAlgorithm{hsm.RSA}}
	var out Outcome
	require.NoError(t, e.Ask(WithOutcome(ctx, &out), r))
	qs := p.asked()
	require.Len(t, qs, 1)
	require.Len(t, qs[0].Request.Choices, 1, "only the RSA key is shown")
	assert.Equal(t, hsm.RSA, qs[0].Request.Choices[0].Algorithm)

	r.Filter = ChoiceFilter{Algorithms: []hsm.KeyAlgorithm{"GOST3410-2012"}}
	err := e.Ask(ctx, r)
	assert.ErrorIs(t, err, hsm.ErrKeyNotFound)
	assert.ErrorContains(t, err, "GOST3410-2012")
	assert.Len(t, p.asked(), 1, "nothing left: nobody asked")
}

// With nobody to ask, a first-use origin's listing for a choice is
// refused, as the choice itself would be.
func TestListForChoiceHeadlessFirstUseRefused(t *testing.T) {
	f := newFixture(t, "")
	e := f.engine(t, nil)
	l := list(portal)
	l.ForChoice = true
	var out Outcome
	assert.ErrorIs(t, e.Ask(WithOutcome(context.Background(), &out), l), hsm.ErrDenied)
	assert.False(t, out.Withheld)
}
