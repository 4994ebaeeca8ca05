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
	"github.com/stretchr/testify/require"
)

// A signature an unattended rule allows is journaled in one record —
// decision and outcome — before the signature leaves the host; when the
// journal cannot write it, the signature is withheld (fail closed), over
// the wire with a real plugin process and SoftHSM key.
func TestPolicySignatureOneRecordFailClosed(t *testing.T) {
	const origin = "https://portal.example"
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.jsonl"), journal.WithoutSync())
	require.NoError(t, err)
	t.Cleanup(func() { j.Close() })
	pol := &config.Policy{}
	pol.Unattended.Rules = []config.Rule{{Origin: origin, Operation: "sign", Action: "allow"}}
	var h *plugintest.Host
	e, err := consent.NewEngine(consent.EngineConfig{Policy: pol, Journal: j,
		CachedKey: func(uri string) (hsm.KeyInfo, bool) { return h.Store.CachedKey(uri) }})
	require.NoError(t, err)
	fault := &failAfterAsk{Engine: e, j: j}
	h = plugintest.Start(t, grantPlugin, &plugintest.Config{Consent: fault})
	key := h.KeyURI(t, plugintest.KeyRSA)

	code, _ := postGrantSign(t, h, grantSign{Key: key, Origin: origin})
	require.Equal(t, http.StatusOK, code, "policy-allowed signature: status")
	recs, err := j.List(journal.Filter{Op: journal.OpSign})
	require.NoError(t, err)
	require.Len(t, recs, 1, "sign records")
	r := recs[0]
	require.Equal(t, journal.DecisionAllowed, r.Decision, "sign record %+v", r)
	require.Equal(t, journal.ByPolicy, r.DecidedBy, "sign record %+v", r)
	require.Equal(t, journal.ResultOK, r.Result, "sign record %+v", r)
	require.Equal(t, key, r.KeyURI, "sign record %+v", r)
	require.Equal(t, origin, r.Origin, "sign record %+v", r)
	require.NotEmpty(t, r.CertSerial, "sign record %+v: no certificate serial", r)

	// The journal fails after the decision and before the outcome: the
	// token signs, but the signature is withheld.
	fault.arm.Store(true)
	code, _ = postGrantSign(t, h, grantSign{Key: key, Origin: origin})
	require.Equal(t, http.StatusForbidden, code, "signature with a failing journal: want 403 (withheld)")
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
