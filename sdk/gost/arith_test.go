package gost

import (
	"crypto/rand"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGostArithmeticAgrees: on every curve, for random scalars, the
// doubling formula equals adding a point to itself, the fixed-base comb
// equals the windowed multiplication of the base point, the blinded and
// the public affine conversions agree, and k·G + (q−k)·G is the point at
// infinity. Field multiplication agrees with math/big.
func TestGostArithmeticAgrees(t *testing.T) {
	for _, c := range allCurves {
		t.Run(c.Name, func(t *testing.T) {
			require.NoError(t, c.check())
			ca := c.arith
			for range 4 {
				k, err := randScalar(c, rand.Reader)
				require.NoError(t, err)
				p1 := ca.scalarMult(&ca.g, k)
				p2 := ca.scalarBaseMult(k)
				x1, y1, ok1 := ca.affine(&p1)
				x2, y2, ok2 := ca.affinePublic(&p2)
				require.Equal(t, 1, ok1)
				require.Equal(t, 1, ok2)
				assert.Equal(t, x1, x2, "comb and window differ")
				assert.Equal(t, y1, y2, "comb and window differ")

				d1, d2 := ca.double(&p1), ca.add(&p1, &p1)
				xd1, yd1, _ := ca.affinePublic(&d1)
				xd2, yd2, _ := ca.affinePublic(&d2)
				assert.Equal(t, xd1, xd2, "double differs from add")
				assert.Equal(t, yd1, yd2, "double differs from add")

				qk := new(big.Int).Sub(c.Q, new(big.Int).SetBytes(k))
				p3 := ca.scalarBaseMult(qk.FillBytes(make([]byte, ca.size)))
				sum := ca.add(&p1, &p3)
				assert.Equal(t, 1, ca.fp.isZero(&sum.z), "k·G + (q−k)·G is not infinity")

				a, b := new(big.Int).SetBytes(k), new(big.Int).Sub(c.P, big.NewInt(12345))
				af, bf := feFromBig(new(big.Int).Mod(a, c.P)), feFromBig(b)
				var am, bm, pm fe
				ca.fp.toMont(&am, &af)
				ca.fp.toMont(&bm, &bf)
				ca.fp.mul(&pm, &am, &bm)
				ca.fp.fromMont(&pm, &pm)
				want := new(big.Int).Mul(a, b)
				assert.Zero(t, pm.big().Cmp(want.Mod(want, c.P)), "field multiplication")
			}
		})
	}
}
