package consent

import (
	"context"
	"crypto/x509"
	"errors"
	"math/big"
	"testing"

	"github.com/signet-agent/signet/hsm"
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
	if err := e.Ask(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := e.Record(ctx, req, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Record(ctx, req, errors.New("token gone")); err != nil {
		t.Fatal(err)
	}
	recs := f.records(t)
	if len(recs) != 3 {
		t.Fatalf("%d records, want decision and two outcomes", len(recs))
	}
	if got := recs[1].CertSerial; got != "1a2b3c" {
		t.Errorf("ok outcome CertSerial = %q, want 1a2b3c", got)
	}
	if got := recs[2].CertSerial; got != "" {
		t.Errorf("failed outcome CertSerial = %q, want none", got)
	}
	if len(asked) != 1 || asked[0] != key1 {
		t.Errorf("CachedKey calls %q, want one for the ok outcome", asked)
	}
}
