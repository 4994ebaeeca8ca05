package consent

import (
	"context"
	"errors"
	"testing"

	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
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
	if err := e.Ask(octx, r); err != nil {
		t.Fatal(err)
	}
	if !out.Deferred() || count() != 0 {
		t.Fatalf("deferred %v, %d records after Ask; want deferred and none", out.Deferred(), count())
	}
	if err := e.Record(octx, r, nil); err != nil {
		t.Fatal(err)
	}
	recs := f.records(t)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1: %+v", len(recs), recs)
	}
	if g := recs[0]; g.Op != journal.OpSign || g.Decision != journal.DecisionAllowed || g.DecidedBy != journal.ByPolicy ||
		g.Result != journal.ResultOK || g.KeyURI != key1 || len(g.Documents) != 1 {
		t.Fatalf("record %+v", g)
	}
	if out.Deferred() {
		t.Fatal("still deferred after Record")
	}

	// A failed signature: decision and failure in one record.
	if _, err := run(sign(portal), true, signErr); err != nil {
		t.Fatal(err)
	}
	if g := f.records(t)[1]; g.Decision != journal.DecisionAllowed || g.Result != journal.ResultError || g.Error != signErr.Error() {
		t.Fatalf("failure record %+v", g)
	}

	// The person was asked: the decision is recorded at once, the
	// outcome apart.
	ask := sign("https://ask.example")
	out, err := run(ask, true, nil)
	if err != nil || out.Deferred() {
		t.Fatalf("asked: err %v deferred %v", err, out.Deferred())
	}
	recs = f.records(t)
	if len(recs) != 4 || recs[2].DecidedBy != journal.ByUser || recs[2].Result != "" || recs[3].Result != journal.ResultOK || recs[3].Decision != "" {
		t.Fatalf("asked records %+v", recs[2:])
	}

	// A refusal and a listing are recorded by Ask.
	if _, err := run(sign("https://no.example"), true, nil); !errors.Is(err, hsm.ErrDenied) {
		t.Fatalf("deny rule: %v", err)
	}
	if _, err := run(Request{Kind: List, Plugin: "eimzo", Origin: portal}, true, nil); err != nil {
		t.Fatal(err)
	}
	recs = f.records(t)
	if len(recs) != 7 || recs[4].Decision != journal.DecisionDenied || recs[5].Op != journal.OpList || recs[5].Result != "" {
		t.Fatalf("refusal and listing records %+v", recs[4:])
	}

	// Without OneRecord: decision and outcome apart, as before.
	if _, err := run(sign(portal), false, nil); err != nil {
		t.Fatal(err)
	}
	recs = f.records(t)
	if len(recs) != 9 || recs[7].Result != "" || recs[7].Decision != journal.DecisionAllowed || recs[8].Decision != "" || recs[8].Result != journal.ResultOK {
		t.Fatalf("records without OneRecord %+v", recs[7:])
	}

	// The journal fails: Record reports it, so the caller withholds the
	// signature (fail closed).
	f.journal.Close()
	out, err = run(sign(portal), true, nil)
	if err == nil || !errors.Is(err, journal.ErrClosed) {
		t.Fatalf("Record with a closed journal: %v (deferred %v)", err, out.Deferred())
	}
}
