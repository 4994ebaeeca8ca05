package gost

import (
	cryptorand "crypto/rand"
	"encoding/asn1"
	"fmt"
	"math/big"
	"sync"
)

// Curve is a GOST R 34.10 curve y² = x³ + ax + b over GF(P) with a base
// point (X, Y) of prime order Q and cofactor Cofactor (0 means 1). Both
// GOST R 34.10-2001 and -2012 use this form; the twisted Edwards
// parameter sets of RFC 7836 are given here in their Weierstrass form (as
// the RFC also lists them), which signs and verifies identically. The
// package's curves are shared: never modify their fields.
type Curve struct {
	Name       string
	OID        string // the parameter set's main OID ("" for the RFC 5832 test curve)
	P, A, B, Q *big.Int
	X, Y       *big.Int
	Cofactor   int64

	once  sync.Once
	arith *curveArith
	err   error
}

// The curves of RFC 4357 §11.4 (CryptoPro A, B, C; O'zDSt 1092:2009 uses
// the same three as 1.2.860.3.15.1.1.2.1.1/.2/.3; GOST R 34.10-2012 as
// TC26 256-bit sets B, C, D), the TC26 sets of RFC 7836 and the example
// curves of RFC 5832 §7.1 and RFC 7091 §A.2.
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
	// CurveTC26_256A is id-tc26-gost-3410-2012-256-paramSetA (RFC 7836
	// §A.2), a twisted Edwards curve (cofactor 4) in Weierstrass form.
	CurveTC26_256A = &Curve{
		Name: "id-tc26-gost-3410-2012-256-paramSetA", OID: "1.2.643.7.1.2.1.1.1",
		P:        mustHex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFD97"),
		A:        mustHex("C2173F1513981673AF4892C23035A27CE25E2013BF95AA33B22C656F277E7335"),
		B:        mustHex("295F9BAE7428ED9CCC20E7C359A9D41A22FCCD9108E17BF7BA9337A6F8AE9513"),
		Q:        mustHex("400000000000000000000000000000000FD8CDDFC87B6635C115AF556C360C67"),
		X:        mustHex("91E38443A5E82C0D880923425712B2BB658B9196932E02C78B2582FE742DAA28"),
		Y:        mustHex("32879423AB1A0375895786C4BB46E9565FDE0B5344766740AF268ADB32322E5C"),
		Cofactor: 4,
	}
	// CurveTC26_512A is id-tc26-gost-3410-12-512-paramSetA (RFC 7836 §A.1).
	CurveTC26_512A = &Curve{
		Name: "id-tc26-gost-3410-12-512-paramSetA", OID: "1.2.643.7.1.2.1.2.1",
		P: mustHex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF" +
			"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFDC7"),
		A: mustHex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF" +
			"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFDC4"),
		B: mustHex("E8C2505DEDFC86DDC1BD0B2B6667F1DA34B82574761CB0E879BD081CFD0B6265" +
			"EE3CB090F30D27614CB4574010DA90DD862EF9D4EBEE4761503190785A71C760"),
		Q: mustHex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF" +
			"27E69532F48D89116FF22B8D4E0560609B4B38ABFAD2B85DCACDB1411F10B275"),
		X: mustHex("3"),
		Y: mustHex("7503CFE87A836AE3A61B8816E25450E6CE5E1C93ACF1ABC1778064FDCBEFA921" +
			"DF1626BE4FD036E93D75E6A50E3A41E98028FE5FC235F5B889A589CB5215F2A4"),
	}
	// CurveTC26_512B is id-tc26-gost-3410-12-512-paramSetB (RFC 7836 §A.1).
	CurveTC26_512B = &Curve{
		Name: "id-tc26-gost-3410-12-512-paramSetB", OID: "1.2.643.7.1.2.1.2.2",
		P: mustHex("8000000000000000000000000000000000000000000000000000000000000000" +
			"000000000000000000000000000000000000000000000000000000000000006F"),
		A: mustHex("8000000000000000000000000000000000000000000000000000000000000000" +
			"000000000000000000000000000000000000000000000000000000000000006C"),
		B: mustHex("687D1B459DC841457E3E06CF6F5E2517B97C7D614AF138BCBF85DC806C4B289F" +
			"3E965D2DB1416D217F8B276FAD1AB69C50F78BEE1FA3106EFB8CCBC7C5140116"),
		Q: mustHex("8000000000000000000000000000000000000000000000000000000000000001" +
			"49A1EC142565A545ACFDB77BD9D40CFA8B996712101BEA0EC6346C54374F25BD"),
		X: mustHex("2"),
		Y: mustHex("1A8F7EDA389B094C2C071E3647A8940F3C123B697578C213BE6DD9E6C8EC7335" +
			"DCB228FD1EDF4A39152CBCAAF8C0398828041055F94CEEEC7E21340780FE41BD"),
	}
	// CurveTC26_512C is id-tc26-gost-3410-2012-512-paramSetC (RFC 7836
	// §A.2), a twisted Edwards curve (cofactor 4) in Weierstrass form.
	CurveTC26_512C = &Curve{
		Name: "id-tc26-gost-3410-2012-512-paramSetC", OID: "1.2.643.7.1.2.1.2.3",
		P: mustHex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF" +
			"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFDC7"),
		A: mustHex("DC9203E514A721875485A529D2C722FB187BC8980EB866644DE41C68E1430645" +
			"46E861C0E2C9EDD92ADE71F46FCF50FF2AD97F951FDA9F2A2EB6546F39689BD3"),
		B: mustHex("B4C4EE28CEBC6C2C8AC12952CF37F16AC7EFB6A9F69F4B57FFDA2E4F0DE5ADE0" +
			"38CBC2FFF719D2C18DE0284B8BFEF3B52B8CC7A5F5BF0A3C8D2319A5312557E1"),
		Q: mustHex("3FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF" +
			"C98CDBA46506AB004C33A9FF5147502CC8EDA9E7A769A12694623CEF47F023ED"),
		X: mustHex("E2E31EDFC23DE7BDEBE241CE593EF5DE2295B7A9CBAEF021D385F7074CEA043A" +
			"A27272A7AE602BF2A7B9033DB9ED3610C6FB85487EAE97AAC5BC7928C1950148"),
		Y: mustHex("F5CE40D95B5EB899ABBCCFF5911CB8577939804D6527378B8C108C3D2090FF9B" +
			"E18E2D33E3021ED2EF32D85822423B6304F726AA854BAE07D0396E9A9ADDC40F"),
		Cofactor: 4,
	}
	// CurveRFC5832Test is the example curve of RFC 5832 §7.1 (the test
	// parameters of the standard, also GOST R 34.10-2012's first
	// example). For tests only.
	CurveRFC5832Test = &Curve{
		Name: "GOST R 34.10-2001 test curve (RFC 5832 §7.1)", OID: "1.2.643.2.2.35.0",
		P: mustHex("8000000000000000000000000000000000000000000000000000000000000431"),
		A: mustHex("7"),
		B: mustHex("5FBFF498AA938CE739B8E022FBAFEF40563F6E6A3472FC2A514C0CE9DAE23B7E"),
		Q: mustHex("8000000000000000000000000000000150FE8A1892976154C59CFC193ACCF5B3"),
		X: mustHex("2"),
		Y: mustHex("08E2A8A0E65147D4BD6316030E16D19C85C97F0A9CA267122B96ABBCEA7E8FC8"),
	}
	// CurveRFC7091Test512 is the 512-bit example curve of GOST R
	// 34.10-2012 (RFC 7091 §A.2, id-tc26-gost-3410-12-512-paramSetTest).
	// For tests only.
	CurveRFC7091Test512 = &Curve{
		Name: "id-tc26-gost-3410-12-512-paramSetTest", OID: "1.2.643.7.1.2.1.2.0",
		P: mustHex("4531ACD1FE0023C7550D267B6B2FEE80922B14B2FFB90F04D4EB7C09B5D2D15D" +
			"F1D852741AF4704A0458047E80E4546D35B8336FAC224DD81664BBF528BE6373"),
		A: mustHex("7"),
		B: mustHex("1CFF0806A31116DA29D8CFA54E57EB748BC5F377E49400FDD788B649ECA1AC43" +
			"61834013B2AD7322480A89CA58E0CF74BC9E540C2ADD6897FAD0A3084F302ADC"),
		Q: mustHex("4531ACD1FE0023C7550D267B6B2FEE80922B14B2FFB90F04D4EB7C09B5D2D15D" +
			"A82F2D7ECB1DBAC719905C5EECC423F1D86E25EDBE23C595D644AAF187E6E6DF"),
		X: mustHex("24D19CC64572EE30F396BF6EBBFD7A6C5213B3B3D7057CC825F91093A68CD762" +
			"FD60611262CD838DC6B60AA7EEE804E28BC849977FAC33B4B530F1B120248A9A"),
		Y: mustHex("2BB312A43BD2CE6E0D020613C857ACDDCFBF061E91E5F2C3F32447C259F39B2C" +
			"83AB156D77F1496BF7EB3351E1EE4E43DC1A18B91B24640B6DBB92CB1ADD371E"),
	}
)

// paramSets maps every parameter-set OID a GOST or O'zDSt key may carry
// to its curve: the RFC 4357 CryptoPro sets (and their key-exchange
// aliases XchA = A, XchB = C), the TC26 sets of RFC 7836 (256-bit B, C, D
// are CryptoPro A, B, C under new names), and O'zDSt 1092's A, B, C
// (CryptoPro A, B, C; its XchA, XchB are A and C).
var paramSets = map[string]*Curve{
	"1.2.643.2.2.35.0":       CurveRFC5832Test,
	"1.2.643.2.2.35.1":       CurveCryptoProA,
	"1.2.643.2.2.35.2":       CurveCryptoProB,
	"1.2.643.2.2.35.3":       CurveCryptoProC,
	"1.2.643.2.2.36.0":       CurveCryptoProA,
	"1.2.643.2.2.36.1":       CurveCryptoProC,
	"1.2.643.7.1.2.1.1.1":    CurveTC26_256A,
	"1.2.643.7.1.2.1.1.2":    CurveCryptoProA,
	"1.2.643.7.1.2.1.1.3":    CurveCryptoProB,
	"1.2.643.7.1.2.1.1.4":    CurveCryptoProC,
	"1.2.643.7.1.2.1.2.0":    CurveRFC7091Test512,
	"1.2.643.7.1.2.1.2.1":    CurveTC26_512A,
	"1.2.643.7.1.2.1.2.2":    CurveTC26_512B,
	"1.2.643.7.1.2.1.2.3":    CurveTC26_512C,
	"1.2.860.3.15.1.1.2.1.1": CurveCryptoProA,
	"1.2.860.3.15.1.1.2.1.2": CurveCryptoProB,
	"1.2.860.3.15.1.1.2.1.3": CurveCryptoProC,
	"1.2.860.3.15.1.1.2.1.5": CurveCryptoProA,
	"1.2.860.3.15.1.1.2.1.6": CurveCryptoProC,
}

// CurveByOID returns the curve of a parameter-set OID, or an error
// wrapping ErrPublicKey naming the unknown OID.
func CurveByOID(oid asn1.ObjectIdentifier) (*Curve, error) {
	if c, ok := paramSets[oid.String()]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("%w: unknown GOST parameter set %v", ErrPublicKey, oid)
}

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

// Size is the byte length of a coordinate, a scalar and half a
// signature on c: 32 or 64.
func (c *Curve) Size() int {
	if c.P.BitLen() > 8*coordSize {
		return 2 * coordSize
	}
	return coordSize
}

// check rejects a curve this package cannot work with (wrong size,
// even modulus) and prepares its arithmetic. It does not prove the
// parameters; the tests do that for the package's curves.
func (c *Curve) check() error {
	if c == nil || c.P == nil || c.A == nil || c.B == nil || c.Q == nil || c.X == nil || c.Y == nil {
		return fmt.Errorf("gost: incomplete curve")
	}
	c.once.Do(func() {
		if c.P.Sign() <= 0 || c.Q.Sign() <= 0 || c.P.Bit(0) == 0 || c.Q.Bit(0) == 0 ||
			c.P.BitLen() > 16*coordSize || c.Q.BitLen() > c.P.BitLen()+1 {
			c.err = fmt.Errorf("gost: curve %q is not a 256- or 512-bit curve with odd p and q", c.Name)
			return
		}
		c.arith = newCurveArith(c)
	})
	return c.err
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

// curveArith is a curve's constant-time arithmetic: GF(p) and GF(q) in
// Montgomery form and the constants of the addition formulas.
type curveArith struct {
	fp, fq *field
	p      *big.Int
	size   int // bytes per coordinate and scalar
	a, b3  fe  // a and 3b, Montgomery form
	b      fe  // b, Montgomery form
	g      point

	aIsMinus3 bool

	// gTable[i][j] = j·16^i·G, the fixed-base comb for the base point,
	// built on first use (64 windows for 256-bit curves, 128 for 512).
	gOnce  sync.Once
	gTable [][1 << window]point
}

// point is a projective point (X : Y : Z), coordinates in Montgomery
// form; Z = 0 is the point at infinity (0 : 1 : 0).
type point struct{ x, y, z fe }

func newCurveArith(c *Curve) *curveArith {
	ca := &curveArith{fp: newField(c.P), fq: newField(c.Q), p: c.P, size: c.Size()}
	a := feFromBig(new(big.Int).Mod(c.A, c.P))
	b3 := feFromBig(new(big.Int).Mod(new(big.Int).Mul(c.B, big.NewInt(3)), c.P))
	ca.fp.toMont(&ca.a, &a)
	ca.fp.toMont(&ca.b3, &b3)
	bb := feFromBig(new(big.Int).Mod(c.B, c.P))
	ca.fp.toMont(&ca.b, &bb)
	ca.aIsMinus3 = new(big.Int).Sub(c.P, c.A).Cmp(big.NewInt(3)) == 0
	ca.g = ca.fromAffine(feFromBig(c.X), feFromBig(c.Y))
	return ca
}

func (ca *curveArith) infinity() point {
	return point{y: ca.fp.one}
}

// fromAffine converts plain affine coordinates (each < p).
func (ca *curveArith) fromAffine(x, y fe) point {
	var p point
	ca.fp.toMont(&p.x, &x)
	ca.fp.toMont(&p.y, &y)
	p.z = ca.fp.one
	return p
}

// affine returns the plain affine coordinates of p, which may depend on
// a secret (k·G, d·G); ok is 0 for the point at infinity. Z is inverted
// blinded: Z·β for a random β is uniformly distributed whatever Z is, so
// math/big may invert it in variable time; multiplying by β again is in
// constant time.
func (ca *curveArith) affine(p *point) (x, y fe, ok int) {
	f := ca.fp
	var beta fe
	for {
		var buf [8 * maxLimbs]byte
		if _, err := cryptorand.Read(buf[:ca.size]); err != nil {
			panic("gost: crypto/rand failed: " + err.Error())
		}
		beta = feFromBytes(buf[:ca.size])
		if f.less(&beta)&(1-f.isZero(&beta)) == 1 {
			break
		}
	}
	var betaM, zb fe
	f.toMont(&betaM, &beta)
	f.mul(&zb, &p.z, &betaM) // Z·β, Montgomery form
	f.fromMont(&zb, &zb)
	inv := new(big.Int).ModInverse(zb.big(), ca.p)
	if inv == nil {
		return x, y, 0
	}
	zi := feFromBig(inv)
	f.toMont(&zi, &zi)
	f.mul(&zi, &zi, &betaM) // (Z·β)⁻¹·β = Z⁻¹
	f.mul(&x, &p.x, &zi)
	f.mul(&y, &p.y, &zi)
	f.fromMont(&x, &x)
	f.fromMont(&y, &y)
	return x, y, 1
}

// affinePublic is affine for points computed from public data only
// (verification): a plain variable-time inversion.
func (ca *curveArith) affinePublic(p *point) (x, y fe, ok int) {
	f := ca.fp
	var z fe
	f.fromMont(&z, &p.z)
	inv := new(big.Int).ModInverse(z.big(), ca.p)
	if inv == nil {
		return x, y, 0
	}
	zi := feFromBig(inv)
	f.toMont(&zi, &zi)
	f.mul(&x, &p.x, &zi)
	f.mul(&y, &p.y, &zi)
	f.fromMont(&x, &x)
	f.fromMont(&y, &y)
	return x, y, 1
}

// add returns p + q by the complete projective formulas for short
// Weierstrass curves with any a (Renes, Costello, Batina, "Complete
// addition formulas for prime order elliptic curves", 2016, Algorithm
// 1). They are exception-free for points of odd order, which covers
// every point this package multiplies (the base point, public keys that
// passed the subgroup check, and their multiples), and they double too,
// so a scalar multiplication runs one fixed sequence of operations.
func (ca *curveArith) add(p, q *point) point {
	f := ca.fp
	var t0, t1, t2, t3, t4, t5, x3, y3, z3 fe
	f.mul(&t0, &p.x, &q.x)
	f.mul(&t1, &p.y, &q.y)
	f.mul(&t2, &p.z, &q.z)
	f.add(&t3, &p.x, &p.y)
	f.add(&t4, &q.x, &q.y)
	f.mul(&t3, &t3, &t4)
	f.add(&t4, &t0, &t1)
	f.sub(&t3, &t3, &t4)
	f.add(&t4, &p.x, &p.z)
	f.add(&t5, &q.x, &q.z)
	f.mul(&t4, &t4, &t5)
	f.add(&t5, &t0, &t2)
	f.sub(&t4, &t4, &t5)
	f.add(&t5, &p.y, &p.z)
	f.add(&x3, &q.y, &q.z)
	f.mul(&t5, &t5, &x3)
	f.add(&x3, &t1, &t2)
	f.sub(&t5, &t5, &x3)
	f.mul(&z3, &ca.a, &t4)
	f.mul(&x3, &ca.b3, &t2)
	f.add(&z3, &x3, &z3)
	f.sub(&x3, &t1, &z3)
	f.add(&z3, &t1, &z3)
	f.mul(&y3, &x3, &z3)
	f.add(&t1, &t0, &t0)
	f.add(&t1, &t1, &t0)
	f.mul(&t2, &ca.a, &t2)
	f.mul(&t4, &ca.b3, &t4)
	f.add(&t1, &t1, &t2)
	f.sub(&t2, &t0, &t2)
	f.mul(&t2, &ca.a, &t2)
	f.add(&t4, &t4, &t2)
	f.mul(&t0, &t1, &t4)
	f.add(&y3, &y3, &t0)
	f.mul(&t0, &t5, &t4)
	f.mul(&x3, &x3, &t3)
	f.sub(&x3, &x3, &t0)
	f.mul(&t0, &t3, &t1)
	f.mul(&z3, &t5, &z3)
	f.add(&z3, &z3, &t0)
	return point{x3, y3, z3}
}

// double returns 2p by the exception-free doubling formulas of the same
// paper (Algorithm 3, any a): cheaper than add(p, p), same result.
func (ca *curveArith) double(p *point) point {
	if ca.aIsMinus3 {
		return ca.doubleMinus3(p)
	}
	f := ca.fp
	var t0, t1, t2, t3, x3, y3, z3 fe
	f.mul(&t0, &p.x, &p.x)
	f.mul(&t1, &p.y, &p.y)
	f.mul(&t2, &p.z, &p.z)
	f.mul(&t3, &p.x, &p.y)
	f.add(&t3, &t3, &t3)
	f.mul(&z3, &p.x, &p.z)
	f.add(&z3, &z3, &z3)
	f.mul(&x3, &ca.a, &z3)
	f.mul(&y3, &ca.b3, &t2)
	f.add(&y3, &x3, &y3)
	f.sub(&x3, &t1, &y3)
	f.add(&y3, &t1, &y3)
	f.mul(&y3, &x3, &y3)
	f.mul(&x3, &t3, &x3)
	f.mul(&z3, &ca.b3, &z3)
	f.mul(&t2, &ca.a, &t2)
	f.sub(&t3, &t0, &t2)
	f.mul(&t3, &ca.a, &t3)
	f.add(&t3, &t3, &z3)
	f.add(&z3, &t0, &t0)
	f.add(&t0, &z3, &t0)
	f.add(&t0, &t0, &t2)
	f.mul(&t0, &t0, &t3)
	f.add(&y3, &y3, &t0)
	f.mul(&t2, &p.y, &p.z)
	f.add(&t2, &t2, &t2)
	f.mul(&t0, &t2, &t3)
	f.sub(&x3, &x3, &t0)
	f.mul(&z3, &t2, &t1)
	f.add(&z3, &z3, &z3)
	f.add(&z3, &z3, &z3)
	return point{x3, y3, z3}
}

// doubleMinus3 is double for curves with a = −3 (the CryptoPro curves,
// TC26 512-bit A and B): the same paper's Algorithm 6, fewer
// multiplications.
func (ca *curveArith) doubleMinus3(p *point) point {
	f := ca.fp
	var t0, t1, t2, t3, x3, y3, z3 fe
	f.mul(&t0, &p.x, &p.x)
	f.mul(&t1, &p.y, &p.y)
	f.mul(&t2, &p.z, &p.z)
	f.mul(&t3, &p.x, &p.y)
	f.add(&t3, &t3, &t3)
	f.mul(&z3, &p.x, &p.z)
	f.add(&z3, &z3, &z3)
	f.mul(&y3, &ca.b, &t2)
	f.sub(&y3, &y3, &z3)
	f.add(&x3, &y3, &y3)
	f.add(&y3, &x3, &y3)
	f.sub(&x3, &t1, &y3)
	f.add(&y3, &t1, &y3)
	f.mul(&y3, &x3, &y3)
	f.mul(&x3, &x3, &t3)
	f.add(&t3, &t2, &t2)
	f.add(&t2, &t2, &t3)
	f.mul(&z3, &ca.b, &z3)
	f.sub(&z3, &z3, &t2)
	f.sub(&z3, &z3, &t0)
	f.add(&t3, &z3, &z3)
	f.add(&z3, &z3, &t3)
	f.add(&t3, &t0, &t0)
	f.add(&t0, &t3, &t0)
	f.sub(&t0, &t0, &t2)
	f.mul(&t0, &t0, &z3)
	f.add(&y3, &y3, &t0)
	f.mul(&t0, &p.y, &p.z)
	f.add(&t0, &t0, &t0)
	f.mul(&z3, &t0, &z3)
	f.sub(&x3, &x3, &z3)
	f.mul(&z3, &t0, &t1)
	f.add(&z3, &z3, &z3)
	f.add(&z3, &z3, &z3)
	return point{x3, y3, z3}
}

// window is the bit width of the fixed windows of the scalar
// multiplications.
const window = 4

// table returns 0·p … 15·p.
func (ca *curveArith) table(p *point) *[1 << window]point {
	var t [1 << window]point
	t[0] = ca.infinity()
	t[1] = *p
	for i := 2; i < len(t); i++ {
		t[i] = ca.add(&t[i-1], p)
	}
	return &t
}

// nibble returns window bits i of the big-endian scalar k.
func nibble(k []byte, i int) int {
	b := k[len(k)-1-i/2]
	return int(b>>(4*(i%2))) & 0xF
}

// scalarMult returns k·p for a secret big-endian scalar k of ca.size
// bytes in constant time: a fixed 4-bit window whose table entry is
// read by scanning the whole table, over all the scalar's windows
// whatever their values.
func (ca *curveArith) scalarMult(p *point, k []byte) point {
	t := ca.table(p)
	acc := ca.infinity()
	for i := 2*len(k) - 1; i >= 0; i-- {
		for range window {
			acc = ca.double(&acc)
		}
		n := nibble(k, i)
		var sel point
		for j := range t {
			eq := uint64(subtleEq(j, n))
			cmov(&sel.x, &t[j].x, eq)
			cmov(&sel.y, &t[j].y, eq)
			cmov(&sel.z, &t[j].z, eq)
		}
		acc = ca.add(&acc, &sel)
	}
	return acc
}

// baseTable returns the comb table of the base point.
func (ca *curveArith) baseTable() [][1 << window]point {
	ca.gOnce.Do(func() {
		t := make([][1 << window]point, 2*ca.size)
		base := ca.g
		for i := range t {
			t[i] = *ca.table(&base)
			for range window {
				base = ca.double(&base)
			}
		}
		ca.gTable = t
	})
	return ca.gTable
}

// scalarBaseMult returns k·G for a secret big-endian scalar k of ca.size
// bytes in constant time: one addition per 4-bit window of k, each
// entry read by scanning its whole row of the comb table.
func (ca *curveArith) scalarBaseMult(k []byte) point {
	t := ca.baseTable()
	acc := ca.infinity()
	for i := range t {
		n := nibble(k, i)
		var sel point
		for j := range t[i] {
			eq := uint64(subtleEq(j, n))
			cmov(&sel.x, &t[i][j].x, eq)
			cmov(&sel.y, &t[i][j].y, eq)
			cmov(&sel.z, &t[i][j].z, eq)
		}
		acc = ca.add(&acc, &sel)
	}
	return acc
}

// combinedMult returns u1·g + u2·p for public big-endian scalars of
// ca.size bytes (verification: it indexes its tables by the scalars).
func (ca *curveArith) combinedMult(u1 []byte, p *point, u2 []byte) point {
	tg, t2 := ca.baseTable(), ca.table(p)
	acc := ca.infinity()
	for i := 2*len(u2) - 1; i >= 0; i-- {
		for range window {
			acc = ca.double(&acc)
		}
		acc = ca.add(&acc, &t2[nibble(u2, i)])
	}
	for i := range tg {
		acc = ca.add(&acc, &tg[i][nibble(u1, i)])
	}
	return acc
}

// subtleEq is 1 if a == b, else 0, without a branch (a, b < 2^31).
func subtleEq(a, b int) int {
	x := uint32(a ^ b)
	return int((uint64(x) - 1) >> 63)
}
