package dstu

// Arithmetic in GF(2^m), polynomial basis, for the DSTU 4145-2002 fields
// (163 ≤ m ≤ 431). An element is m bits in little-endian 64-bit words: bit i
// of the element is the coefficient of t^i. Every operation here runs in
// time that depends only on the field (m and its reduction polynomial),
// never on the values: no branch and no table index depends on an
// element's bits. The carry-less products use integer multiplications on
// bits spread four apart, so no carry reaches a bit that is kept.

// maxWords is the words of the largest field, m = 431.
const maxWords = 7

// fe is a field element; words past the field's width are zero.
type fe [maxWords]uint64

// field is GF(2^m) with the reduction polynomial t^m + Σ t^k + 1, k in ks.
type field struct {
	m  int
	ks []int // one (trinomial) or three (pentanomial) middle exponents, each < m-64
	n  int   // words used: ceil(m/64)
}

func newField(m int, ks []int) *field {
	return &field{m: m, ks: ks, n: (m + 63) / 64}
}

// byteLen is the size of an element's byte encoding, ceil(m/8).
func (f *field) byteLen() int { return (f.m + 7) / 8 }

// clmul32 is the carry-less product of two 32-bit polynomials.
func clmul32(x, y uint32) uint64 {
	const m0, m1, m2, m3 = 0x1111111111111111, 0x2222222222222222, 0x4444444444444444, 0x8888888888888888
	a, b := uint64(x), uint64(y)
	a0, a1, a2, a3 := a&m0, a&m1, a&m2, a&m3
	b0, b1, b2, b3 := b&m0, b&m1, b&m2, b&m3
	z0 := a0*b0 ^ a1*b3 ^ a2*b2 ^ a3*b1
	z1 := a0*b1 ^ a1*b0 ^ a2*b3 ^ a3*b2
	z2 := a0*b2 ^ a1*b1 ^ a2*b0 ^ a3*b3
	z3 := a0*b3 ^ a1*b2 ^ a2*b1 ^ a3*b0
	return z0&m0 | z1&m1 | z2&m2 | z3&m3
}

// clmul64 is the carry-less product of two 64-bit polynomials (Karatsuba
// over 32-bit halves).
func clmul64(x, y uint64) (hi, lo uint64) {
	xl, xh, yl, yh := uint32(x), uint32(x>>32), uint32(y), uint32(y>>32)
	a := clmul32(xl, yl)
	b := clmul32(xh, yh)
	c := clmul32(xl^xh, yl^yh) ^ a ^ b
	return b ^ c>>32, a ^ c<<32
}

// spread32 puts bit i of x at bit 2i (squaring of a 32-bit polynomial).
func spread32(x uint32) uint64 {
	v := uint64(x)
	v = (v | v<<16) & 0x0000FFFF0000FFFF
	v = (v | v<<8) & 0x00FF00FF00FF00FF
	v = (v | v<<4) & 0x0F0F0F0F0F0F0F0F
	v = (v | v<<2) & 0x3333333333333333
	v = (v | v<<1) & 0x5555555555555555
	return v
}

// xorAt XORs w into c starting at bit pos.
func xorAt(c *[2 * maxWords]uint64, w uint64, pos int) {
	i, s := pos/64, uint(pos%64)
	c[i] ^= w << s
	if s != 0 {
		c[i+1] ^= w >> (64 - s)
	}
}

// reduce returns c mod the field polynomial. c has at most 2m-1 bits.
func (f *field) reduce(c *[2 * maxWords]uint64) fe {
	for i := 2*f.n - 1; i >= f.n; i-- {
		w := c[i]
		c[i] = 0
		base := 64*i - f.m
		xorAt(c, w, base)
		for _, k := range f.ks {
			xorAt(c, w, base+k)
		}
	}
	top := uint(f.m - 64*(f.n-1)) // 1…63 for every DSTU field
	w := c[f.n-1] >> top
	c[f.n-1] &= 1<<top - 1
	xorAt(c, w, 0)
	for _, k := range f.ks {
		xorAt(c, w, k)
	}
	var z fe
	copy(z[:f.n], c[:f.n])
	return z
}

func (f *field) mul(x, y *fe) fe {
	var c [2 * maxWords]uint64
	for i := 0; i < f.n; i++ {
		for j := 0; j < f.n; j++ {
			hi, lo := clmul64(x[i], y[j])
			c[i+j] ^= lo
			c[i+j+1] ^= hi
		}
	}
	return f.reduce(&c)
}

func (f *field) sqr(x *fe) fe {
	var c [2 * maxWords]uint64
	for i := 0; i < f.n; i++ {
		c[2*i] = spread32(uint32(x[i]))
		c[2*i+1] = spread32(uint32(x[i] >> 32))
	}
	return f.reduce(&c)
}

// sqrN squares x n times.
func (f *field) sqrN(x *fe, n int) fe {
	z := *x
	for range n {
		z = f.sqr(&z)
	}
	return z
}

func add(x, y *fe) fe {
	var z fe
	for i := range z {
		z[i] = x[i] ^ y[i]
	}
	return z
}

// inv returns x^(2^m-2), which is 1/x for x ≠ 0 and 0 for x = 0
// (Itoh–Tsujii: b_k = x^(2^k-1), b_2k = b_k^(2^k)·b_k, b_k+1 = b_k²·x).
func (f *field) inv(x *fe) fe {
	e := f.m - 1
	b, k := *x, 1
	for bit := bitLen(e) - 2; bit >= 0; bit-- {
		t := f.sqrN(&b, k)
		b = f.mul(&t, &b)
		k *= 2
		if e>>bit&1 == 1 {
			t = f.sqr(&b)
			b = f.mul(&t, x)
			k++
		}
	}
	return f.sqr(&b)
}

func bitLen(x int) int {
	n := 0
	for ; x > 0; x >>= 1 {
		n++
	}
	return n
}

// trace returns Tr(x) = Σ x^(2^i), i < m, which is 0 or 1.
func (f *field) trace(x *fe) uint64 {
	t := *x
	for i := 1; i < f.m; i++ {
		t = f.sqr(&t)
		t = add(&t, x)
	}
	return t[0] & 1
}

// halfTrace returns Σ x^(2^(2i)), i ≤ (m-1)/2; for odd m and Tr(x) = 0 it
// solves z² + z = x.
func (f *field) halfTrace(x *fe) fe {
	z := *x
	for range (f.m - 1) / 2 {
		z = f.sqrN(&z, 2)
		z = add(&z, x)
	}
	return z
}

// isZero reports whether x is zero (constant time).
func isZero(x *fe) bool {
	var acc uint64
	for _, w := range x {
		acc |= w
	}
	return acc == 0
}

func equal(x, y *fe) bool {
	d := add(x, y)
	return isZero(&d)
}

// cswap swaps x and y when bit is 1, in constant time.
func cswap(bit uint64, x, y *fe) {
	mask := -bit
	for i := range x {
		t := (x[i] ^ y[i]) & mask
		x[i] ^= t
		y[i] ^= t
	}
}

// setBytes reads a big-endian encoding; it reports false when the value
// has bits at or above m.
func (f *field) setBytes(b []byte) (fe, bool) {
	var z fe
	if len(b) > 8*maxWords {
		for _, c := range b[:len(b)-8*maxWords] {
			if c != 0 {
				return z, false
			}
		}
		b = b[len(b)-8*maxWords:]
	}
	for i, c := range b {
		pos := len(b) - 1 - i
		z[pos/8] |= uint64(c) << (8 * (pos % 8))
	}
	return z, f.fits(&z)
}

// fits reports whether x < 2^m.
func (f *field) fits(x *fe) bool {
	top := uint(f.m - 64*(f.n-1))
	if x[f.n-1]>>top != 0 {
		return false
	}
	for i := f.n; i < maxWords; i++ {
		if x[i] != 0 {
			return false
		}
	}
	return true
}

// bytes writes x big-endian in byteLen bytes.
func (f *field) bytes(x *fe) []byte {
	out := make([]byte, f.byteLen())
	for i := range out {
		pos := len(out) - 1 - i
		out[i] = byte(x[pos/8] >> (8 * (pos % 8)))
	}
	return out
}
