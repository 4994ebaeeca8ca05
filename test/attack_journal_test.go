package e2e

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/internal/softhsmtest"
)

// TestAttackJournalFlood: a page the administrator denies sends 2000 sign
// requests on one kept-open connection (the attack wrote 2000 fsynced
// records, 1.2 MB). Every request is still refused, and the journal holds
// a few records whose counts add up to 2000 and still verifies.
func TestAttackJournalFlood(t *testing.T) {
	const (
		evil = "https://evil.example"
		n    = 2000
	)
	a := startAgentWith(t, agentSetup{Deny: []string{evil}})
	c := a.client()
	tr := c.Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives, tr.MaxConnsPerHost = false, 1 // one kept-open connection
	c.Transport = tr
	addr := exampleAddr(t, a.plugin("example"))
	key := findKey(t, listKeys(t, c, addr, nil), "pkcs11:", softhsmtest.KeyECDSA)

	for i := range n {
		sum := sha256.Sum256(fmt.Appendf(nil, "flood %d", i))
		status, _, body := signAs(t, c, addr, evil, key, sum[:], fmt.Sprintf("flood-%d", i), nil)
		require.Equal(t, http.StatusForbidden, status, "request %d: %s", i, body)
	}
	a.stop()

	path := journal.PathIn(a.dataDir())
	rep, err := journal.VerifyFile(path)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep.Problems)
	recs, err := journal.ReadFile(path, journal.Filter{})
	require.NoError(t, err)
	var flood []journal.Record
	refused := 0
	for _, r := range recs {
		if r.Origin != evil && r.Repeat == nil {
			continue
		}
		flood = append(flood, r)
		assert.Equal(t, journal.DecisionDenied, r.Decision)
		assert.Equal(t, journal.ByAdmin, r.DecidedBy)
		if r.Repeat != nil {
			refused += r.Repeat.Count
		} else {
			refused++
		}
	}
	assert.Equal(t, n, refused, "the records account for every refusal")
	// The first refusal, then one record per minute of flooding at most.
	assert.LessOrEqual(t, len(flood), 4, "records for %d refusals", n)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Less(t, fi.Size(), int64(64<<10), "journal size after the flood")
}
