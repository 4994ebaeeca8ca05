package consent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/journal"
)

func grantOnly(uses int) Request {
	return Request{Kind: Sign, Plugin: "cipher", Origin: portal, KeyURI: key1, Summary: "accessToken",
		GrantUses: uses, GrantWithin: time.Minute, GrantOnly: true}
}

// Cipher's accessToken: a request for a grant alone, before any signature,
// creates a grant of all the uses offered and reports its id.
func TestGrantOnly(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name      string
		remember  bool // origin remembered before
		answers   []Answer
		wantGrant bool
		wantErr   bool
		questions int
	}{
		{"accepted", true, []Answer{{Allow: true, Remember: true}}, true, false, 1},
		{"approved without accepting the grant", true, []Answer{{Allow: true}}, false, true, 1},
		{"refused", true, []Answer{{}}, false, true, 1},
		{"first use always, then accepted", false, []Answer{{Allow: true, Remember: true}, {Allow: true, Remember: true}}, true, false, 2},
		{"first use once: allowed without a grant", false, []Answer{{Allow: true}}, false, false, 1},
		{"first use refused", false, []Answer{{}}, false, true, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, "")
			p := &script{confirm: func(_ context.Context, n int, _ Question) (Answer, error) {
				if n >= len(c.answers) {
					return Answer{}, nil
				}
				return c.answers[n], nil
			}}
			e := f.engine(t, p)
			if c.remember {
				if err := e.Decisions().Set(OriginDecision{Origin: portal, Choice: Always, Decided: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			var out Outcome
			err := e.Ask(WithOutcome(ctx, &out), grantOnly(3))
			if (err != nil) != c.wantErr {
				t.Fatalf("Ask: %v", err)
			}
			if err != nil && !errors.Is(err, ErrRefused) {
				t.Fatalf("refusal %v, want ErrRefused", err)
			}
			if (out.GrantID != "") != c.wantGrant {
				t.Fatalf("grant id %q", out.GrantID)
			}
			qs := p.asked()
			if len(qs) != c.questions {
				t.Fatalf("%d questions, want %d", len(qs), c.questions)
			}
			last := qs[len(qs)-1]
			if !last.FirstUse && (last.Grant == nil || last.Grant.Uses != 3) {
				t.Errorf("grant question offers %+v, want 3 uses", last.Grant)
			}
			if !c.wantGrant {
				return
			}
			// All three uses remain: three signatures presenting the grant,
			// no question; the fourth is refused.
			for i := range 3 {
				r := Request{Kind: Sign, Plugin: "cipher", Origin: portal, KeyURI: key1, GrantID: out.GrantID}
				if err := e.Ask(ctx, r); err != nil {
					t.Fatalf("use %d: %v", i+1, err)
				}
			}
			r := Request{Kind: Sign, Plugin: "cipher", Origin: portal, KeyURI: key1, GrantID: out.GrantID}
			if err := e.Ask(ctx, r); !errors.Is(err, ErrRefused) {
				t.Fatalf("fourth use: %v, want ErrRefused", err)
			}
			if n := len(p.asked()); n != c.questions {
				t.Fatalf("using the grant put questions (%d)", n)
			}
			// The grant request itself is journaled as a consent, not a signature.
			for _, rec := range f.records(t) {
				if rec.Summary == "accessToken" && rec.Op != journal.OpConsent {
					t.Errorf("grant request journaled as %q", rec.Op)
				}
			}
		})
	}
}

// A grant request does not consume an existing grant.
func TestGrantOnlyLeavesExistingGrants(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "")
	p := &script{confirm: answer(Answer{Allow: true, Remember: true})}
	e := f.engine(t, p)
	if err := e.Decisions().Set(OriginDecision{Origin: portal, Choice: Always, Decided: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var a, b Outcome
	if err := e.Ask(WithOutcome(ctx, &a), grantOnly(2)); err != nil {
		t.Fatal(err)
	}
	if err := e.Ask(WithOutcome(ctx, &b), grantOnly(2)); err != nil {
		t.Fatal(err)
	}
	if a.GrantID == "" || b.GrantID == "" || a.GrantID == b.GrantID {
		t.Fatalf("grants %q %q; want two distinct", a.GrantID, b.GrantID)
	}
	for _, g := range e.Grants().List() {
		if g.Remaining != 2 {
			t.Errorf("grant %s has %d uses left, want 2", g.ID, g.Remaining)
		}
	}
}
