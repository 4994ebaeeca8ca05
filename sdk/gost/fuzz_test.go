package gost

import (
	"bytes"
	"crypto/rand"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzGostVerify: arbitrary key, digest and signature bytes never panic;
// anything that is not a well-formed public key or signature is an error
// wrapping ErrPublicKey / ErrSignature or naming the digest size.
func FuzzGostVerify(f *testing.F) {
	c := CurveCryptoProA
	priv, err := NewPrivateKey(c, big.NewInt(123456789))
	require.NoError(f, err)
	digest := Sum94CryptoPro([]byte("seed"))
	sig, err := Sign(rand.Reader, priv, digest[:])
	require.NoError(f, err)
	key := priv.PublicKey.Bytes()
	f.Add(key, digest[:], sig)
	f.Add(key, digest[:], sig[:63])
	f.Add(key[:63], digest[:], sig)
	f.Add(make([]byte, 64), make([]byte, 32), make([]byte, 64))
	f.Add(bytes.Repeat([]byte{0xFF}, 64), digest[:], bytes.Repeat([]byte{0xFF}, 64))
	f.Add(key, digest[:31], sig)
	f.Fuzz(func(t *testing.T, key, digest, sig []byte) {
		pub, err := ParsePublicKey(c, key)
		if err != nil {
			require.ErrorIs(t, err, ErrPublicKey, "ParsePublicKey")
			return
		}
		if err := Verify(pub, digest, sig); err != nil {
			if len(digest) == Size94 {
				require.ErrorIs(t, err, ErrSignature, "Verify")
			}
			return
		}
		// A signature that verifies must at least be well-formed.
		require.Len(t, sig, SignatureSize, "verified with %d-byte signature, %d-byte digest", len(sig), len(digest))
		require.Len(t, digest, Size94, "verified with %d-byte signature, %d-byte digest", len(sig), len(digest))
	})
}

// FuzzGost94Streaming: writing a message in arbitrary pieces (cut points
// taken from cuts) gives the one-shot digest, and Sum in the middle does
// not disturb the state.
func FuzzGost94Streaming(f *testing.F) {
	f.Add([]byte(""), []byte{})
	f.Add([]byte("abc"), []byte{1, 1})
	f.Add(bytes.Repeat([]byte("x"), 100), []byte{31, 1, 32, 0, 33})
	f.Add(bytes.Repeat([]byte{0xFF}, 64), []byte{32})
	f.Fuzz(func(t *testing.T, msg, cuts []byte) {
		want := Sum94CryptoPro(msg)
		h := New94CryptoPro()
		rest := msg
		for _, c := range cuts {
			n := min(int(c), len(rest))
			h.Write(rest[:n])
			rest = rest[n:]
			h.Sum(nil)
		}
		h.Write(rest)
		got := h.Sum(nil)
		require.Equal(t, want[:], got, "streamed %x, one-shot %x", got, want)
	})
}
