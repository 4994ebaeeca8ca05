package dstu

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A public key off the prime-order subgroup (Q plus the point of order 2)
// is on the curve but refused: it would let a signer's key leak bits in
// key agreement and makes signatures ambiguous.
func TestAttackSmallSubgroupKeyRefused(t *testing.T) {
	c := Curve257 // cofactor 4
	k, err := GenerateKey(c, nil)
	require.NoError(t, err)
	sqrtB := c.f.sqrN(&c.b, c.M-1) // √b = b^(2^(m-1))
	t2 := point{y: sqrtB}          // (0, √b) has order 2
	require.True(t, c.onCurve(&t2))
	bad := c.addPoints(&k.q, &t2)
	require.True(t, c.onCurve(&bad))
	_, err = newPublicKey(c, bad)
	assert.ErrorIs(t, err, ErrPublicKey)
	_, err = newPublicKey(c, t2)
	assert.ErrorIs(t, err, ErrPublicKey)
}

// Compressed keys that are no point, or not of the field, are refused.
func TestAttackBadCompressedKeysRefused(t *testing.T) {
	c := Curve257
	k, err := GenerateKey(c, nil)
	require.NoError(t, err)
	good := k.PublicKey.Compressed()
	for name, b := range map[string][]byte{
		"short":         good[:31],
		"long":          append(append([]byte(nil), good...), 0),
		"zero":          make([]byte, len(good)),
		"bits above m":  append(append([]byte(nil), good[:32]...), 0x02),
		"no such point": noPoint(t, c),
	} {
		_, err := ParseCompressed(c, b)
		assert.ErrorIs(t, err, ErrPublicKey, name)
	}
}

// noPoint finds a compressed x for which z² + z = w has no solution.
func noPoint(t *testing.T, c *Curve) []byte {
	for i := uint64(2); i < 1000; i++ {
		var x fe
		x[0], x[1] = i<<1, i*0x9E3779B97F4A7C15
		if _, err := c.decompress(&x); err != nil {
			return reverse(c.f.bytes(&x))
		}
	}
	t.Fatal("no x without a point found")
	return nil
}

// Explicit parameters that are not a standard curve (here: another b, a
// curve nobody checked) are refused, so a certificate cannot bring its own
// weak curve.
func TestAttackNonStandardExplicitCurveRefused(t *testing.T) {
	c := Curve257
	bp := c.compress(&point{x: c.gx, y: c.gy})
	e := ecBinary{A: c.A, B: reverse(c.f.bytes(&c.b)), N: c.N, BP: reverse(c.f.bytes(&bp))}
	e.Field.M = c.M
	poly, err := asn1.Marshal(c.Poly[0])
	require.NoError(t, err)
	e.Field.Poly = asn1.RawValue{FullBytes: poly}
	der, err := asn1.Marshal(e)
	require.NoError(t, err)
	got, err := parseExplicit(der)
	require.NoError(t, err, "the standard curve written explicitly is accepted")
	assert.Same(t, c, got)

	e.B[3] ^= 0x40
	der, err = asn1.Marshal(e)
	require.NoError(t, err)
	_, err = parseExplicit(der)
	assert.ErrorIs(t, err, ErrParameters)
}

// A container asking for an absurd PBKDF2 count is refused before any
// work, so a hostile file cannot stall a listing or an unlock.
func TestAttackPBKDF2IterationBombRefused(t *testing.T) {
	kdf, err := asn1.Marshal(pbkdf2Params{Salt: make([]byte, 32), Iterations: 1 << 30,
		PRF: pkix.AlgorithmIdentifier{Algorithm: OIDHMACGOST34311}})
	require.NoError(t, err)
	cfb, err := asn1.Marshal(gostCFBParams{IV: make([]byte, 8)})
	require.NoError(t, err)
	params, err := asn1.Marshal(pbes2Params{
		KDF:        pkix.AlgorithmIdentifier{Algorithm: OIDPBKDF2, Parameters: asn1.RawValue{FullBytes: kdf}},
		Encryption: pkix.AlgorithmIdentifier{Algorithm: OIDGOST28147CFB, Parameters: asn1.RawValue{FullBytes: cfb}},
	})
	require.NoError(t, err)
	_, err = DecryptPBES2Data(pkix.AlgorithmIdentifier{Algorithm: OIDPBES2, Parameters: asn1.RawValue{FullBytes: params}}, make([]byte, 64), []byte("p"))
	assert.ErrorContains(t, err, "iteration count")
}

// Signatures with r or s outside 1…N−1 are refused without computing.
func TestAttackOutOfRangeSignatureRefused(t *testing.T) {
	c := Curve257
	k, err := GenerateKey(c, nil)
	require.NoError(t, err)
	d := make([]byte, 32)
	r, s, err := k.SignDigest(nil, d)
	require.NoError(t, err)
	require.NoError(t, k.PublicKey.VerifyDigest(d, r, s))
	for name, rs := range map[string][2]*big.Int{
		"r = 0":      {big.NewInt(0), s},
		"s = 0":      {r, big.NewInt(0)},
		"s + N":      {r, new(big.Int).Add(s, c.N)},
		"r + N":      {new(big.Int).Add(r, c.N), s},
		"negative s": {r, new(big.Int).Neg(s)},
	} {
		assert.ErrorIs(t, k.PublicKey.VerifyDigest(d, rs[0], rs[1]), ErrSignature, name)
	}
}
