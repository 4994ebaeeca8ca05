package dstutest

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/dstu"
	"github.com/signet-agent/signet/sdk/gost"
)

// pbes2 returns the GOST PBES2 AlgorithmIdentifier (PBKDF2 with
// HMAC-GOST 34.311-95, 10000 iterations; GOST 28147-89 CFB with the DKE)
// and plain encrypted under password, as Ukrainian CAs write them.
func pbes2(t testing.TB, plain []byte, password string) (pkix.AlgorithmIdentifier, []byte) {
	t.Helper()
	salt, iv := make([]byte, 32), make([]byte, 8)
	_, _ = rand.Read(salt)
	_, _ = rand.Read(iv)
	const iter = 10000
	key, err := pbkdf2.Key(dstu.New34311, password, salt, iter, 32)
	require.NoError(t, err)
	c, err := gost.NewCipher(key, dstu.SBoxDKE)
	require.NoError(t, err)
	out := make([]byte, len(plain))
	reg := append([]byte(nil), iv...)
	gamma := make([]byte, 8)
	for i := 0; i < len(plain); i += 8 {
		c.Encrypt(gamma, reg)
		n := min(8, len(plain)-i)
		for j := range n {
			out[i+j] = plain[i+j] ^ gamma[j]
		}
		copy(reg, out[i:i+n])
	}
	hmacAlg := pkix.AlgorithmIdentifier{Algorithm: dstu.OIDHMACGOST34311, Parameters: asn1.NullRawValue}
	kdfParams, err := asn1.Marshal(struct {
		Salt       []byte
		Iterations int
		PRF        pkix.AlgorithmIdentifier
	}{salt, iter, hmacAlg})
	require.NoError(t, err)
	cfbParams, err := asn1.Marshal(struct{ IV, DKE []byte }{iv, dstu.PackedDKE})
	require.NoError(t, err)
	params, err := asn1.Marshal(struct{ KDF, Enc pkix.AlgorithmIdentifier }{
		pkix.AlgorithmIdentifier{Algorithm: dstu.OIDPBKDF2, Parameters: asn1.RawValue{FullBytes: kdfParams}},
		pkix.AlgorithmIdentifier{Algorithm: dstu.OIDGOST28147CFB, Parameters: asn1.RawValue{FullBytes: cfbParams}},
	})
	require.NoError(t, err)
	return pkix.AlgorithmIdentifier{Algorithm: dstu.OIDPBES2, Parameters: asn1.RawValue{FullBytes: params}}, out
}

// EncryptedKey writes key as a PKCS#8 EncryptedPrivateKeyInfo under the
// GOST PBES2 scheme.
func EncryptedKey(t testing.TB, key *dstu.PrivateKey, password string) []byte {
	t.Helper()
	plain, err := dstu.MarshalPrivateKey(key)
	require.NoError(t, err)
	alg, enc := pbes2(t, plain, password)
	der, err := asn1.Marshal(struct {
		Alg  pkix.AlgorithmIdentifier
		Data []byte
	}{alg, enc})
	require.NoError(t, err)
	return der
}

// contentInfo and safeBag take their [0] EXPLICIT wrappers from explicit0
// (encoding/asn1 writes a RawValue's FullBytes as they are, tag or not).
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue
}

type safeBag struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue
}

func explicit0(inner []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}
}

func octets(t testing.TB, b []byte) asn1.RawValue {
	der, err := asn1.Marshal(b)
	require.NoError(t, err)
	return explicit0(der)
}

// PKCS12 writes a PFX as Ukrainian CAs issue DSTU keys: the key in a
// shrouded key bag and the certificates in an EncryptedData, both under
// the GOST PBES2 scheme with password. There is no MAC.
func PKCS12(t testing.TB, key *dstu.PrivateKey, password string, certs ...*x509.Certificate) []byte {
	t.Helper()
	oidData := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	keyBags, err := asn1.Marshal([]safeBag{{
		ID:    asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2},
		Value: explicit0(EncryptedKey(t, key, password)),
	}})
	require.NoError(t, err)
	var certBags []safeBag
	for _, c := range certs {
		cb, err := asn1.Marshal(struct {
			ID   asn1.ObjectIdentifier
			Data []byte `asn1:"tag:0,explicit"`
		}{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}, c.Raw})
		require.NoError(t, err)
		certBags = append(certBags, safeBag{ID: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}, Value: explicit0(cb)})
	}
	certDER, err := asn1.Marshal(certBags)
	require.NoError(t, err)
	alg, enc := pbes2(t, certDER, password)
	ed, err := asn1.Marshal(struct {
		Version int
		Info    struct {
			ContentType asn1.ObjectIdentifier
			Algorithm   pkix.AlgorithmIdentifier
			Content     []byte `asn1:"tag:0"`
		}
	}{Version: 0, Info: struct {
		ContentType asn1.ObjectIdentifier
		Algorithm   pkix.AlgorithmIdentifier
		Content     []byte `asn1:"tag:0"`
	}{oidData, alg, enc}})
	require.NoError(t, err)
	safes, err := asn1.Marshal([]contentInfo{
		{ContentType: oidData, Content: octets(t, keyBags)},
		{ContentType: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}, Content: explicit0(ed)},
	})
	require.NoError(t, err)
	der, err := asn1.Marshal(struct {
		Version  int
		AuthSafe contentInfo
	}{3, contentInfo{ContentType: oidData, Content: octets(t, safes)}})
	require.NoError(t, err)
	return der
}
