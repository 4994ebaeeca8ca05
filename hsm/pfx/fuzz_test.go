package pfx

import (
	"crypto/x509/pkix"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
)

// FuzzListPFX feeds arbitrary bytes to the listing path (structure parse,
// then the silent empty-password decode). It must never panic, and what it
// lists must be well-formed.
func FuzzListPFX(f *testing.F) {
	pki, err := softhsmtest.NewPKI("Fuzz")
	require.NoError(f, err)
	for _, typ := range []string{softhsmtest.ECP256, softhsmtest.Ed25519} {
		k, err := pki.NewSoftwareKey(typ, softhsmtest.IssueOptions{Subject: pkix.Name{CommonName: "fuzz"}})
		require.NoError(f, err)
		for _, enc := range []softhsmtest.PFXEncoding{softhsmtest.Legacy, softhsmtest.LegacyDES, softhsmtest.Modern} {
			for _, pw := range []string{"", "pw"} {
				data, err := softhsmtest.EncodePFX(k.Key, k.Certificate, k.Chain, pw, enc)
				require.NoError(f, err)
				f.Add(data)
			}
		}
	}
	// Seeds use 2048 iterations; a lower bound keeps each run fast.
	maxIterations = 4096
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03})
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := parseListing(data)
		if err != nil {
			return
		}
		var dec *decoded
		if d, err := decode(data, nil); err == nil {
			dec = d
		}
		for _, e := range buildEntries(l, dec, nil) {
			require.NotEmpty(t, e.alias, "entry without alias")
			_ = KeyURI("/f.pfx", e.alias)
		}
	})
}
