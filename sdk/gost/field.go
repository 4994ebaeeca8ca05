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
}

func newField(m *big.Int) *field {
	n := 4
	if m.BitLen() > 256 {
		n = 8
	}
	f := &field{n: n, m: feFromBig(m)}
	inv := uint64(1) // Newton: inv = m⁻¹ mod 2^64
	for range 6 {
		inv *= 2 - f.m[0]*inv
	}
	f.mInv = -inv
	r := new(big.Int).Lsh(big.NewInt(1), uint(64*n))
	f.one = feFromBig(new(big.Int).Mod(r, m))
	f.r2 = feFromBig(new(big.Int).Mod(new(big.Int).Mul(r, r), m))
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

// mul sets z = x·y·R⁻¹ mod m (CIOS Montgomery multiplication), with the
// loops fixed at 4 or 8 limbs so that the compiler drops the bounds
// checks.
func (f *field) mul(z, x, y *fe) {
	if f.n == 4 {
		f.mul4(z, x, y)
		return
	}
	f.mul8(z, x, y)
}

func (f *field) mul4(z, x, y *fe) {
	x0, x1, x2, x3 := x[0], x[1], x[2], x[3]
	m0, m1, m2, m3 := f.m[0], f.m[1], f.m[2], f.m[3]
	inv := f.mInv
	var t0, t1, t2, t3, t4 uint64
	t0, t1, t2, t3, t4 = step4(t0, t1, t2, t3, t4, x0, x1, x2, x3, y[0], m0, m1, m2, m3, inv)
	t0, t1, t2, t3, t4 = step4(t0, t1, t2, t3, t4, x0, x1, x2, x3, y[1], m0, m1, m2, m3, inv)
	t0, t1, t2, t3, t4 = step4(t0, t1, t2, t3, t4, x0, x1, x2, x3, y[2], m0, m1, m2, m3, inv)
	t0, t1, t2, t3, t4 = step4(t0, t1, t2, t3, t4, x0, x1, x2, x3, y[3], m0, m1, m2, m3, inv)
	d0, b := bits.Sub64(t0, m0, 0)
	d1, b := bits.Sub64(t1, m1, b)
	d2, b := bits.Sub64(t2, m2, b)
	d3, b := bits.Sub64(t3, m3, b)
	keep := -((^t4 & 1) & b)
	z[0] = t0&keep | d0&^keep
	z[1] = t1&keep | d1&^keep
	z[2] = t2&keep | d2&^keep
	z[3] = t3&keep | d3&^keep
}

// mac returns a·b + c + d as (hi, lo).
func mac(a, b, c, d uint64) (hi, lo uint64) {
	hi, lo = bits.Mul64(a, b)
	var cc uint64
	lo, cc = bits.Add64(lo, c, 0)
	hi += cc
	lo, cc = bits.Add64(lo, d, 0)
	return hi + cc, lo
}

// step4 is one outer iteration of 4-limb CIOS: t = (t + x·yi + u·m) / 2^64.
func step4(t0, t1, t2, t3, t4, x0, x1, x2, x3, yi, m0, m1, m2, m3, inv uint64) (uint64, uint64, uint64, uint64, uint64) {
	var c, t5 uint64
	c, t0 = mac(x0, yi, t0, 0)
	c, t1 = mac(x1, yi, t1, c)
	c, t2 = mac(x2, yi, t2, c)
	c, t3 = mac(x3, yi, t3, c)
	t4, t5 = bits.Add64(t4, c, 0)
	u := t0 * inv
	c, _ = mac(u, m0, t0, 0)
	c, t0 = mac(u, m1, t1, c)
	c, t1 = mac(u, m2, t2, c)
	c, t2 = mac(u, m3, t3, c)
	var cc uint64
	t3, cc = bits.Add64(t4, c, 0)
	return t0, t1, t2, t3, t5 + cc
}

func (f *field) mul8(z, x, y *fe) {
	x0, x1, x2, x3, x4, x5, x6, x7 := x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]
	m0, m1, m2, m3, m4, m5, m6, m7 := f.m[0], f.m[1], f.m[2], f.m[3], f.m[4], f.m[5], f.m[6], f.m[7]
	inv := f.mInv
	var t0, t1, t2, t3, t4, t5, t6, t7, t8 uint64
	for i := range 8 {
		yi := y[i]
		var c, t9, cc uint64
		c, t0 = mac(x0, yi, t0, 0)
		c, t1 = mac(x1, yi, t1, c)
		c, t2 = mac(x2, yi, t2, c)
		c, t3 = mac(x3, yi, t3, c)
		c, t4 = mac(x4, yi, t4, c)
		c, t5 = mac(x5, yi, t5, c)
		c, t6 = mac(x6, yi, t6, c)
		c, t7 = mac(x7, yi, t7, c)
		t8, t9 = bits.Add64(t8, c, 0)
		u := t0 * inv
		c, _ = mac(u, m0, t0, 0)
		c, t0 = mac(u, m1, t1, c)
		c, t1 = mac(u, m2, t2, c)
		c, t2 = mac(u, m3, t3, c)
		c, t3 = mac(u, m4, t4, c)
		c, t4 = mac(u, m5, t5, c)
		c, t5 = mac(u, m6, t6, c)
		c, t6 = mac(u, m7, t7, c)
		t7, cc = bits.Add64(t8, c, 0)
		t8 = t9 + cc
	}
	d0, b := bits.Sub64(t0, m0, 0)
	d1, b := bits.Sub64(t1, m1, b)
	d2, b := bits.Sub64(t2, m2, b)
	d3, b := bits.Sub64(t3, m3, b)
	d4, b := bits.Sub64(t4, m4, b)
	d5, b := bits.Sub64(t5, m5, b)
	d6, b := bits.Sub64(t6, m6, b)
	d7, b := bits.Sub64(t7, m7, b)
	keep := -((^t8 & 1) & b)
	z[0] = t0&keep | d0&^keep
	z[1] = t1&keep | d1&^keep
	z[2] = t2&keep | d2&^keep
	z[3] = t3&keep | d3&^keep
	z[4] = t4&keep | d4&^keep
	z[5] = t5&keep | d5&^keep
	z[6] = t6&keep | d6&^keep
	z[7] = t7&keep | d7&^keep
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
	if f.n == 4 {
		f.add4(z, x, y)
		return
	}
	var s [maxLimbs]uint64
	var c uint64
	for j := range 8 {
		s[j], c = bits.Add64(x[j], y[j], c)
	}
	f.reduceOnce(z, s[:8], c)
}

func (f *field) add4(z, x, y *fe) {
	s0, c := bits.Add64(x[0], y[0], 0)
	s1, c := bits.Add64(x[1], y[1], c)
	s2, c := bits.Add64(x[2], y[2], c)
	s3, c := bits.Add64(x[3], y[3], c)
	d0, b := bits.Sub64(s0, f.m[0], 0)
	d1, b := bits.Sub64(s1, f.m[1], b)
	d2, b := bits.Sub64(s2, f.m[2], b)
	d3, b := bits.Sub64(s3, f.m[3], b)
	keep := -((^c & 1) & b)
	z[0] = s0&keep | d0&^keep
	z[1] = s1&keep | d1&^keep
	z[2] = s2&keep | d2&^keep
	z[3] = s3&keep | d3&^keep
}

func (f *field) sub(z, x, y *fe) {
	if f.n == 4 {
		d0, b := bits.Sub64(x[0], y[0], 0)
		d1, b := bits.Sub64(x[1], y[1], b)
		d2, b := bits.Sub64(x[2], y[2], b)
		d3, b := bits.Sub64(x[3], y[3], b)
		mask := -b
		var c uint64
		z[0], c = bits.Add64(d0, f.m[0]&mask, 0)
		z[1], c = bits.Add64(d1, f.m[1]&mask, c)
		z[2], c = bits.Add64(d2, f.m[2]&mask, c)
		z[3], _ = bits.Add64(d3, f.m[3]&mask, c)
		return
	}
	var d fe
	var b uint64
	for j := range 8 {
		d[j], b = bits.Sub64(x[j], y[j], b)
	}
	mask := -b
	var c uint64
	for j := range 8 {
		d[j], c = bits.Add64(d[j], f.m[j]&mask, c)
	}
	*z = d
}

func (f *field) toMont(z, x *fe)   { f.mul(z, x, &f.r2) }
func (f *field) fromMont(z, x *fe) { var one fe; one[0] = 1; f.mul(z, x, &one) }

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
