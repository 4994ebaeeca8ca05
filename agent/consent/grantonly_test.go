package consent

import (
	"context"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/journal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
				require.NoError(t, e.Decisions().Set(OriginDecision{Origin: portal, Choice: Always, Decided: time.Now()}))
			}
			var out Outcome
			err := e.Ask(WithOutcome(ctx, &out), grantOnly(3))
			if c.wantErr {
				require.ErrorIs(t, err, ErrRefused)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, c.wantGrant, out.GrantID != "", "grant id %q", out.GrantID)
			qs := p.asked()
			require.Len(t, qs, c.questions, "questions")
			last := qs[len(qs)-1]
			if !last.FirstUse && assert.NotNil(t, last.Grant, "grant question offers no grant") {
				assert.Equal(t, 3, last.Grant.Uses, "grant question's uses")
			}
			if !c.wantGrant {
				return
			}
			// All three uses remain: three signatures presenting the grant,
			// no question; the fourth is refused.
			for i := range 3 {
				r := Request{Kind: Sign, Plugin: "cipher", Origin: portal, KeyURI: key1, GrantID: out.GrantID}
				require.NoError(t, e.Ask(ctx, r), "use %d", i+1)
			}
			r := Request{Kind: Sign, Plugin: "cipher", Origin: portal, KeyURI: key1, GrantID: out.GrantID}
			require.ErrorIs(t, e.Ask(ctx, r), ErrRefused, "fourth use")
			require.Len(t, p.asked(), c.questions, "using the grant put questions")
			// The grant request itself is journaled as a consent, not a signature.
			for _, rec := range f.records(t) {
				if rec.Summary == "accessToken" {
					assert.Equal(t, journal.OpConsent, rec.Op, "grant request journaled as")
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
	require.NoError(t, e.Decisions().Set(OriginDecision{Origin: portal, Choice: Always, Decided: time.Now()}))
	var a, b Outcome
	require.NoError(t, e.Ask(WithOutcome(ctx, &a), grantOnly(2)))
	require.NoError(t, e.Ask(WithOutcome(ctx, &b), grantOnly(2)))
	require.NotEmpty(t, a.GrantID)
	require.NotEmpty(t, b.GrantID)
	require.NotEqual(t, a.GrantID, b.GrantID, "want two distinct grants")
	for _, g := range e.Grants().List() {
		assert.Equal(t, 2, g.Remaining, "grant %s uses left", g.ID)
	}
}
