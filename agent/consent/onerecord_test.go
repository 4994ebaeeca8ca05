package consent

import (
	"context"
	"errors"
	"testing"

	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOneRecord checks Outcome.OneRecord: a signature no one was asked
// about (unattended rule, grant) is journaled in one record carrying the
// decision and the outcome, written by Record; a question the person
// answered keeps its decision record; listings and refusals are journaled
// at once as before; without OneRecord nothing changes.
func TestOneRecord(t *testing.T) {
	f := newFixture(t, `  unattended:
    rules:
      - {origin: "https://portal.example", operation: sign, action: allow}
      - {origin: "https://ask.example", operation: sign, action: ask}
      - {origin: "https://no.example", operation: sign, action: deny}
`)
	e := f.engine(t, &script{confirm: answer(Answer{Allow: true})})
	ctx := context.Background()
	signErr := errors.New("token said no")

	run := func(r Request, oneRecord bool, opErr error) (*Outcome, error) {
		t.Helper()
		out := &Outcome{OneRecord: oneRecord}
		octx := WithOutcome(ctx, out)
		if err := e.Ask(octx, r); err != nil {
			return out, err
		}
		return out, e.Record(octx, r, opErr)
	}
	count := func() int { return len(f.records(t)) }

	// Rule-allowed signature: nothing before Record, then one record.
	r := sign(portal)
	out := &Outcome{OneRecord: true}
	octx := WithOutcome(ctx, out)
	require.NoError(t, e.Ask(octx, r))
	require.True(t, out.Deferred(), "deferred after Ask")
	require.Zero(t, count(), "records after Ask")
	require.NoError(t, e.Record(octx, r, nil))
	recs := f.records(t)
	require.Len(t, recs, 1)
	g := recs[0]
	assert.Equal(t, journal.OpSign, g.Op)
	assert.Equal(t, journal.DecisionAllowed, g.Decision)
	assert.Equal(t, journal.ByPolicy, g.DecidedBy)
	assert.Equal(t, journal.ResultOK, g.Result)
	assert.Equal(t, key1, g.KeyURI)
	assert.Len(t, g.Documents, 1)
	require.False(t, out.Deferred(), "still deferred after Record")

	// A failed signature: decision and failure in one record.
	_, err := run(sign(portal), true, signErr)
	require.NoError(t, err)
	g = f.records(t)[1]
	assert.Equal(t, journal.DecisionAllowed, g.Decision, "failure record")
	assert.Equal(t, journal.ResultError, g.Result, "failure record")
	assert.Equal(t, signErr.Error(), g.Error, "failure record")

	// The person was asked: the decision is recorded at once, the
	// outcome apart.
	ask := sign("https://ask.example")
	out, err = run(ask, true, nil)
	require.NoError(t, err, "asked")
	require.False(t, out.Deferred(), "asked")
	recs = f.records(t)
	require.Len(t, recs, 4)
	assert.Equal(t, journal.ByUser, recs[2].DecidedBy, "asked: decision record")
	assert.Empty(t, recs[2].Result, "asked: decision record")
	assert.Equal(t, journal.ResultOK, recs[3].Result, "asked: outcome record")
	assert.Empty(t, recs[3].Decision, "asked: outcome record")

	// A refusal and a listing are recorded by Ask.
	_, err = run(sign("https://no.example"), true, nil)
	require.ErrorIs(t, err, hsm.ErrDenied, "deny rule")
	_, err = run(Request{Kind: List, Plugin: "eimzo", Origin: portal}, true, nil)
	require.NoError(t, err)
	recs = f.records(t)
	require.Len(t, recs, 7)
	assert.Equal(t, journal.DecisionDenied, recs[4].Decision, "refusal record")
	assert.Equal(t, journal.OpList, recs[5].Op, "listing record")
	assert.Empty(t, recs[5].Result, "listing record")

	// Without OneRecord: decision and outcome apart, as before.
	_, err = run(sign(portal), false, nil)
	require.NoError(t, err)
	recs = f.records(t)
	require.Len(t, recs, 9)
	assert.Empty(t, recs[7].Result, "decision without OneRecord")
	assert.Equal(t, journal.DecisionAllowed, recs[7].Decision, "decision without OneRecord")
	assert.Empty(t, recs[8].Decision, "outcome without OneRecord")
	assert.Equal(t, journal.ResultOK, recs[8].Result, "outcome without OneRecord")

	// The journal fails: Record reports it, so the caller withholds the
	// signature (fail closed).
	f.journal.Close()
	out, err = run(sign(portal), true, nil)
	require.ErrorIs(t, err, journal.ErrClosed, "Record with a closed journal (deferred %v)", out.Deferred())
}
