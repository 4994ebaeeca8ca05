package dstu_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/dstu"
	"github.com/signet-agent/signet/sdk/dstu/dstutest"
)

func fuzzKey(f *testing.F) *dstu.PrivateKey {
	k, err := dstu.GenerateKey(dstu.Curve257, nil)
	require.NoError(f, err)
	return k
}

// FuzzParseKey6 feeds arbitrary files to the Key-6.dat reader: it never
// panics, and whatever it accepts is a valid key.
func FuzzParseKey6(f *testing.F) {
	k := fuzzKey(f)
	f.Add(dstutest.Key6(f, k, "pw"), "pw")
	f.Add(dstutest.Key6(f, k, "pw"), "other")
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00}, "")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		got, err := dstu.ParseKey6(data, []byte(password))
		if err != nil {
			return
		}
		assert.True(t, got.D.Sign() > 0 && got.D.Cmp(got.Curve.N) < 0)
		assert.True(t, dstu.IsKey6(data))
	})
}

// FuzzParseParameters: accepted parameters name a standard curve and
// re-encode to parameters that parse to the same curve.
func FuzzParseParameters(f *testing.F) {
	for _, c := range dstu.Curves() {
		p, err := dstu.MarshalParameters(c)
		require.NoError(f, err)
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		c, _, err := dstu.ParseParameters(der)
		if err != nil {
			return
		}
		p, err := dstu.MarshalParameters(c)
		require.NoError(t, err)
		again, _, err := dstu.ParseParameters(p)
		require.NoError(t, err)
		assert.Same(t, c, again)
	})
}

// FuzzParsePKIXPublicKey covers certificate keys, explicit parameters
// included.
func FuzzParsePKIXPublicKey(f *testing.F) {
	k := fuzzKey(f)
	spki, err := dstu.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(f, err)
	f.Add(spki)
	f.Fuzz(func(t *testing.T, der []byte) {
		pub, err := dstu.ParsePKIXPublicKey(der)
		if err != nil {
			return
		}
		again, err := dstu.ParseCompressed(pub.Curve, pub.Compressed())
		require.NoError(t, err)
		assert.True(t, again.Equal(pub))
	})
}

// FuzzDecompress: a compressed key that decodes is a point of the
// subgroup, and compressing it gives the same bytes.
func FuzzDecompress(f *testing.F) {
	k := fuzzKey(f)
	f.Add(uint8(6), k.PublicKey.Compressed())
	f.Add(uint8(0), make([]byte, 21))
	f.Add(uint8(9), bytes.Repeat([]byte{0xFF}, 54))
	f.Fuzz(func(t *testing.T, idx uint8, b []byte) {
		c := dstu.Curves()[int(idx)%10]
		pub, err := dstu.ParseCompressed(c, b)
		if err != nil {
			return
		}
		assert.Equal(t, b, pub.Compressed())
	})
}

// FuzzContainerStructure covers the password-free parts of the PBES2 and
// PKCS#12 readers and the PrivateKeyInfo reader (the plaintext of every
// container).
func FuzzContainerStructure(f *testing.F) {
	k := fuzzKey(f)
	f.Add(dstutest.EncryptedKey(f, k, "x"))
	f.Add(dstutest.PKCS12(f, k, "x", dstutest.Certificate(f, k, "c")))
	pk, err := dstu.MarshalPrivateKey(k)
	require.NoError(f, err)
	f.Add(pk)
	f.Fuzz(func(t *testing.T, data []byte) {
		dstu.IsEncryptedPrivateKey(data)
		dstu.IsPKCS12(data)
		if got, err := dstu.ParsePrivateKey(data); err == nil {
			assert.True(t, got.D.Sign() > 0 && got.D.Cmp(got.Curve.N) < 0)
		}
	})
}
