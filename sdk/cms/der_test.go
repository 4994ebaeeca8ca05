package cms

import (
	"bytes"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDerBuf compares the hot-path DER writer with encoding/asn1.
func TestDerBuf(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 255, 256, 65535, 65536, 1 << 20} {
		content := bytes.Repeat([]byte{0xab}, n)
		var d derBuf
		d.open(0x30)
		d.octets(content)
		d.close()
		want, _ := asn1.Marshal(struct{ A []byte }{content})
		require.Equal(t, want, d.b, "length %d: got %x... want %x...", n, d.b[:min(8, len(d.b))], want[:min(8, len(want))])
	}
	for _, v := range []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(127), big.NewInt(128), big.NewInt(255), big.NewInt(256), big.NewInt(-1), big.NewInt(-129), new(big.Int).Lsh(big.NewInt(1), 159)} {
		var d derBuf
		d.bigInt(v)
		want, _ := asn1.Marshal(v)
		assert.Equal(t, want, d.b, "integer %v: got %x want %x", v, d.b, want)
	}
	for _, oid := range []asn1.ObjectIdentifier{OIDData, OIDDigestSHA256, OIDSignatureOzDSt1106With1092, {2, 999, 3}, {1, 2, 840, 113549, 1, 9, 16, 2, 47}} {
		var d derBuf
		d.oid(oid)
		want, _ := asn1.Marshal(oid)
		assert.Equal(t, want, d.b, "oid %v: got %x want %x", oid, d.b, want)
	}
	for _, tm := range []time.Time{time.Date(2026, 11, 23, 1, 2, 3, 0, time.UTC), time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1949, 12, 31, 23, 59, 59, 0, time.UTC)} {
		var d derBuf
		d.signingTime(tm)
		params := "utc"
		if tm.Year() >= 2050 || tm.Year() < 1950 {
			params = "generalized"
		}
		want, _ := asn1.MarshalWithParams(tm, params)
		assert.Equal(t, want, d.b, "time %v: got %x want %x", tm, d.b, want)
	}
}
