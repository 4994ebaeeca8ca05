package gost

import (
	"bytes"
	"crypto/rand"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var allCurves = []*Curve{CurveCryptoProA, CurveCryptoProB, CurveCryptoProC, CurveRFC5832Test,
	CurveTC26_256A, CurveTC26_512A, CurveTC26_512B, CurveTC26_512C, CurveRFC7091Test512}

// TestGostCurveParameters proves the curve constants are consistent: p
// and q prime, the base point on the curve, q·P = infinity and (q−1)·P =
// −P. A mistyped digit fails one of these.
func TestGostCurveParameters(t *testing.T) {
	for _, c := range allCurves {
		t.Run(c.Name, func(t *testing.T) {
			require.True(t, c.P.ProbablyPrime(32), "p or q not prime")
			require.True(t, c.Q.ProbablyPrime(32), "p or q not prime")
			require.True(t, c.IsOnCurve(c.X, c.Y), "base point not on the curve")
			require.NoError(t, c.check())
			ca := c.arith
			n := c.Size()
			qP := ca.scalarMult(&ca.g, c.Q.FillBytes(make([]byte, n)))
			require.Equal(t, 1, ca.fp.isZero(&qP.z), "q·P is not infinity")
			qm1 := new(big.Int).Sub(c.Q, big.NewInt(1))
			x, y, ok := ca.affine(ptr(ca.scalarMult(&ca.g, qm1.FillBytes(make([]byte, n)))))
			negY := new(big.Int).Sub(c.P, c.Y)
			require.Equal(t, 1, ok, "(q−1)·P is not −P")
			require.Zero(t, x.big().Cmp(c.X), "(q−1)·P is not −P")
			require.Zero(t, y.big().Cmp(negY), "(q−1)·P is not −P")
			// The group order h·q lies in the Hasse interval p+1 ± 2√p.
			h := max(c.Cofactor, 1)
			order := new(big.Int).Mul(c.Q, big.NewInt(h))
			dist := new(big.Int).Sub(new(big.Int).Add(c.P, big.NewInt(1)), order)
			require.LessOrEqual(t, dist.Mul(dist, dist).Cmp(new(big.Int).Lsh(c.P, 2)), 0, "h·q outside the Hasse bound")
			// The RFC 4357 curves use a = −3.
			if c.Cofactor <= 1 && c.A.Cmp(big.NewInt(7)) != 0 {
				require.Zero(t, new(big.Int).Sub(c.P, c.A).Cmp(big.NewInt(3)), "a is not −3")
			}
		})
	}
}

// TestGostRFC5832Example is the signature example of RFC 5832 §7.1–7.2
// (values from the RFC, in hex).
func TestGostRFC5832Example(t *testing.T) {
	c := CurveRFC5832Test
	d := mustHex("7A929ADE789BB9BE10ED359DD39A72C11B60961F49397EEE1D19CE9891EC3B28")
	e := mustHex("2DFBC1B372D89A1188C09C52E0EEC61FCE52032AB1022E8E67ECE6672B043EE5")
	k := mustHex("77105C9B20BCD3122823C8CF6FCC7B956DE33814E95B7FE64FED924594DCEAB3")
	wantQx := mustHex("7F2B49E270DB6D90D8595BEC458B50C58585BA1D4E9B788F6689DBD8E56FD80B")
	wantQy := mustHex("26F1B489D6701DD185C8413A977B3CBBAF64D1C593D26627DFFB101A87FF77DA")
	wantR := mustHex("41AA28D2F1AB148280CD9ED56FEDA41974053554A42767B83AD043FD39DC0493")
	wantS := mustHex("01456C64BA4642A1653C235A98A60249BCD6D3F746B631DF928014F6C5BF9C40")

	priv, err := NewPrivateKey(c, d)
	require.NoError(t, err)
	require.Zero(t, priv.X.Cmp(wantQx), "Q = (%X, %X)", priv.X, priv.Y)
	require.Zero(t, priv.Y.Cmp(wantQy), "Q = (%X, %X)", priv.X, priv.Y)
	r, s, ok := signWithK(c, priv.scalar(), e, k.FillBytes(make([]byte, 32)))
	require.True(t, ok, "r = %X, s = %X", r, s)
	require.Zero(t, r.Cmp(wantR), "r = %X, s = %X", r, s)
	require.Zero(t, s.Cmp(wantS), "r = %X, s = %X", r, s)
	require.NoError(t, verify(&priv.PublicKey, e, r, s), "example signature")
	// The same through the byte interface: e is the digest read
	// little-endian (e < q here, so no reduction).
	digest := make([]byte, 32)
	putLE(digest, e)
	sig := encodeSig(c, r, s)
	require.Equal(t, s.FillBytes(make([]byte, 32)), sig[:32], "signature does not start with s")
	require.NoError(t, Verify(&priv.PublicKey, digest, sig), "Verify")
	require.ErrorIs(t, verify(&priv.PublicKey, new(big.Int).Add(e, big.NewInt(1)), r, s), ErrSignature, "e+1 verified")
}

func TestGostSignVerifyAllCurves(t *testing.T) {
	for _, c := range allCurves {
		t.Run(c.Name, func(t *testing.T) {
			priv, err := GenerateKey(c, rand.Reader)
			require.NoError(t, err)
			h := priv.Type.NewHash()
			h.Write([]byte("Signet " + c.Name))
			digest := h.Sum(nil)
			sig, err := Sign(rand.Reader, priv, digest[:])
			require.NoError(t, err)
			pub, err := ParsePublicKey(c, priv.PublicKey.Bytes())
			require.NoError(t, err)
			require.NoError(t, Verify(pub, digest[:], sig), "own signature")
			for bit := 0; bit < 8*len(sig); bit += 37 {
				bad := bytes.Clone(sig)
				bad[bit/8] ^= 1 << (bit % 8)
				require.ErrorIs(t, Verify(pub, digest[:], bad), ErrSignature, "bit %d flipped", bit)
			}
			other := bytes.Clone(digest)
			other[0] ^= 1
			require.ErrorIs(t, Verify(pub, other, sig), ErrSignature, "other digest")
			priv2, _ := GenerateKey(c, rand.Reader)
			require.ErrorIs(t, Verify(&priv2.PublicKey, digest[:], sig), ErrSignature, "other key")
		})
	}
}

// TestGostZeroDigest: e = 0 mod q becomes 1, so the all-zero digest and
// the digest of q (little-endian) are signed as e = 1.
func TestGostZeroDigest(t *testing.T) {
	c := CurveCryptoProA
	priv, _ := GenerateKey(c, rand.Reader)
	zero := make([]byte, 32)
	one := make([]byte, 32)
	one[0] = 1
	sig, err := Sign(rand.Reader, priv, zero)
	require.NoError(t, err)
	assert.NoError(t, Verify(&priv.PublicKey, one, sig), "e=0 signature does not verify as e=1")
	q := make([]byte, 32)
	putLE(q, c.Q)
	assert.NoError(t, Verify(&priv.PublicKey, q, sig), "digest = q does not verify as e=1")
}

func TestGostRejections(t *testing.T) {
	c := CurveCryptoProA
	priv, _ := GenerateKey(c, rand.Reader)
	pub := &priv.PublicKey
	digest := Sum94CryptoPro([]byte("x"))
	sig, _ := Sign(rand.Reader, priv, digest[:])
	q := c.Q.FillBytes(make([]byte, 32))
	zero := make([]byte, 32)

	for _, tc := range []struct {
		name         string
		digest, sig  []byte
		want         error
		wantInReason string
	}{
		{"short signature", digest[:], sig[:63], ErrSignature, "63 bytes, want 64"},
		{"long signature", digest[:], append(bytes.Clone(sig), 0), ErrSignature, "65 bytes"},
		{"empty signature", digest[:], nil, ErrSignature, "0 bytes"},
		{"s = 0", digest[:], append(bytes.Clone(zero), sig[32:]...), ErrSignature, "s is not in"},
		{"r = 0", digest[:], append(bytes.Clone(sig[:32]), zero...), ErrSignature, "r is not in"},
		{"s = q", digest[:], append(bytes.Clone(q), sig[32:]...), ErrSignature, "s is not in"},
		{"r = q", digest[:], append(bytes.Clone(sig[:32]), q...), ErrSignature, "r is not in"},
		{"short digest", digest[:31], sig, nil, "digest is 31 bytes"},
	} {
		err := Verify(pub, tc.digest, tc.sig)
		if tc.want != nil {
			assert.ErrorIs(t, err, tc.want, tc.name)
		}
		assert.ErrorContains(t, err, tc.wantInReason, tc.name)
	}

	// Public keys.
	raw := pub.Bytes()
	_, err := ParsePublicKey(c, raw[:63])
	assert.ErrorIs(t, err, ErrPublicKey, "63-byte key")
	assert.ErrorContains(t, err, "63 bytes", "63-byte key")
	bad := bytes.Clone(raw)
	bad[40] ^= 1
	_, err = ParsePublicKey(c, bad)
	assert.ErrorIs(t, err, ErrPublicKey, "off-curve key")
	assert.ErrorContains(t, err, "not on", "off-curve key")
	pBytes := make([]byte, 32)
	putLE(pBytes, c.P)
	_, err = ParsePublicKey(c, append(pBytes, raw[32:]...))
	assert.ErrorIs(t, err, ErrPublicKey, "x = p")
	assert.ErrorIs(t, Verify(nil, digest[:], sig), ErrPublicKey, "nil key")
	// A key for another curve does not parse on this one.
	privB, _ := GenerateKey(CurveCryptoProB, rand.Reader)
	_, err = ParsePublicKey(c, privB.PublicKey.Bytes())
	assert.ErrorIs(t, err, ErrPublicKey, "curve B key on curve A")

	// Private keys and random sources.
	for _, d := range []*big.Int{nil, big.NewInt(0), big.NewInt(-1), c.Q} {
		_, err := NewPrivateKey(c, d)
		assert.ErrorIs(t, err, ErrPrivateKey, "d = %v", d)
	}
	_, err = Sign(bytes.NewReader(nil), priv, digest[:])
	assert.ErrorContains(t, err, "random", "empty random source")
	_, err = Sign(bytes.NewReader(make([]byte, 1<<16)), priv, digest[:])
	assert.Error(t, err, "all-zero random source gave a signature")
	_, err = Sign(rand.Reader, priv, digest[:16])
	assert.ErrorContains(t, err, "16 bytes", "16-byte digest")
}
