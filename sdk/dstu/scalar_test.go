package dstu

import (
	"crypto/rand"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The constant-time e + d·r mod N agrees with math/big on every curve,
// edge values included.
func TestScalarMulAddMatchesBig(t *testing.T) {
	for _, c := range Curves() {
		nm1 := new(big.Int).Sub(c.N, big.NewInt(1))
		vals := []*big.Int{big.NewInt(0), big.NewInt(1), nm1, new(big.Int).Rsh(c.N, 1)}
		for range 20 {
			v, err := rand.Int(rand.Reader, c.N)
			require.NoError(t, err)
			vals = append(vals, v)
		}
		for i, d := range vals {
			r, e := vals[(i+1)%len(vals)], vals[(i+3)%len(vals)]
			want := new(big.Int).Mul(d, r)
			want.Add(want, e).Mod(want, c.N)
			ds, rs, es := scalarFromInt(d), scalarFromInt(r), scalarFromInt(e)
			got := c.sf.mulAdd(&ds, &rs, &es)
			assert.Equal(t, want, got.int(), "%s: %v·%v + %v", c.Name, d, r, e)
		}
		zero, n := scalarFromInt(big.NewInt(0)), scalarFromInt(c.N)
		one, nm := scalarFromInt(big.NewInt(1)), scalarFromInt(nm1)
		assert.False(t, c.sf.inRange(&zero))
		assert.False(t, c.sf.inRange(&n))
		assert.True(t, c.sf.inRange(&one))
		assert.True(t, c.sf.inRange(&nm))
	}
}
