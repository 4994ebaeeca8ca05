package consent

import (
	"context"
	"errors"
	"testing"

	"github.com/signet-agent/signet/agent/journal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Protocol evidence a plugin sends with a request reaches the journal
// record of the decision and of the outcome, and is covered by its hash.
func TestEvidenceJournaled(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "  allow: [\"https://portal.example\"]\n")
	e := f.engine(t, &script{confirm: answer(Answer{Allow: true})})
	ev := map[string]string{"eimzo.apikey": "86F0C8A5", "cryptoarm.pinned": "sha256/0a1b"}
	req := Request{Kind: Sign, Plugin: "eimzo", Origin: portal, KeyURI: key1, Summary: "sign", Evidence: ev}
	require.NoError(t, e.Ask(ctx, req))
	require.NoError(t, e.Record(ctx, req, errors.New("token gone")))
	recs := f.records(t)
	require.Len(t, recs, 2, "decision and outcome")
	for _, r := range recs {
		assert.Equal(t, "86F0C8A5", r.Evidence["eimzo.apikey"], "record %d (%s %s)", r.Seq, r.Decision, r.Result)
		assert.Equal(t, "sha256/0a1b", r.Evidence["cryptoarm.pinned"], "record %d (%s %s)", r.Seq, r.Decision, r.Result)
		assert.Equal(t, r.ComputeHash(), r.Hash, "record %d: hash mismatch", r.Seq)
		c := r
		c.Evidence = map[string]string{"eimzo.apikey": "forged", "cryptoarm.pinned": "sha256/0a1b"}
		assert.NotEqual(t, r.Hash, c.ComputeHash(), "record %d: evidence not covered by the hash", r.Seq)
	}
	assert.Equal(t, journal.DecisionAllowed, recs[0].Decision)
	assert.Equal(t, journal.ResultError, recs[1].Result)
}

// Without a text summary, the journal keeps the HTML summary's text.
func TestHTMLSummaryJournaledAsText(t *testing.T) {
	f := newFixture(t, "  allow: [\"https://portal.example\"]\n")
	e := f.engine(t, &script{confirm: answer(Answer{Allow: true})})
	req := Request{Kind: Sign, Plugin: "cipher", Origin: portal, KeyURI: key1,
		SummaryHTML: "<b>Invoice #42</b>: 3 files<script>x</script>"}
	require.NoError(t, e.Ask(context.Background(), req))
	recs := f.records(t)
	require.Len(t, recs, 1)
	require.Equal(t, "Invoice #42 : 3 files", recs[0].Summary)
}
