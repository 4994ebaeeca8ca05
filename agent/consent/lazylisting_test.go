package consent

import (
	"bytes"
	"context"
	"os"
	"sync/atomic"
	"testing"

	"github.com/signet-agent/signet/agent/journal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A signature call that looks its key up first (a listing for the
// choice, Request.ForChoice) and signs under an unattended rule costs one
// durable journal record: the listing's record is written in the chain at
// once and made durable by the signature's own fsync, before the
// signature is released. Both records are there, in order, with their
// evidence. A plain listing (not for a choice) is still durable at once.
func TestForChoiceListingRidesOnTheSignature(t *testing.T) {
	f := newFixture(t, `  unattended:
    rules:
      - {origin: "https://portal.example", operation: sign, action: allow}
`)
	path := journal.PathIn(t.TempDir())
	var fsyncs atomic.Int64
	var durableLines atomic.Int64 // lines in the file when the last fsync began
	j, err := journal.Open(path, journal.WithSyncFunc(func(file *os.File) error {
		data, err := os.ReadFile(file.Name())
		if err != nil {
			return err
		}
		fsyncs.Add(1)
		if err := file.Sync(); err != nil {
			return err
		}
		durableLines.Store(int64(bytes.Count(data, []byte{'\n'})))
		return nil
	}))
	require.NoError(t, err)
	t.Cleanup(func() { j.Close() })
	e := f.engine(t, nil, func(c *EngineConfig) { c.Journal = j })

	out := &Outcome{OneRecord: true}
	ctx := WithOutcome(context.Background(), out)
	lookup := list(portal)
	lookup.ForChoice, lookup.KeyURI = true, key1
	require.NoError(t, e.Ask(ctx, lookup), "lookup for the signature")
	assert.Zero(t, fsyncs.Load(), "fsyncs after the lookup")
	s := sign(portal)
	require.NoError(t, e.Ask(ctx, s), "signature")
	require.NoError(t, e.Record(ctx, s, nil), "signature outcome")

	assert.Equal(t, int64(1), fsyncs.Load(), "fsyncs for one signature call")
	assert.Equal(t, int64(2), durableLines.Load(), "lines on disk when the signature was released")
	recs, err := journal.ReadFile(path, journal.Filter{})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	l, g := recs[0], recs[1]
	assert.Equal(t, journal.OpList, l.Op, "lookup record %+v", l)
	assert.Equal(t, journal.DecisionAllowed, l.Decision, "lookup record %+v", l)
	assert.Equal(t, key1, l.KeyURI, "lookup record %+v", l)
	assert.Equal(t, portal, l.Origin, "lookup record %+v", l)
	assert.Equal(t, journal.OpSign, g.Op, "sign record %+v", g)
	assert.Equal(t, journal.DecisionAllowed, g.Decision, "sign record %+v", g)
	assert.Equal(t, journal.ByPolicy, g.DecidedBy, "sign record %+v", g)
	assert.Equal(t, journal.ResultOK, g.Result, "sign record %+v", g)
	assert.Equal(t, key1, g.KeyURI, "sign record %+v", g)
	assert.Len(t, g.Documents, 1, "sign record %+v", g)

	// A listing of its own (list_all_certificates) is waited for.
	require.NoError(t, e.Ask(context.Background(), list(portal)), "plain listing")
	assert.Equal(t, int64(2), fsyncs.Load(), "fsyncs after a plain listing")
}
