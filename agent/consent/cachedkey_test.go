package consent

import (
	"context"
	"crypto/x509"
	"errors"
	"math/big"
	"testing"

	"github.com/signet-agent/signet/hsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A signature no person was asked about (a policy rule allowed it) still
// names its certificate in the journal: Record takes it from the key store's
// cache, never from the token.
func TestPolicyApprovedSignJournalsCertSerial(t *testing.T) {
	f := newFixture(t, `  unattended:
    rules:
      - {origin: "https://ci.example", operation: sign, action: allow}
`)
	cert := &x509.Certificate{SerialNumber: big.NewInt(0x1a2b3c)}
	var asked []string
	e := f.engine(t, nil, func(c *EngineConfig) {
		c.CachedKey = func(uri string) (hsm.KeyInfo, bool) {
			asked = append(asked, uri)
			return hsm.KeyInfo{URI: uri, Certificate: cert}, uri == key1
		}
	})
	ctx := context.Background()
	req := Request{Kind: Sign, Origin: "https://ci.example", Plugin: "cipher", KeyURI: key1}
	require.NoError(t, e.Ask(ctx, req))
	require.NoError(t, e.Record(ctx, req, nil))
	require.NoError(t, e.Record(ctx, req, errors.New("token gone")))
	recs := f.records(t)
	require.Len(t, recs, 3, "decision and two outcomes")
	assert.Equal(t, "1a2b3c", recs[1].CertSerial, "ok outcome")
	assert.Empty(t, recs[2].CertSerial, "failed outcome")
	assert.Equal(t, []string{key1}, asked, "CachedKey calls: one for the ok outcome")
}
