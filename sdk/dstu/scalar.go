package dstu

import (
	"math/big"
	"math/bits"
)

// Arithmetic modulo the base point order N for signing, in constant time:
// fixed-width limbs and Montgomery multiplication (CIOS) with a masked
// final subtraction, so that s = e + d·r mod N takes the same steps for
// every secret d and e. The constants are derived from N, which is public,
// with math/big.

// scalar is an integer below N in little-endian 64-bit limbs.
type scalar [maxWords]uint64

type scalarField struct {
	n     int // limbs used
	m     scalar
	m0inv uint64 // −N⁻¹ mod 2⁶⁴
	rr    scalar // R² mod N, R = 2^(64·n)
}

func newScalarField(n *big.Int) *scalarField {
	sf := &scalarField{n: (n.BitLen() + 63) / 64}
	sf.m = scalarFromInt(n)
	// Newton's iteration for N⁻¹ mod 2⁶⁴ (N is odd).
	inv := sf.m[0]
	for range 6 {
		inv *= 2 - sf.m[0]*inv
	}
	sf.m0inv = -inv
	r := new(big.Int).Lsh(big.NewInt(1), uint(128*sf.n))
	sf.rr = scalarFromInt(r.Mod(r, n))
	return sf
}

func scalarFromInt(v *big.Int) scalar {
	b := v.FillBytes(make([]byte, 8*maxWords))
	return scalarFromBytes(b)
}

// scalarFromBytes reads a big-endian integer of at most 8·maxWords bytes.
func scalarFromBytes(b []byte) scalar {
	var s scalar
	for i, c := range b {
		pos := len(b) - 1 - i
		s[pos/8] |= uint64(c) << (8 * (pos % 8))
	}
	return s
}

func (s *scalar) int() *big.Int {
	b := make([]byte, 8*maxWords)
	for i := range b {
		pos := len(b) - 1 - i
		b[i] = byte(s[pos/8] >> (8 * (pos % 8)))
	}
	return new(big.Int).SetBytes(b)
}

// montMul returns x·y·R⁻¹ mod N for x, y < N.
func (sf *scalarField) montMul(x, y *scalar) scalar {
	n := sf.n
	var t [maxWords + 2]uint64
	for i := range n {
		var c, cc uint64
		for j := range n {
			hi, lo := bits.Mul64(x[i], y[j])
			lo, cc = bits.Add64(lo, t[j], 0)
			hi += cc
			lo, cc = bits.Add64(lo, c, 0)
			hi += cc
			t[j], c = lo, hi
		}
		t[n], cc = bits.Add64(t[n], c, 0)
		t[n+1] += cc
		m := t[0] * sf.m0inv
		hi, lo := bits.Mul64(m, sf.m[0])
		_, cc = bits.Add64(lo, t[0], 0)
		c = hi + cc
		for j := 1; j < n; j++ {
			hi, lo := bits.Mul64(m, sf.m[j])
			lo, cc = bits.Add64(lo, t[j], 0)
			hi += cc
			lo, cc = bits.Add64(lo, c, 0)
			hi += cc
			t[j-1], c = lo, hi
		}
		t[n-1], cc = bits.Add64(t[n], c, 0)
		t[n], t[n+1] = t[n+1]+cc, 0
	}
	var z scalar
	copy(z[:n], t[:n])
	return sf.reduceOnce(&z, t[n])
}

// reduceOnce returns z − N if z (with the carry limb top) is at least N,
// else z, choosing by mask. z < 2N.
func (sf *scalarField) reduceOnce(z *scalar, top uint64) scalar {
	var d scalar
	var borrow uint64
	for i := range sf.n {
		d[i], borrow = bits.Sub64(z[i], sf.m[i], borrow)
	}
	_, borrow = bits.Sub64(top, 0, borrow)
	keep := -borrow // all ones: z < N, keep z
	var out scalar
	for i := range sf.n {
		out[i] = z[i]&keep | d[i]&^keep
	}
	return out
}

// mulAdd returns e + d·r mod N for d, e, r < N.
func (sf *scalarField) mulAdd(d, r, e *scalar) scalar {
	t := sf.montMul(d, r)
	t = sf.montMul(&t, &sf.rr)
	var sum scalar
	var carry uint64
	for i := range sf.n {
		sum[i], carry = bits.Add64(t[i], e[i], carry)
	}
	return sf.reduceOnce(&sum, carry)
}

// inRange reports whether 0 < k < N, in constant time.
func (sf *scalarField) inRange(k *scalar) bool {
	var borrow, nonzero uint64
	for i := range maxWords {
		_, borrow = bits.Sub64(k[i], sf.m[i], borrow)
		nonzero |= k[i]
	}
	return borrow == 1 && nonzero != 0
}
