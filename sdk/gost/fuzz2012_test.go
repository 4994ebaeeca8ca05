package gost

import (
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzGostParsePKIXPublicKey: arbitrary DER never panics; a rejection
// wraps ErrPublicKey; an accepted key re-encodes to a key that parses
// equal.
func FuzzGostParsePKIXPublicKey(f *testing.F) {
	for _, kc := range keyCases {
		priv, err := GenerateKeyOf(kc.t, kc.c, rand.Reader)
		require.NoError(f, err)
		der, err := MarshalPKIXPublicKey(&priv.PublicKey)
		require.NoError(f, err)
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		pub, err := ParsePKIXPublicKey(der)
		if err != nil {
			require.ErrorIs(t, err, ErrPublicKey)
			return
		}
		again, err := MarshalPKIXPublicKey(pub)
		require.NoError(t, err)
		back, err := ParsePKIXPublicKey(again)
		require.NoError(t, err)
		require.True(t, back.Equal(pub))
	})
}

// FuzzGostParsePKCS8PrivateKey: arbitrary DER never panics; a rejection
// wraps ErrPrivateKey; an accepted key has d in (0, q) and signs.
func FuzzGostParsePKCS8PrivateKey(f *testing.F) {
	for _, kc := range keyCases {
		priv, err := GenerateKeyOf(kc.t, kc.c, rand.Reader)
		require.NoError(f, err)
		der, err := MarshalPKCS8PrivateKey(priv)
		require.NoError(f, err)
		f.Add(der)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		priv, err := ParsePKCS8PrivateKey(der)
		if err != nil {
			require.ErrorIs(t, err, ErrPrivateKey)
			return
		}
		require.True(t, priv.D.Sign() > 0 && priv.D.Cmp(priv.Curve.Q) < 0)
		digest := make([]byte, priv.Curve.Size())
		sig, err := priv.Sign(rand.Reader, digest, nil)
		require.NoError(t, err)
		require.NoError(t, Verify(&priv.PublicKey, digest, sig))
	})
}
