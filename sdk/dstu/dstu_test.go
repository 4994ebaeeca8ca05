package dstu

import (
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCurvesBasePointsValid(t *testing.T) {
	for i, c := range Curves() {
		assert.Equal(t, curveOID(i), c.OID)
		g := point{x: c.gx, y: c.gy}
		assert.True(t, c.onCurve(&g), c.Name)
		assert.True(t, c.scalarMult(&g, c.N.Bytes()).inf, c.Name)
		got, err := CurveByOID(c.OID)
		require.NoError(t, err)
		assert.Same(t, c, got)
	}
}

func TestSignVerifyEveryCurve(t *testing.T) {
	digest := make([]byte, 32)
	_, _ = rand.Read(digest)
	for _, c := range Curves() {
		t.Run(c.Name, func(t *testing.T) {
			k, err := GenerateKey(c, nil)
			require.NoError(t, err)
			sig, err := k.Sign(nil, digest, nil)
			require.NoError(t, err)
			assert.Len(t, sig, c.SignatureSize())
			require.NoError(t, k.PublicKey.Verify(digest, sig))

			bad := append([]byte(nil), digest...)
			bad[0] ^= 1
			assert.ErrorIs(t, k.PublicKey.Verify(bad, sig), ErrSignature)
			sig[1] ^= 1
			assert.ErrorIs(t, k.PublicKey.Verify(digest, sig), ErrSignature)

			pub, err := ParseCompressed(c, k.PublicKey.Compressed())
			require.NoError(t, err)
			assert.True(t, pub.Equal(&k.PublicKey))
		})
	}
}
