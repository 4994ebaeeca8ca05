package gost

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGost2012RFC7091Example512 is the 512-bit signature example of GOST
// R 34.10-2012 (RFC 7091 §A.2).
func TestGost2012RFC7091Example512(t *testing.T) {
	c := CurveRFC7091Test512
	d := mustHex("0BA6048AADAE241BA40936D47756D7C93091A0E8514669700EE7508E508B102072E8123B2200A0563322DAD2827E2714A2636B7BFD18AADFC62967821FA18DD4")
	e := mustHex("3754F3CFACC9E0615C4F4A7C4D8DAB531B09B6F9C170C533A71D147035B0C5917184EE536593F4414339976C647C5D5A407ADEDB1D560C4FC6777D2972075B8C")
	k := mustHex("0359E7F4B1410FEACC570456C6801496946312120B39D019D455986E364F365886748ED7A44B3E794434006011842286212273A6D14CF70EA3AF71BB1AE679F1")
	wantQx := mustHex("115DC5BC96760C7B48598D8AB9E740D4C4A85A65BE33C1815B5C320C854621DD5A515856D13314AF69BC5B924C8B4DDFF75C45415C1D9DD9DD33612CD530EFE1")
	wantQy := mustHex("37C7C90CD40B0F5621DC3AC1B751CFA0E2634FA0503B3D52639F5D7FB72AFD61EA199441D943FFE7F0C70A2759A3CDB84C114E1F9339FDF27F35ECA93677BEEC")
	wantR := mustHex("2F86FA60A081091A23DD795E1E3C689EE512A3C82EE0DCC2643C78EEA8FCACD35492558486B20F1C9EC197C90699850260C93BCBCD9C5C3317E19344E173AE36")
	wantS := mustHex("1081B394696FFE8E6585E7A9362D26B6325F56778AADBC081C0BFBE933D52FF5823CE288E8C4F362526080DF7F70CE406A6EEB1F56919CB92A9853BDE73E5B4A")

	priv, err := NewPrivateKeyOf(KeyGOST2012_512, c, d)
	require.NoError(t, err)
	assert.Zero(t, priv.X.Cmp(wantQx), "Qx = %X", priv.X)
	assert.Zero(t, priv.Y.Cmp(wantQy), "Qy = %X", priv.Y)
	r, s, ok := signWithK(c, priv.scalar(), e, k.FillBytes(make([]byte, 64)))
	require.True(t, ok)
	assert.Zero(t, r.Cmp(wantR), "r = %X", r)
	assert.Zero(t, s.Cmp(wantS), "s = %X", s)
	digest := make([]byte, 64)
	putLE(digest, e)
	require.NoError(t, Verify(&priv.PublicKey, digest, encodeSig(c, r, s)))
	digest[0] ^= 1
	require.ErrorIs(t, Verify(&priv.PublicKey, digest, encodeSig(c, r, s)), ErrSignature)
}

// TestGostTwistedEdwardsParameters derives the Weierstrass form of the
// two twisted Edwards sets from their Edwards parameters (e, d) and base
// point (u, v) by the map of RFC 7836 §A.2 — s = (e−d)/4, t = (e+d)/6,
// a = s² − 3t², b = 2t³ − t·s², x = s(1+v)/(1−v) + t, y = s(1+v)/((1−v)u)
// — so a mistyped constant in either form fails.
func TestGostTwistedEdwardsParameters(t *testing.T) {
	for _, tc := range []struct {
		c          *Curve
		e, d, u, v string
	}{
		{CurveTC26_256A, "1",
			"0605F6B7C183FA81578BC39CFAD518132B9DF62897009AF7E522C32D6DC7BFFB",
			"0D",
			"60CA1E32AA475B348488C38FAB07649CE7EF8DBE87F22E81F92B2592DBA300E7"},
		{CurveTC26_512C, "1",
			"9E4F5D8C017D8D9F13A5CF3CDF5BFE4DAB402D54198E31EBDE28A0621050439CA6B39E0A515C06B304E2CE43E79E369E91A0CFC2BC2A22B4CA302DBB33EE7550",
			"12",
			"469AF79D1FB1F5E16B99592B77A01E2A0FDFB0D01794368D9A56117F7B38669522DD4B650CF789EEBF068C5D139732F0905622C04B2BAAE7600303EE73001A3D"},
	} {
		t.Run(tc.c.Name, func(t *testing.T) {
			p := tc.c.P
			mod := func(x *big.Int) *big.Int { return x.Mod(x, p) }
			inv := func(x int64) *big.Int { return new(big.Int).ModInverse(big.NewInt(x), p) }
			e, d, u, v := mustHex(tc.e), mustHex(tc.d), mustHex(tc.u), mustHex(tc.v)
			s := mod(new(big.Int).Mul(new(big.Int).Sub(e, d), inv(4)))
			tt := mod(new(big.Int).Mul(new(big.Int).Add(e, d), inv(6)))
			s2 := mod(new(big.Int).Mul(s, s))
			t2 := mod(new(big.Int).Mul(tt, tt))
			a := mod(new(big.Int).Sub(s2, new(big.Int).Mul(big.NewInt(3), t2)))
			b := mod(new(big.Int).Sub(new(big.Int).Mul(big.NewInt(2), new(big.Int).Mul(t2, tt)), new(big.Int).Mul(tt, s2)))
			onePlusV := new(big.Int).Add(big.NewInt(1), v)
			oneMinusV := mod(new(big.Int).Sub(big.NewInt(1), v))
			x := mod(new(big.Int).Add(mod(new(big.Int).Mul(new(big.Int).Mul(s, onePlusV), new(big.Int).ModInverse(oneMinusV, p))), tt))
			y := mod(new(big.Int).Mul(new(big.Int).Mul(s, onePlusV), new(big.Int).ModInverse(mod(new(big.Int).Mul(oneMinusV, u)), p)))
			assert.Zero(t, a.Cmp(tc.c.A), "a = %X", a)
			assert.Zero(t, b.Cmp(tc.c.B), "b = %X", b)
			assert.Zero(t, x.Cmp(tc.c.X), "x = %X", x)
			assert.Zero(t, y.Cmp(tc.c.Y), "y = %X", y)
		})
	}
}

// TestGostSubgroupCheck: on the cofactor-4 curves a point of the curve
// outside the subgroup of order q is refused as a public key (a
// small-subgroup key would let a signature be forged or leak nothing
// useful, but it is not a key of the algorithm).
func TestGostSubgroupCheck(t *testing.T) {
	for _, c := range []*Curve{CurveTC26_256A, CurveTC26_512C} {
		t.Run(c.Name, func(t *testing.T) {
			require.NoError(t, c.check())
			found := 0
			for x := int64(1); found < 3 && x < 200; x++ {
				X := big.NewInt(x)
				rhs := new(big.Int).Mul(X, X)
				rhs.Add(rhs, c.A).Mul(rhs, X).Add(rhs, c.B).Mod(rhs, c.P)
				Y := new(big.Int).ModSqrt(rhs, c.P)
				if Y == nil {
					continue
				}
				ca := c.arith
				pt := ca.fromAffine(feFromBig(X), feFromBig(Y))
				qp := ca.scalarMult(&pt, c.Q.FillBytes(make([]byte, c.Size())))
				if ca.fp.isZero(&qp.z) == 1 {
					continue // in the subgroup by chance
				}
				found++
				_, err := NewPublicKeyOf(defaultType(c), c, X, Y)
				if c.Size() == 32 {
					_, err = NewPublicKeyOf(KeyGOST2012_256, c, X, Y)
				}
				assert.ErrorIs(t, err, ErrPublicKey, "x = %d", x)
				assert.ErrorContains(t, err, "subgroup", "x = %d", x)
				// 4·R is in the subgroup and accepted.
				r4 := ca.scalarMult(&pt, big.NewInt(4).FillBytes(make([]byte, c.Size())))
				x4, y4, ok := ca.affine(&r4)
				require.Equal(t, 1, ok)
				_, err = NewPublicKeyOf(map[bool]KeyType{true: KeyGOST2012_256, false: KeyGOST2012_512}[c.Size() == 32], c, x4.big(), y4.big())
				assert.NoError(t, err, "4·R")
			}
			require.Equal(t, 3, found, "no points outside the subgroup found")
		})
	}
}

// keyCases are one curve per 2012 parameter set family plus a 2001 and
// an O'zDSt key.
var keyCases = []struct {
	t KeyType
	c *Curve
}{
	{KeyGOST2012_256, CurveTC26_256A},
	{KeyGOST2012_256, CurveCryptoProA},
	{KeyGOST2012_256, CurveCryptoProC},
	{KeyGOST2012_512, CurveTC26_512A},
	{KeyGOST2012_512, CurveTC26_512B},
	{KeyGOST2012_512, CurveTC26_512C},
	{KeyGOST2001, CurveCryptoProB},
	{KeyOzDSt1092, CurveCryptoProA},
}

// TestGostSignerAndEncodings: generated keys sign through crypto.Signer,
// their SubjectPublicKeyInfo and PKCS#8 encodings round-trip, and the
// parsed keys verify and sign alike.
func TestGostSignerAndEncodings(t *testing.T) {
	for _, kc := range keyCases {
		t.Run(kc.t.String()+"/"+kc.c.Name, func(t *testing.T) {
			priv, err := GenerateKeyOf(kc.t, kc.c, rand.Reader)
			require.NoError(t, err)
			var signer crypto.Signer = priv
			h := kc.t.NewHash()
			h.Write([]byte("message"))
			digest := h.Sum(nil)
			require.Len(t, digest, kc.c.Size())
			sig, err := signer.Sign(rand.Reader, digest, crypto.Hash(0))
			require.NoError(t, err)
			require.Len(t, sig, 2*kc.c.Size())

			spkiDER, err := MarshalPKIXPublicKey(signer.Public().(*PublicKey))
			require.NoError(t, err)
			pub, err := ParsePKIXPublicKey(spkiDER)
			require.NoError(t, err)
			assert.True(t, pub.Equal(&priv.PublicKey), "SPKI round trip")
			assert.Equal(t, kc.t, pub.Type)
			require.NoError(t, Verify(pub, digest, sig))

			p8, err := MarshalPKCS8PrivateKey(priv)
			require.NoError(t, err)
			back, err := ParsePKCS8PrivateKey(p8)
			require.NoError(t, err)
			assert.True(t, back.Equal(priv), "PKCS#8 round trip")
			sig2, err := back.Sign(rand.Reader, digest, nil)
			require.NoError(t, err)
			require.NoError(t, Verify(pub, digest, sig2))

			other, err := GenerateKeyOf(kc.t, kc.c, rand.Reader)
			require.NoError(t, err)
			assert.False(t, other.Equal(priv))
			assert.False(t, other.PublicKey.Equal(pub))
		})
	}
}

// TestGostKeyTypeCurveMismatch: a 512-bit type on a 256-bit curve and the
// reverse are refused with a message naming both.
func TestGostKeyTypeCurveMismatch(t *testing.T) {
	_, err := GenerateKeyOf(KeyGOST2012_512, CurveCryptoProA, rand.Reader)
	assert.ErrorContains(t, err, "needs a 512-bit curve")
	_, err = GenerateKeyOf(KeyGOST2012_256, CurveTC26_512A, rand.Reader)
	assert.ErrorContains(t, err, "needs a 256-bit curve")
}

// TestGostPKCS8MaskedAndWrapped: the other private-key forms read the
// same d: an OCTET STRING around it, an INTEGER, and d with a
// multiplicative mask (d·m mod q stored as d', m).
func TestGostPKCS8MaskedAndWrapped(t *testing.T) {
	priv, err := GenerateKeyOf(KeyGOST2012_256, CurveTC26_256A, rand.Reader)
	require.NoError(t, err)
	c := priv.Curve
	alg, err := priv.algorithmID()
	require.NoError(t, err)
	build := func(content []byte) []byte {
		der, err := asn1.Marshal(pkcs8{Algorithm: alg, PrivateKey: content})
		require.NoError(t, err)
		return der
	}
	le := reverse(priv.scalar())
	wrapped, _ := asn1.Marshal(le)
	integer, _ := asn1.Marshal(priv.D)
	m, err := randScalar(c, rand.Reader)
	require.NoError(t, err)
	mInt := new(big.Int).SetBytes(m)
	// stored d' with d'·m ≡ d
	dPrime := new(big.Int).Mul(priv.D, new(big.Int).ModInverse(mInt, c.Q))
	dPrime.Mod(dPrime, c.Q)
	masked := append(reverse(dPrime.FillBytes(make([]byte, 32))), reverse(m)...)
	for name, content := range map[string][]byte{"octet string": wrapped, "integer": integer, "masked": masked} {
		got, err := ParsePKCS8PrivateKey(build(content))
		require.NoError(t, err, name)
		assert.Zero(t, got.D.Cmp(priv.D), name)
	}
	for name, content := range map[string][]byte{
		"empty":        nil,
		"31 bytes":     le[:31],
		"d = q":        reverse(c.Q.FillBytes(make([]byte, 32))),
		"d = 0":        make([]byte, 32),
		"boolean":      {0x01, 0x01, 0xFF},
		"nine masks":   bytes.Repeat(le, 10),
		"negative int": {0x02, 0x01, 0xFF},
	} {
		_, err := ParsePKCS8PrivateKey(build(content))
		assert.ErrorIs(t, err, ErrPrivateKey, name)
	}
}

// TestGostSPKIRejections: malformed SubjectPublicKeyInfos are refused
// with ErrPublicKey and a reason.
func TestGostSPKIRejections(t *testing.T) {
	priv, err := GenerateKeyOf(KeyGOST2012_256, CurveTC26_256A, rand.Reader)
	require.NoError(t, err)
	good, err := MarshalPKIXPublicKey(&priv.PublicKey)
	require.NoError(t, err)
	mk := func(alg asn1.ObjectIdentifier, params []asn1.ObjectIdentifier, key []byte) []byte {
		p, _ := asn1.Marshal(params)
		oct, _ := asn1.Marshal(key)
		der, err := asn1.Marshal(spki{Algorithm: algorithmIdentifier{Algorithm: alg, Parameters: asn1.RawValue{FullBytes: p}}, PublicKey: asn1.BitString{Bytes: oct, BitLength: 8 * len(oct)}})
		require.NoError(t, err)
		return der
	}
	ps256A := asn1.ObjectIdentifier{1, 2, 643, 7, 1, 2, 1, 1, 1}
	for _, tc := range []struct {
		name, reason string
		der          []byte
	}{
		{"trailing data", "after the SubjectPublicKeyInfo", append(bytes.Clone(good), 0)},
		{"RSA OID", "not a GOST", mk(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}, []asn1.ObjectIdentifier{ps256A}, priv.Bytes())},
		{"unknown curve", "unknown GOST parameter set", mk(OIDPublicKey2012_256, []asn1.ObjectIdentifier{{1, 2, 3}}, priv.Bytes())},
		{"512 key on 256 curve", "needs a 512-bit curve", mk(OIDPublicKey2012_512, []asn1.ObjectIdentifier{ps256A}, priv.Bytes())},
		{"no parameters", "sequence of 1 to 3", mk(OIDPublicKey2012_256, []asn1.ObjectIdentifier{}, priv.Bytes())},
		{"bad digest parameter", "unknown digest parameters", mk(OIDPublicKey2012_256, []asn1.ObjectIdentifier{ps256A, {1, 2, 3}}, priv.Bytes())},
		{"short point", "63 bytes", mk(OIDPublicKey2012_256, []asn1.ObjectIdentifier{ps256A}, priv.Bytes()[:63])},
		{"too big", "more than", make([]byte, maxKeyDER+1)},
	} {
		_, err := ParsePKIXPublicKey(tc.der)
		assert.ErrorIs(t, err, ErrPublicKey, tc.name)
		assert.ErrorContains(t, err, tc.reason, tc.name)
	}
}

// engine2012Sets are the gost engine's names of the 2012 parameter sets
// and the curve each must land on.
var engine2012Sets = []struct {
	alg, paramset string
	t             KeyType
	c             *Curve
}{
	{"gost2012_256", "TCA", KeyGOST2012_256, CurveTC26_256A},
	{"gost2012_256", "TCB", KeyGOST2012_256, CurveCryptoProA},
	{"gost2012_256", "A", KeyGOST2012_256, CurveCryptoProA},
	{"gost2012_256", "TCD", KeyGOST2012_256, CurveCryptoProC},
	{"gost2012_512", "A", KeyGOST2012_512, CurveTC26_512A},
	{"gost2012_512", "B", KeyGOST2012_512, CurveTC26_512B},
	{"gost2012_512", "C", KeyGOST2012_512, CurveTC26_512C},
}

// TestGost2012OpenSSL: for each 2012 parameter set, the gost engine's
// keys (PKCS#8 and SubjectPublicKeyInfo) parse here to the same point,
// its signatures verify here; our keys load in the engine, which derives
// the same public key from our PKCS#8, and our signatures verify there.
func TestGost2012OpenSSL(t *testing.T) {
	gostEngine(t)
	dir := t.TempDir()
	msg := []byte("Signet GOST R 34.10-2012 cross-check")
	msgFile := filepath.Join(dir, "msg")
	require.NoError(t, os.WriteFile(msgFile, msg, 0o600))
	for _, set := range engine2012Sets {
		t.Run(set.alg+"/"+set.paramset, func(t *testing.T) {
			md := map[KeyType]string{KeyGOST2012_256: "-md_gost12_256", KeyGOST2012_512: "-md_gost12_512"}[set.t]
			h := set.t.NewHash()
			h.Write(msg)
			digest := h.Sum(nil)

			keyFile := filepath.Join(dir, set.alg+set.paramset+".key")
			openssl(t, nil, "genpkey", "-engine", "gost", "-algorithm", set.alg, "-pkeyopt", "paramset:"+set.paramset, "-out", keyFile)
			pemBytes, err := os.ReadFile(keyFile)
			require.NoError(t, err)
			block, _ := pem.Decode(pemBytes)
			require.NotNil(t, block)
			priv, err := ParsePKCS8PrivateKey(block.Bytes)
			require.NoError(t, err, "openssl private key")
			assert.Equal(t, set.t, priv.Type)
			assert.Same(t, set.c, priv.Curve)
			pubDER := openssl(t, nil, "pkey", "-engine", "gost", "-in", keyFile, "-pubout", "-outform", "DER")
			pub, err := ParsePKIXPublicKey(pubDER)
			require.NoError(t, err, "openssl public key")
			assert.True(t, pub.Equal(&priv.PublicKey), "d·P here differs from openssl's public key")
			ours, err := MarshalPKIXPublicKey(pub)
			require.NoError(t, err)
			assert.Equal(t, pubDER, ours, "SubjectPublicKeyInfo re-encodes differently")
			p8, err := MarshalPKCS8PrivateKey(priv)
			require.NoError(t, err)
			assert.Equal(t, block.Bytes, p8, "PKCS#8 re-encodes differently")

			sig := openssl(t, nil, "dgst", "-engine", "gost", md, "-sign", keyFile, msgFile)
			require.NoError(t, Verify(pub, digest, sig), "openssl signature")
			bad := bytes.Clone(sig)
			bad[3] ^= 0x10
			require.ErrorIs(t, Verify(pub, digest, bad), ErrSignature, "altered openssl signature")

			// Our key and signature in the engine.
			mine, err := GenerateKeyOf(set.t, set.c, rand.Reader)
			require.NoError(t, err)
			mine.ParamSet = priv.ParamSet
			mineP8, err := MarshalPKCS8PrivateKey(mine)
			require.NoError(t, err)
			mineKey := filepath.Join(dir, set.alg+set.paramset+".mine.key")
			require.NoError(t, os.WriteFile(mineKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: mineP8}), 0o600))
			minePubDER, err := MarshalPKIXPublicKey(&mine.PublicKey)
			require.NoError(t, err)
			derived := openssl(t, nil, "pkey", "-engine", "gost", "-in", mineKey, "-pubout", "-outform", "DER")
			assert.Equal(t, minePubDER, derived, "openssl derives another public key from our PKCS#8")
			mineSig, err := Sign(rand.Reader, mine, digest)
			require.NoError(t, err)
			pubFile, sigFile := filepath.Join(dir, "mine.pub"), filepath.Join(dir, "mine.sig")
			require.NoError(t, os.WriteFile(pubFile, minePubDER, 0o600))
			require.NoError(t, os.WriteFile(sigFile, mineSig, 0o600))
			out := openssl(t, nil, "dgst", "-engine", "gost", md, "-verify", pubFile, "-keyform", "DER", "-signature", sigFile, msgFile)
			require.True(t, strings.Contains(string(out), "Verified OK"), "openssl does not verify our signature: %s", out)
		})
	}
}
