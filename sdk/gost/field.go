package gost

import (
	"crypto/subtle"
	"math/big"
	"math/bits"
)

// maxLimbs is the number of 64-bit limbs of the largest field (512 bits).
const maxLimbs = 8

// fe is a field element or scalar as little-endian 64-bit limbs; only the
// first n limbs of its field are used, the rest stay zero.
type fe [maxLimbs]uint64

// field is arithmetic modulo an odd prime m in Montgomery form (R =
// 2^(64n)). Every operation runs the same instructions and memory
// accesses whatever the values of its operands (no branch or index
// depends on them), so it can handle secret values; only n and m are
// treated as public.
type field struct {
	n    int
	m    fe
	mInv uint64 // −m⁻¹ mod 2^64
	r2   fe     // R² mod m
	one  fe     // R mod m (1 in Montgomery form)
	mm2  fe     // m − 2, the inversion exponent
}

func newField(m *big.Int) *field {
	n := (m.BitLen() + 63) / 64
	f := &field{n: n, m: feFromBig(m)}
	inv := uint64(1) // Newton: inv = m⁻¹ mod 2^64
	for range 6 {
		inv *= 2 - f.m[0]*inv
	}
	f.mInv = -inv
	r := new(big.Int).Lsh(big.NewInt(1), uint(64*n))
	f.one = feFromBig(new(big.Int).Mod(r, m))
	f.r2 = feFromBig(new(big.Int).Mod(new(big.Int).Mul(r, r), m))
	f.mm2 = feFromBig(new(big.Int).Sub(m, big.NewInt(2)))
	return f
}

// feFromBig converts a public value 0 ≤ x < 2^512.
func feFromBig(x *big.Int) fe {
	var buf [8 * maxLimbs]byte
	x.FillBytes(buf[:])
	return feFromBytes(buf[:])
}

// feFromBytes reads a big-endian byte string of at most 64 bytes.
func feFromBytes(be []byte) fe {
	var z fe
	for i, b := range be {
		k := len(be) - 1 - i
		z[k/8] |= uint64(b) << (8 * (k % 8))
	}
	return z
}

// bytes writes the low size bytes of z big-endian.
func (z *fe) bytes(size int) []byte {
	out := make([]byte, size)
	for k := range size {
		out[size-1-k] = byte(z[k/8] >> (8 * (k % 8)))
	}
	return out
}

func (z *fe) big() *big.Int { return new(big.Int).SetBytes(z.bytes(8 * maxLimbs)) }

// mul sets z = x·y·R⁻¹ mod m (CIOS Montgomery multiplication).
func (f *field) mul(z, x, y *fe) {
	var t [maxLimbs + 2]uint64
	n := f.n
	for i := range n {
		var c uint64
		for j := range n {
			hi, lo := bits.Mul64(x[j], y[i])
			var cc uint64
			lo, cc = bits.Add64(lo, t[j], 0)
			hi += cc
			lo, cc = bits.Add64(lo, c, 0)
			hi += cc
			t[j], c = lo, hi
		}
		var cc uint64
		t[n], cc = bits.Add64(t[n], c, 0)
		t[n+1] = cc
		u := t[0] * f.mInv
		hi, lo := bits.Mul64(u, f.m[0])
		_, cc = bits.Add64(lo, t[0], 0)
		c = hi + cc
		for j := 1; j < n; j++ {
			hi, lo = bits.Mul64(u, f.m[j])
			lo, cc = bits.Add64(lo, t[j], 0)
			hi += cc
			lo, cc = bits.Add64(lo, c, 0)
			hi += cc
			t[j-1], c = lo, hi
		}
		t[n-1], cc = bits.Add64(t[n], c, 0)
		t[n] = t[n+1] + cc
	}
	f.reduceOnce(z, t[:n], t[n])
}

// reduceOnce sets z = (hi·R + lo) − m if that is not negative, else
// hi·R + lo; the value must be below 2m.
func (f *field) reduceOnce(z *fe, lo []uint64, hi uint64) {
	var d fe
	var b uint64
	for j := range f.n {
		d[j], b = bits.Sub64(lo[j], f.m[j], b)
	}
	// keep lo when hi == 0 and the subtraction borrowed
	keep := -((^hi & 1) & b)
	for j := range f.n {
		z[j] = lo[j]&keep | d[j]&^keep
	}
}

func (f *field) add(z, x, y *fe) {
	var s [maxLimbs]uint64
	var c uint64
	for j := range f.n {
		s[j], c = bits.Add64(x[j], y[j], c)
	}
	f.reduceOnce(z, s[:f.n], c)
}

func (f *field) sub(z, x, y *fe) {
	var d fe
	var b uint64
	for j := range f.n {
		d[j], b = bits.Sub64(x[j], y[j], b)
	}
	mask := -b
	var c uint64
	for j := range f.n {
		d[j], c = bits.Add64(d[j], f.m[j]&mask, c)
	}
	*z = d
}

func (f *field) toMont(z, x *fe)   { f.mul(z, x, &f.r2) }
func (f *field) fromMont(z, x *fe) { var one fe; one[0] = 1; f.mul(z, x, &one) }

// inv sets z = x⁻¹ (Montgomery form in and out) as x^(m−2); 0 maps to 0.
// The exponent is public, so the square-and-multiply may branch on it.
func (f *field) inv(z, x *fe) {
	r := f.one
	for i := 64*f.n - 1; i >= 0; i-- {
		f.mul(&r, &r, &r)
		if f.mm2[i/64]>>(i%64)&1 == 1 {
			f.mul(&r, &r, x)
		}
	}
	*z = r
}

// isZero returns 1 if x = 0, else 0, in constant time.
func (f *field) isZero(x *fe) int {
	var acc uint64
	for j := range f.n {
		acc |= x[j]
	}
	return subtle.ConstantTimeEq(int32(uint32(acc>>32)|uint32(acc)), 0)
}

// less returns 1 if x < m, else 0, in constant time.
func (f *field) less(x *fe) int {
	var b uint64
	for j := range f.n {
		_, b = bits.Sub64(x[j], f.m[j], b)
	}
	return int(b)
}

// cmov sets z = x when cond is 1 and leaves it when cond is 0.
func cmov(z, x *fe, cond uint64) {
	mask := -cond
	for j := range z {
		z[j] ^= (z[j] ^ x[j]) & mask
	}
}
