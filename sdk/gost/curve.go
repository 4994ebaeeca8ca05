package gost

import (
	"fmt"
	"math/big"
)

// Curve is a GOST R 34.10-2001 curve y² = x³ + ax + b over GF(P) with a
// base point (X, Y) of prime order Q. The curves here have cofactor 1,
// so every point on the curve other than the point at infinity has order
// Q. The package's curves are shared: never modify their fields.
type Curve struct {
	Name       string
	OID        string // RFC 4357 parameter set OID ("" for the RFC 5832 test curve)
	P, A, B, Q *big.Int
	X, Y       *big.Int
}

// The curves of RFC 4357 §11.4 (CryptoPro A, B, C; O'zDSt 1092:2009 uses
// the same three as 1.2.860.3.15.1.1.2.1.1/.2/.3) and the example curve
// of RFC 5832 §7.1.
var (
	CurveCryptoProA = &Curve{
		Name: "id-GostR3410-2001-CryptoPro-A-ParamSet", OID: "1.2.643.2.2.35.1",
		P: mustHex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFD97"),
		A: mustHex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFD94"),
		B: mustHex("A6"),
		Q: mustHex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF6C611070995AD10045841B09B761B893"),
		X: mustHex("1"),
		Y: mustHex("8D91E471E0989CDA27DF505A453F2B7635294F2DDF23E3B122ACC99C9E9F1E14"),
	}
	CurveCryptoProB = &Curve{
		Name: "id-GostR3410-2001-CryptoPro-B-ParamSet", OID: "1.2.643.2.2.35.2",
		P: mustHex("8000000000000000000000000000000000000000000000000000000000000C99"),
		A: mustHex("8000000000000000000000000000000000000000000000000000000000000C96"),
		B: mustHex("3E1AF419A269A5F866A7D3C25C3DF80AE979259373FF2B182F49D4CE7E1BBC8B"),
		Q: mustHex("800000000000000000000000000000015F700CFFF1A624E5E497161BCC8A198F"),
		X: mustHex("1"),
		Y: mustHex("3FA8124359F96680B83D1C3EB2C070E5C545C9858D03ECFB744BF8D717717EFC"),
	}
	CurveCryptoProC = &Curve{
		Name: "id-GostR3410-2001-CryptoPro-C-ParamSet", OID: "1.2.643.2.2.35.3",
		P: mustHex("9B9F605F5A858107AB1EC85E6B41C8AACF846E86789051D37998F7B9022D759B"),
		A: mustHex("9B9F605F5A858107AB1EC85E6B41C8AACF846E86789051D37998F7B9022D7598"),
		B: mustHex("805A"),
		Q: mustHex("9B9F605F5A858107AB1EC85E6B41C8AA582CA3511EDDFB74F02F3A6598980BB9"),
		X: mustHex("0"),
		Y: mustHex("41ECE55743711A8C3CBF3783CD08C0EE4D4DC440D4641A8F366E550DFDB3BB67"),
	}
	// CurveRFC5832Test is the example curve of RFC 5832 §7.1 (the test
	// parameters of the standard). For tests only.
	CurveRFC5832Test = &Curve{
		Name: "GOST R 34.10-2001 test curve (RFC 5832 §7.1)",
		P:    mustHex("8000000000000000000000000000000000000000000000000000000000000431"),
		A:    mustHex("7"),
		B:    mustHex("5FBFF498AA938CE739B8E022FBAFEF40563F6E6A3472FC2A514C0CE9DAE23B7E"),
		Q:    mustHex("8000000000000000000000000000000150FE8A1892976154C59CFC193ACCF5B3"),
		X:    mustHex("2"),
		Y:    mustHex("08E2A8A0E65147D4BD6316030E16D19C85C97F0A9CA267122B96ABBCEA7E8FC8"),
	}
)

func mustHex(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("gost: bad constant " + s)
	}
	return n
}

// coordSize is the byte length of a coordinate, a scalar and one half
// of a signature on the 256-bit curves.
const coordSize = 32

// check rejects a curve this package cannot work with (wrong size). It
// does not prove the parameters; the tests do that for the package's
// curves.
func (c *Curve) check() error {
	if c == nil || c.P == nil || c.A == nil || c.B == nil || c.Q == nil || c.X == nil || c.Y == nil {
		return fmt.Errorf("gost: incomplete curve")
	}
	if c.P.BitLen() > 8*coordSize || c.Q.BitLen() > 8*coordSize || c.P.Sign() <= 0 || c.Q.Sign() <= 0 {
		return fmt.Errorf("gost: curve %q is not a 256-bit curve", c.Name)
	}
	return nil
}

// IsOnCurve reports whether (x, y) is an affine point of c with both
// coordinates in [0, P).
func (c *Curve) IsOnCurve(x, y *big.Int) bool {
	if x.Sign() < 0 || x.Cmp(c.P) >= 0 || y.Sign() < 0 || y.Cmp(c.P) >= 0 {
		return false
	}
	// y² − (x³ + ax + b) ≡ 0 (mod p)
	lhs := new(big.Int).Mul(y, y)
	rhs := new(big.Int).Mul(x, x)
	rhs.Add(rhs, c.A).Mul(rhs, x).Add(rhs, c.B)
	lhs.Sub(lhs, rhs).Mod(lhs, c.P)
	return lhs.Sign() == 0
}

// jacobian is a point (X/Z², Y/Z³) in Jacobian coordinates; Z = 0 is the
// point at infinity.
type jacobian struct{ x, y, z *big.Int }

func (c *Curve) infinity() jacobian {
	return jacobian{new(big.Int), new(big.Int).SetInt64(1), new(big.Int)}
}

func (c *Curve) fromAffine(x, y *big.Int) jacobian {
	return jacobian{new(big.Int).Set(x), new(big.Int).Set(y), big.NewInt(1)}
}

// affine converts j to affine coordinates; ok is false for infinity.
func (c *Curve) affine(j jacobian) (x, y *big.Int, ok bool) {
	if j.z.Sign() == 0 {
		return nil, nil, false
	}
	zi := new(big.Int).ModInverse(j.z, c.P)
	zi2 := new(big.Int).Mul(zi, zi)
	x = new(big.Int).Mul(j.x, zi2)
	x.Mod(x, c.P)
	y = zi2.Mul(zi2, zi).Mul(zi2, j.y)
	y.Mod(y, c.P)
	return x, y, true
}

// double returns 2j (formulas dbl-2007-bl for any a).
func (c *Curve) double(j jacobian) jacobian {
	p := c.P
	if j.z.Sign() == 0 || j.y.Sign() == 0 {
		return c.infinity()
	}
	xx := new(big.Int).Mul(j.x, j.x)
	xx.Mod(xx, p)
	yy := new(big.Int).Mul(j.y, j.y)
	yy.Mod(yy, p)
	yyyy := new(big.Int).Mul(yy, yy)
	yyyy.Mod(yyyy, p)
	zz := new(big.Int).Mul(j.z, j.z)
	zz.Mod(zz, p)
	// s = 4·x·yy
	s := new(big.Int).Mul(j.x, yy)
	s.Lsh(s, 2).Mod(s, p)
	// m = 3·xx + a·zz²
	m := new(big.Int).Mul(zz, zz)
	m.Mul(m, c.A)
	m.Add(m, xx).Add(m, xx).Add(m, xx).Mod(m, p)
	// x3 = m² − 2s
	x3 := new(big.Int).Mul(m, m)
	x3.Sub(x3, s).Sub(x3, s).Mod(x3, p)
	// y3 = m·(s − x3) − 8·yyyy
	y3 := new(big.Int).Sub(s, x3)
	y3.Mul(y3, m)
	yyyy.Lsh(yyyy, 3)
	y3.Sub(y3, yyyy).Mod(y3, p)
	// z3 = 2·y·z
	z3 := new(big.Int).Mul(j.y, j.z)
	z3.Lsh(z3, 1).Mod(z3, p)
	return jacobian{x3, y3, z3}
}

// add returns j + k (formulas add-1998-cmo-2).
func (c *Curve) add(j, k jacobian) jacobian {
	p := c.P
	if j.z.Sign() == 0 {
		return k
	}
	if k.z.Sign() == 0 {
		return j
	}
	z1z1 := new(big.Int).Mul(j.z, j.z)
	z1z1.Mod(z1z1, p)
	z2z2 := new(big.Int).Mul(k.z, k.z)
	z2z2.Mod(z2z2, p)
	u1 := new(big.Int).Mul(j.x, z2z2)
	u1.Mod(u1, p)
	u2 := new(big.Int).Mul(k.x, z1z1)
	u2.Mod(u2, p)
	s1 := new(big.Int).Mul(j.y, k.z)
	s1.Mul(s1, z2z2).Mod(s1, p)
	s2 := new(big.Int).Mul(k.y, j.z)
	s2.Mul(s2, z1z1).Mod(s2, p)
	h := new(big.Int).Sub(u2, u1)
	h.Mod(h, p)
	r := new(big.Int).Sub(s2, s1)
	r.Mod(r, p)
	if h.Sign() == 0 {
		if r.Sign() == 0 {
			return c.double(j)
		}
		return c.infinity()
	}
	hh := new(big.Int).Mul(h, h)
	hh.Mod(hh, p)
	hhh := new(big.Int).Mul(h, hh)
	hhh.Mod(hhh, p)
	v := new(big.Int).Mul(u1, hh)
	v.Mod(v, p)
	// x3 = r² − hhh − 2v
	x3 := new(big.Int).Mul(r, r)
	x3.Sub(x3, hhh).Sub(x3, v).Sub(x3, v).Mod(x3, p)
	// y3 = r·(v − x3) − s1·hhh
	y3 := new(big.Int).Sub(v, x3)
	y3.Mul(y3, r)
	s1.Mul(s1, hhh)
	y3.Sub(y3, s1).Mod(y3, p)
	// z3 = z1·z2·h
	z3 := new(big.Int).Mul(j.z, k.z)
	z3.Mul(z3, h).Mod(z3, p)
	return jacobian{x3, y3, z3}
}

// combinedMult returns u1·(x1, y1) + u2·(x2, y2) by one double-and-add
// pass over both scalars (Shamir's trick). It branches on the scalar
// bits: not constant time.
func (c *Curve) combinedMult(x1, y1, u1, x2, y2, u2 *big.Int) jacobian {
	p1, p2 := c.fromAffine(x1, y1), c.fromAffine(x2, y2)
	p12 := c.add(p1, p2)
	acc := c.infinity()
	n := max(u1.BitLen(), u2.BitLen())
	for i := n - 1; i >= 0; i-- {
		acc = c.double(acc)
		switch u1.Bit(i)<<1 | u2.Bit(i) {
		case 1:
			acc = c.add(acc, p2)
		case 2:
			acc = c.add(acc, p1)
		case 3:
			acc = c.add(acc, p12)
		}
	}
	return acc
}

// scalarMult returns u·(x, y). Not constant time.
func (c *Curve) scalarMult(x, y, u *big.Int) jacobian {
	return c.combinedMult(x, y, u, x, y, new(big.Int))
}
