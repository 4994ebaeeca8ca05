package consent

import (
	"context"
	"errors"
	"testing"

	"github.com/signet-agent/signet/agent/journal"
)

// Protocol evidence a plugin sends with a request reaches the journal
// record of the decision and of the outcome, and is covered by its hash.
func TestEvidenceJournaled(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "  allow: [\"https://portal.example\"]\n")
	e := f.engine(t, &script{confirm: answer(Answer{Allow: true})})
	ev := map[string]string{"eimzo.apikey": "86F0C8A5", "cryptoarm.pinned": "sha256/0a1b"}
	req := Request{Kind: Sign, Plugin: "eimzo", Origin: portal, KeyURI: key1, Summary: "sign", Evidence: ev}
	if err := e.Ask(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := e.Record(ctx, req, errors.New("token gone")); err != nil {
		t.Fatal(err)
	}
	recs := f.records(t)
	if len(recs) != 2 {
		t.Fatalf("%d records, want decision and outcome", len(recs))
	}
	for _, r := range recs {
		if r.Evidence["eimzo.apikey"] != "86F0C8A5" || r.Evidence["cryptoarm.pinned"] != "sha256/0a1b" {
			t.Errorf("record %d (%s %s) evidence %q", r.Seq, r.Decision, r.Result, r.Evidence)
		}
		if r.Hash != r.ComputeHash() {
			t.Errorf("record %d: hash mismatch", r.Seq)
		}
		c := r
		c.Evidence = map[string]string{"eimzo.apikey": "forged", "cryptoarm.pinned": "sha256/0a1b"}
		if c.ComputeHash() == r.Hash {
			t.Errorf("record %d: evidence not covered by the hash", r.Seq)
		}
	}
	if recs[0].Decision != journal.DecisionAllowed || recs[1].Result != journal.ResultError {
		t.Errorf("records %+v", recs)
	}
}

// Without a text summary, the journal keeps the HTML summary's text.
func TestHTMLSummaryJournaledAsText(t *testing.T) {
	f := newFixture(t, "  allow: [\"https://portal.example\"]\n")
	e := f.engine(t, &script{confirm: answer(Answer{Allow: true})})
	req := Request{Kind: Sign, Plugin: "cipher", Origin: portal, KeyURI: key1,
		SummaryHTML: "<b>Invoice #42</b>: 3 files<script>x</script>"}
	if err := e.Ask(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	recs := f.records(t)
	if len(recs) != 1 || recs[0].Summary != "Invoice #42 : 3 files" {
		t.Fatalf("records %+v", recs)
	}
}
