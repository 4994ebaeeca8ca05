package host_test

import (
	"context"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/plugintest"
)

// A signature an unattended rule allows is journaled in one record —
// decision and outcome — before the signature leaves the host; when the
// journal cannot write it, the signature is withheld (fail closed), over
// the wire with a real plugin process and SoftHSM key.
func TestPolicySignatureOneRecordFailClosed(t *testing.T) {
	const origin = "https://portal.example"
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.jsonl"), journal.WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	pol := &config.Policy{}
	pol.Unattended.Rules = []config.Rule{{Origin: origin, Operation: "sign", Action: "allow"}}
	var h *plugintest.Host
	e, err := consent.NewEngine(consent.EngineConfig{Policy: pol, Journal: j,
		CachedKey: func(uri string) (hsm.KeyInfo, bool) { return h.Store.CachedKey(uri) }})
	if err != nil {
		t.Fatal(err)
	}
	fault := &failAfterAsk{Engine: e, j: j}
	h = plugintest.Start(t, grantPlugin, &plugintest.Config{Consent: fault})
	key := h.KeyURI(t, plugintest.KeyRSA)

	if code, _ := postGrantSign(t, h, grantSign{Key: key, Origin: origin}); code != http.StatusOK {
		t.Fatalf("policy-allowed signature: status %d", code)
	}
	recs, err := j.List(journal.Filter{Op: journal.OpSign})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d sign records, want 1: %+v", len(recs), recs)
	}
	if r := recs[0]; r.Decision != journal.DecisionAllowed || r.DecidedBy != journal.ByPolicy || r.Result != journal.ResultOK ||
		r.KeyURI != key || r.Origin != origin || r.CertSerial == "" {
		t.Fatalf("sign record %+v; want allowed by policy, ok, key, origin and certificate serial", r)
	}

	// The journal fails after the decision and before the outcome: the
	// token signs, but the signature is withheld.
	fault.arm.Store(true)
	if code, _ := postGrantSign(t, h, grantSign{Key: key, Origin: origin}); code != http.StatusForbidden {
		t.Fatalf("signature with a failing journal: status %d, want 403 (withheld)", code)
	}
}

// failAfterAsk is the Engine whose journal fails between Ask and Record
// once armed (a fault the real journal cannot be made to produce at that
// moment): it closes the journal after Ask.
type failAfterAsk struct {
	*consent.Engine
	j   *journal.Journal
	arm atomic.Bool
}

func (f *failAfterAsk) Ask(ctx context.Context, req consent.Request) error {
	err := f.Engine.Ask(ctx, req)
	if f.arm.Load() {
		f.j.Close()
	}
	return err
}
