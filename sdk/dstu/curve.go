package dstu

import (
	"encoding/asn1"
	"fmt"
	"math/big"
)

// Curve is a DSTU 4145-2002 curve y² + xy = x³ + a·x² + b over GF(2^m)
// (polynomial basis) with a base point P of prime order N. The standard's
// ten parameter sets are the package's Curve163 … Curve431 values, found
// by OID with [CurveByOID]; a Curve is read-only and safe for concurrent
// use.
type Curve struct {
	// Name is "DSTU4145-<m>" for the standard's curves.
	Name string
	// OID is the parameter set's identifier, nil for explicit parameters.
	OID asn1.ObjectIdentifier
	// M and Poly give the field GF(2^M) with the reduction polynomial
	// t^M + Σ t^k + 1, k in Poly (one exponent: trinomial; three:
	// pentanomial, in increasing order).
	M    int
	Poly []int
	// A is 0 or 1; B is the curve coefficient b.
	A int
	B *big.Int
	// Gx, Gy are the base point; N its order, H the cofactor.
	Gx, Gy *big.Int
	N      *big.Int
	H      int

	f      *field
	a, b   fe
	gx, gy fe
	nBits  int
	sf     *scalarField
}

// point is an affine point; inf marks the point at infinity.
type point struct {
	x, y fe
	inf  bool
}

func hexInt(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("dstu: bad curve constant " + s)
	}
	return v
}

// oidCurveBase is 1.2.804.2.1.1.1.1.3.1.1.2: the standard's parameter
// sets are its arcs 0…9.
var oidCurveBase = asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 1, 3, 1, 1, 2}

func curveOID(i int) asn1.ObjectIdentifier {
	return append(append(asn1.ObjectIdentifier{}, oidCurveBase...), i)
}

// The ten curves of DSTU 4145-2002 (its Table of recommended parameters),
// with the OIDs 1.2.804.2.1.1.1.1.3.1.1.2.0 … .9.
var (
	Curve163 = mustCurve(0, 163, []int{3, 6, 7}, 1, "5FF6108462A2DC8210AB403925E638A19C1455D21",
		"2E2F85F5DD74CE983A5C4237229DAF8A3F35823BE", "3826F008A8C51D7B95284D9D03FF0E00CE2CD723A",
		"400000000000000000002BEC12BE2262D39BCF14D", 2)
	Curve167 = mustCurve(1, 167, []int{6}, 1, "6EE3CEEB230811759F20518A0930F1A4315A827DAC",
		"7A1F6653786A68192803910A3D30B2A2018B21CD54", "5F49EB26781C0EC6B8909156D98ED435E45FD59918",
		"3FFFFFFFFFFFFFFFFFFFFFB12EBCC7D7F29FF7701F", 2)
	Curve173 = mustCurve(2, 173, []int{1, 2, 10}, 0, "108576C80499DB2FC16EDDF6853BBB278F6B6FB437D9",
		"4D41A619BCC6EADF0448FA22FAD567A9181D37389CA", "10B51CC12849B234C75E6DD2028BF7FF5C1CE0D991A1",
		"800000000000000000000189B4E67606E3825BB2831", 4)
	Curve179 = mustCurve(3, 179, []int{1, 2, 4}, 1, "4A6E0856526436F2F88DD07A341E32D04184572BEB710",
		"6BA06FE51464B2BD26DC57F48819BA9954667022C7D03", "25FBC363582DCEC065080CA8287AAFF09788A66DC3A9E",
		"3FFFFFFFFFFFFFFFFFFFFFFB981960435FE5AB64236EF", 2)
	Curve191 = mustCurve(4, 191, []int{9}, 1, "7BC86E2102902EC4D5890E8B6B4981FF27E0482750FEFC03",
		"714114B762F2FF4A7912A6D2AC58B9B5C2FCFE76DAEB7129", "29C41E568B77C617EFE5902F11DB96FA9613CD8D03DB08DA",
		"40000000000000000000000069A779CAC1DABC6788F7474F", 2)
	Curve233 = mustCurve(5, 233, []int{1, 4, 9}, 1, "06973B15095675534C7CF7E64A21BD54EF5DD3B8A0326AA936ECE454D2C",
		"3FCDA526B6CDF83BA1118DF35B3C31761D3545F32728D003EEB25EFE96", "9CA8B57A934C54DEEDA9E54A7BBAD95E3B2E91C54D32BE0B9DF96D8D35",
		"1000000000000000000000000000013E974E72F8A6922031D2603CFE0D7", 2)
	Curve257 = mustCurve(6, 257, []int{12}, 0, "1CEF494720115657E18F938D7A7942394FF9425C1458C57861F9EEA6ADBE3BE10",
		"02A29EF207D0E9B6C55CD260B306C7E007AC491CA1B10C62334A9E8DCD8D20FB7", "10686D41FF744D4449FCCF6D8EEA03102E6812C93A9D60B978B702CF156D814EF",
		"800000000000000000000000000000006759213AF182E987D3E17714907D470D", 4)
	Curve307 = mustCurve(7, 307, []int{2, 4, 8}, 1, "393C7F7D53666B5054B5E6C6D3DE94F4296C0C599E2E2E241050DF18B6090BDC90186904968BB",
		"216EE8B189D291A0224984C1E92F1D16BF75CCD825A087A239B276D3167743C52C02D6E7232AA", "5D9306BACD22B7FAEB09D2E049C6E2866C5D1677762A8F2F2DC9A11C7F7BE8340AB2237C7F2A0",
		"3FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC079C2F3825DA70D390FBBA588D4604022B7B7", 2)
	Curve367 = mustCurve(8, 367, []int{21}, 1, "43FC8AD242B0B7A6F3D1627AD5654447556B47BF6AA4A64B0C2AFE42CADAB8F93D92394C79A79755437B56995136",
		"324A6EDDD512F08C49A99AE0D3F961197A76413E7BE81A400CA681E09639B5FE12E59A109F78BF4A373541B3B9A1", "1AB597A5B4477F59E39539007C7F977D1A567B92B043A49C6B61984C3FE3481AAF454CD41BA1F051626442B3C10",
		"40000000000000000000000000000000000000000000009C300B75A3FA824F22428FD28CE8812245EF44049B2D49", 2)
	Curve431 = mustCurve(9, 431, []int{1, 3, 5}, 1, "03CE10490F6A708FC26DFE8C3D27C4F94E690134D5BFF988D8D28AAEAEDE975936C66BAC536B18AE2DC312CA493117DAA469C640CAF3",
		"1A62BA79D98133A16BBAE7ED9A8E03C32E0824D57AEF72F88986874E5AAE49C27BED49A2A95058068426C2171E99FD3B43C5947C857D", "70B5E1E14031C1F70BBEFE96BDDE66F451754B4CA5F48DA241F331AA396B8D1839A855C1769B1EA14BA53308B5E2723724E090E02DB9",
		"3FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFBA3175458009A8C0A724F02F81AA8A1FCBAF80D90C7A95110504CF", 2)
)

// Curves lists the standard's parameter sets in OID order (arc 0 … 9).
func Curves() []*Curve {
	return []*Curve{Curve163, Curve167, Curve173, Curve179, Curve191, Curve233, Curve257, Curve307, Curve367, Curve431}
}

// CurveByOID returns the standard curve with this OID.
func CurveByOID(oid asn1.ObjectIdentifier) (*Curve, error) {
	for _, c := range Curves() {
		if c.OID.Equal(oid) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: curve OID %v is not one of DSTU 4145's", ErrParameters, oid)
}

func mustCurve(arc, m int, poly []int, a int, b, gx, gy, n string, h int) *Curve {
	c, err := newCurve(m, poly, a, hexInt(b), hexInt(gx), hexInt(gy), hexInt(n), h)
	if err != nil {
		panic(err)
	}
	c.OID = curveOID(arc)
	c.Name = fmt.Sprintf("DSTU4145-%d", m)
	return c
}

// Field sizes and values a curve may have: the standard's range of m.
const (
	minM = 160
	maxM = 64 * maxWords
)

// newCurve builds a curve from its parameters and checks them: m and the
// polynomial in range, a ∈ {0,1}, b ≠ 0, the base point on the curve, N of
// at least 160 bits and N·P = O. It does not check that N is prime, which
// is why only the standard's curves are built.
func newCurve(m int, poly []int, a int, b, gx, gy, n *big.Int, h int) (*Curve, error) {
	if m < minM || m > maxM-1 {
		return nil, fmt.Errorf("%w: field size m = %d outside %d…%d", ErrParameters, m, minM, maxM-1)
	}
	if len(poly) != 1 && len(poly) != 3 {
		return nil, fmt.Errorf("%w: reduction polynomial with %d middle terms, want 1 or 3", ErrParameters, len(poly))
	}
	prev := 0
	for _, k := range poly {
		// Reduction folds a 64-bit word at most 64 bits below m.
		if k <= prev || k >= m-64 {
			return nil, fmt.Errorf("%w: reduction polynomial exponents %v for m = %d", ErrParameters, poly, m)
		}
		prev = k
	}
	if a != 0 && a != 1 {
		return nil, fmt.Errorf("%w: coefficient a = %d, want 0 or 1", ErrParameters, a)
	}
	if n.Sign() <= 0 || n.BitLen() < 160 || n.BitLen() > m+1 {
		return nil, fmt.Errorf("%w: base point order of %d bits for m = %d", ErrParameters, n.BitLen(), m)
	}
	c := &Curve{M: m, Poly: append([]int(nil), poly...), A: a, B: b, Gx: gx, Gy: gy, N: n, H: h,
		f: newField(m, poly), nBits: n.BitLen(), sf: newScalarField(n)}
	c.Name = fmt.Sprintf("DSTU4145-%d-explicit", m)
	var ok1, ok2, ok3 bool
	c.b, ok1 = c.f.fromInt(b)
	c.gx, ok2 = c.f.fromInt(gx)
	c.gy, ok3 = c.f.fromInt(gy)
	if !ok1 || !ok2 || !ok3 || isZero(&c.b) {
		return nil, fmt.Errorf("%w: b or base point outside GF(2^%d), or b = 0", ErrParameters, m)
	}
	c.a[0] = uint64(a)
	g := point{x: c.gx, y: c.gy}
	if isZero(&c.gx) || !c.onCurve(&g) {
		return nil, fmt.Errorf("%w: base point is not on the curve", ErrParameters)
	}
	if q := c.scalarMult(&g, n.Bytes()); !q.inf {
		return nil, fmt.Errorf("%w: N·P is not the point at infinity", ErrParameters)
	}
	return c, nil
}

func (f *field) fromInt(v *big.Int) (fe, bool) {
	if v.Sign() < 0 {
		return fe{}, false
	}
	return f.setBytes(v.Bytes())
}

// onCurve checks y² + xy = x³ + a·x² + b.
func (c *Curve) onCurve(p *point) bool {
	f := c.f
	if !f.fits(&p.x) || !f.fits(&p.y) {
		return false
	}
	y2 := f.sqr(&p.y)
	xy := f.mul(&p.x, &p.y)
	l := add(&y2, &xy)
	x2 := f.sqr(&p.x)
	x3 := f.mul(&x2, &p.x)
	r := add(&x3, &c.b)
	if c.A == 1 {
		r = add(&r, &x2)
	}
	return equal(&l, &r)
}

// scalarMult returns k·p for a big-endian scalar k of at most nBits+1
// bits and a point p with x ≠ 0, by the López–Dahab Montgomery ladder over
// a fixed number of bits: the sequence of field operations is the same
// for every k.
func (c *Curve) scalarMult(p *point, k []byte) point {
	f := c.f
	nb := c.nBits + 1
	var kw [maxWords + 1]uint64
	for i, b := range k {
		pos := len(k) - 1 - i
		if pos/8 < len(kw) {
			kw[pos/8] |= uint64(b) << (8 * (pos % 8))
		}
	}
	var x1, z1, x2, z2 fe
	x1[0] = 1 // R0 = O = (1 : 0)
	x2, z2[0] = p.x, 1
	for i := nb - 1; i >= 0; i-- {
		bit := kw[i/64] >> (i % 64) & 1
		cswap(bit, &x1, &x2)
		cswap(bit, &z1, &z2)
		// R1 = R0 + R1 (difference P), R0 = 2·R0.
		t1 := f.mul(&x1, &z2)
		t2 := f.mul(&x2, &z1)
		s := add(&t1, &t2)
		z2 = f.sqr(&s)
		t1 = f.mul(&t1, &t2)
		x2 = f.mul(&p.x, &z2)
		x2 = add(&x2, &t1)
		xx := f.sqr(&x1)
		zz := f.sqr(&z1)
		z1 = f.mul(&xx, &zz)
		xx = f.sqr(&xx)
		zz = f.sqr(&zz)
		zz = f.mul(&zz, &c.b)
		x1 = add(&xx, &zz)
		cswap(bit, &x1, &x2)
		cswap(bit, &z1, &z2)
	}
	return c.recoverY(p, &x1, &z1, &x2, &z2)
}

// recoverY returns the affine k·p from the ladder's (X1:Z1) = k·p and
// (X2:Z2) = (k+1)·p (López–Dahab).
func (c *Curve) recoverY(p *point, x1, z1, x2, z2 *fe) point {
	f := c.f
	if isZero(z1) {
		return point{inf: true}
	}
	if isZero(z2) { // k·p = −p
		return point{x: p.x, y: add(&p.x, &p.y)}
	}
	z12 := f.mul(z1, z2)
	d := f.mul(&p.x, &z12)
	inv := f.inv(&d)
	// x3 = X1/Z1 = X1·x·Z2 / (x·Z1·Z2)
	t := f.mul(x1, &p.x)
	t = f.mul(&t, z2)
	x3 := f.mul(&t, &inv)
	// u = (X1 + x·Z1)(X2 + x·Z2) + (x² + y)·Z1·Z2
	a1 := f.mul(&p.x, z1)
	a1 = add(&a1, x1)
	a2 := f.mul(&p.x, z2)
	a2 = add(&a2, x2)
	u := f.mul(&a1, &a2)
	xx := f.sqr(&p.x)
	xx = add(&xx, &p.y)
	xx = f.mul(&xx, &z12)
	u = add(&u, &xx)
	// y3 = (x + x3)·u/(x·Z1·Z2) + y
	v := add(&p.x, &x3)
	v = f.mul(&v, &u)
	v = f.mul(&v, &inv)
	return point{x: x3, y: add(&v, &p.y)}
}

// addPoints returns p + q in affine coordinates. It branches on the
// points and is used only on public values (verification).
func (c *Curve) addPoints(p, q *point) point {
	f := c.f
	switch {
	case p.inf:
		return *q
	case q.inf:
		return *p
	}
	var lambda fe
	if equal(&p.x, &q.x) {
		s := add(&p.y, &q.y)
		if !isZero(&s) || isZero(&p.x) { // q = −p
			return point{inf: true}
		}
		// doubling: λ = x + y/x
		ix := f.inv(&p.x)
		lambda = f.mul(&p.y, &ix)
		lambda = add(&lambda, &p.x)
	} else {
		dy := add(&p.y, &q.y)
		dx := add(&p.x, &q.x)
		idx := f.inv(&dx)
		lambda = f.mul(&dy, &idx)
	}
	x3 := f.sqr(&lambda)
	x3 = add(&x3, &lambda)
	x3 = add(&x3, &p.x)
	x3 = add(&x3, &q.x)
	x3 = add(&x3, &c.a)
	y3 := add(&p.x, &x3)
	y3 = f.mul(&y3, &lambda)
	y3 = add(&y3, &x3)
	y3 = add(&y3, &p.y)
	return point{x: x3, y: y3}
}

// compress returns the standard's compressed form of p ≠ O: x with its
// lowest bit replaced by Tr(y/x) (x = 0 gives 0).
func (c *Curve) compress(p *point) fe {
	f := c.f
	if isZero(&p.x) {
		return fe{}
	}
	ix := f.inv(&p.x)
	t := f.mul(&p.y, &ix)
	x := p.x
	x[0] = x[0]&^1 | f.trace(&t)
	return x
}

// decompress recovers a point from its compressed form (DSTU 4145-2002
// §6.9): the lowest bit k of x̃ is Tr(y/x); x is x̃ with that bit set so
// that Tr(x) = a; y = z·x for the solution z of z² + z = x + a + b/x² with
// Tr(z) = k.
func (c *Curve) decompress(xc *fe) (point, error) {
	f := c.f
	if !f.fits(xc) {
		return point{}, fmt.Errorf("%w: compressed key has bits at or above m = %d", ErrPublicKey, c.M)
	}
	if isZero(xc) {
		// (0, √b): the point of order 2, never a valid key.
		return point{}, fmt.Errorf("%w: compressed key is zero", ErrPublicKey)
	}
	k := xc[0] & 1
	x := *xc
	x[0] &^= 1
	if f.trace(&x) != uint64(c.A) {
		x[0] |= 1
	}
	if isZero(&x) {
		return point{}, fmt.Errorf("%w: compressed key decodes to x = 0", ErrPublicKey)
	}
	x2 := f.sqr(&x)
	ix2 := f.inv(&x2)
	w := f.mul(&c.b, &ix2)
	w = add(&w, &x)
	w = add(&w, &c.a)
	z := f.halfTrace(&w)
	chk := f.sqr(&z)
	chk = add(&chk, &z)
	if !equal(&chk, &w) {
		return point{}, fmt.Errorf("%w: compressed key is not the x of a curve point", ErrPublicKey)
	}
	if f.trace(&z) != k {
		z[0] ^= 1
	}
	return point{x: x, y: f.mul(&z, &x)}, nil
}
