package gost

import (
	"crypto/rand"
	"encoding/asn1"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOzDStPKCS8RoundTrip(t *testing.T) {
	priv, err := GenerateKeyOf(KeyOzDSt1092, CurveCryptoProA, rand.Reader)
	require.NoError(t, err)
	priv.ParamSet = "1.2.860.3.15.1.1.2.1.1"
	der, err := MarshalOzDStPKCS8PrivateKey(priv)
	require.NoError(t, err)

	// The layout: parameters a bare OID, privateKey a SEC 1 ECPrivateKey
	// with d big-endian and the same OID under [0].
	var info pkcs8
	_, err = asn1.Unmarshal(der, &info)
	require.NoError(t, err)
	var ps asn1.ObjectIdentifier
	_, err = asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &ps)
	require.NoError(t, err)
	assert.Equal(t, "1.2.860.3.15.1.1.2.1.1", ps.String())
	var ec ecPrivateKey
	_, err = asn1.Unmarshal(info.PrivateKey, &ec)
	require.NoError(t, err)
	assert.Equal(t, priv.D.FillBytes(make([]byte, 32)), ec.PrivateKey)

	got, err := ParseOzDStPKCS8PrivateKey(der)
	require.NoError(t, err)
	assert.True(t, got.Equal(priv))
	assert.Equal(t, KeyOzDSt1092, got.Type)
	assert.Equal(t, "1.2.860.3.15.1.1.2.1.1", got.ParamSet)

	digest := Sum94CryptoPro([]byte("O'zDSt"))
	sig, err := got.Sign(rand.Reader, digest[:], nil)
	require.NoError(t, err)
	assert.NoError(t, Verify(&priv.PublicKey, digest[:], sig))
}

func TestOzDStPKCS8Variants(t *testing.T) {
	priv, err := NewPrivateKeyOf(KeyOzDSt1092, CurveCryptoProA, big.NewInt(0x1234567))
	require.NoError(t, err)
	other, err := NewPrivateKeyOf(KeyOzDSt1092, CurveCryptoProA, big.NewInt(0x7654321))
	require.NoError(t, err)
	paramA := asn1.ObjectIdentifier{1, 2, 860, 3, 15, 1, 1, 2, 1, 1}
	paramC := asn1.ObjectIdentifier{1, 2, 860, 3, 15, 1, 1, 2, 1, 3}
	enc := func(params any, key []byte) []byte {
		p, err := asn1.Marshal(params)
		require.NoError(t, err)
		der, err := asn1.Marshal(pkcs8{Algorithm: algorithmIdentifier{Algorithm: OIDPublicKeyOzDSt, Parameters: asn1.RawValue{FullBytes: p}}, PrivateKey: key})
		require.NoError(t, err)
		return der
	}
	sec1 := func(named asn1.ObjectIdentifier, pub *PublicKey) []byte {
		k := ecPrivateKey{Version: 1, PrivateKey: priv.D.Bytes(), Parameters: named}
		if pub != nil {
			point, err := asn1.Marshal(pub.Bytes())
			require.NoError(t, err)
			k.PublicKey = asn1.BitString{Bytes: point, BitLength: 8 * len(point)}
		}
		der, err := asn1.Marshal(k)
		require.NoError(t, err)
		return der
	}
	intD, err := asn1.Marshal(priv.D)
	require.NoError(t, err)

	for name, der := range map[string][]byte{
		"NULL parameters, SEC 1 names the curve": enc(asn1.NullRawValue, sec1(paramA, nil)),
		"bare OID, SEC 1 without curve":          enc(paramA, sec1(nil, &priv.PublicKey)),
		"bare INTEGER under NULL (curve A)":      enc(asn1.NullRawValue, intD),
	} {
		got, err := ParseOzDStPKCS8PrivateKey(der)
		if assert.NoError(t, err, name) {
			assert.Zero(t, got.D.Cmp(priv.D), name)
			assert.Equal(t, CurveCryptoProA, got.Curve, name)
		}
	}
	for name, tc := range map[string]struct {
		der  []byte
		want string
	}{
		"public key of another d":  {enc(paramA, sec1(paramA, &other.PublicKey)), "not d·P"},
		"curves disagree":          {enc(paramA, sec1(paramC, nil)), "names curve"},
		"GOST SEQUENCE parameters": {enc([]asn1.ObjectIdentifier{paramA}, sec1(nil, nil)), "SEQUENCE form"},
		"no curve at all":          {enc(asn1.NullRawValue, sec1(nil, nil)), "names no parameter set"},
		"garbage private key":      {enc(paramA, []byte{1, 2, 3}), "neither a SEC 1"},
	} {
		_, err := ParseOzDStPKCS8PrivateKey(tc.der)
		assert.ErrorIs(t, err, ErrPrivateKey, name)
		assert.ErrorContains(t, err, tc.want, name)
	}
}

// FuzzParseOzDStPKCS8: arbitrary bytes never panic; failures wrap
// ErrPrivateKey; a parsed key re-encodes to a key that parses equal.
func FuzzParseOzDStPKCS8(f *testing.F) {
	priv, err := NewPrivateKeyOf(KeyOzDSt1092, CurveCryptoProA, big.NewInt(987654321))
	require.NoError(f, err)
	der, err := MarshalOzDStPKCS8PrivateKey(priv)
	require.NoError(f, err)
	f.Add(der)
	f.Add(der[:len(der)-3])
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		k, err := ParseOzDStPKCS8PrivateKey(der)
		if err != nil {
			require.ErrorIs(t, err, ErrPrivateKey)
			return
		}
		again, err := MarshalOzDStPKCS8PrivateKey(k)
		require.NoError(t, err)
		k2, err := ParseOzDStPKCS8PrivateKey(again)
		require.NoError(t, err)
		require.True(t, k2.Equal(k))
	})
}
