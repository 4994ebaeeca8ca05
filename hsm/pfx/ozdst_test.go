package pfx

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk/gost"
	"github.com/signet-agent/signet/sdk/gost/gosttest"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// encodeJavaStyle writes a PKCS#12 file the way JDK 8 and BouncyCastle key
// stores do: the key in a shrouded key bag under
// pbeWithSHAAnd3-KeyTripleDES-CBC, the certificates in an encryptedData
// under pbeWithSHAAnd40BitRC2-CBC, an HMAC-SHA-1 MAC, the alias as the
// friendlyName of key and leaf.
func encodeJavaStyle(t testing.TB, pkcs8 []byte, chain []*x509.Certificate, alias string, password []byte, iter int) []byte {
	t.Helper()
	pbe := func(alg asn1.ObjectIdentifier, data []byte) (pkix.AlgorithmIdentifier, []byte) {
		salt := make([]byte, 20)
		rand.Read(salt)
		ct, err := pkcs12PBECrypt(alg, password, salt, iter, data, false)
		require.NoError(t, err)
		params, err := asn1.Marshal(pbeParams{Salt: salt, Iterations: iter})
		require.NoError(t, err)
		return pkix.AlgorithmIdentifier{Algorithm: alg, Parameters: asn1.RawValue{FullBytes: params}}, ct
	}
	id := sha1.Sum(chain[0].Raw)
	attrs, err := bagAttrs(alias, id[:])
	require.NoError(t, err)
	keyAlg, keyCT := pbe(oidPBESHA3DES, pkcs8)
	epki, err := asn1.Marshal(encryptedPrivateKeyInfo{Algorithm: keyAlg, Data: keyCT})
	require.NoError(t, err)
	keyCI, err := dataContentInfo([]safeBag{{ID: oidShroudedKeyBag, Value: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: epki}, Attributes: attrs}})
	require.NoError(t, err)

	var certBags []safeBag
	for i, c := range chain {
		cb, err := asn1.Marshal(certBag{ID: oidX509Cert, Data: c.Raw})
		require.NoError(t, err)
		bag := safeBag{ID: oidCertBag, Value: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: cb}}
		if i == 0 {
			bag.Attributes = attrs
		}
		certBags = append(certBags, bag)
	}
	certsDER, err := asn1.Marshal(certBags)
	require.NoError(t, err)
	certAlg, certCT := pbe(oidPBESHARC240, certsDER)
	var ed encryptedData
	ed.EncryptedContentInfo.ContentType = oidData
	ed.EncryptedContentInfo.Algorithm = certAlg
	ed.EncryptedContentInfo.Content = certCT
	edDER, err := asn1.Marshal(ed)
	require.NoError(t, err)
	certCI := contentInfo{ContentType: oidEncryptedData, Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: edDER}}

	authSafe, err := asn1.Marshal([]contentInfo{keyCI, certCI})
	require.NoError(t, err)
	salt := make([]byte, 20)
	rand.Read(salt)
	mac, err := computeMAC(oidSHA1, password, salt, iter, authSafe)
	require.NoError(t, err)
	outer, err := octetContentInfo(authSafe)
	require.NoError(t, err)
	var md macData
	md.Mac.Algorithm = pkix.AlgorithmIdentifier{Algorithm: oidSHA1, Parameters: asn1NULL}
	md.Mac.Digest, md.MacSalt, md.Iterations = mac, salt, iter
	der, err := asn1.Marshal(pfxPDU{Version: 3, AuthSafe: outer, MacData: md})
	require.NoError(t, err)
	return der
}

// ozdstKey is an O'zDSt 1092 key on parameter set A with a certificate
// issued by an O'zDSt CA, as E-IMZO users hold them.
func ozdstKey(t testing.TB) (*gost.PrivateKey, []*x509.Certificate) {
	t.Helper()
	ca, err := gost.GenerateKeyOf(gost.KeyOzDSt1092, gost.CurveCryptoProA, rand.Reader)
	require.NoError(t, err)
	ca.ParamSet = "1.2.860.3.15.1.1.2.1.1"
	caCert, err := gosttest.Certificate(gosttest.Template{CommonName: "Test O'zDSt CA", IsCA: true}, &ca.PublicKey, ca, nil)
	require.NoError(t, err)
	k, err := gost.GenerateKeyOf(gost.KeyOzDSt1092, gost.CurveCryptoProA, rand.Reader)
	require.NoError(t, err)
	k.ParamSet = "1.2.860.3.15.1.1.2.1.1"
	cert, err := gosttest.Certificate(gosttest.Template{CommonName: "ALIYEV VALI"}, &k.PublicKey, ca, caCert)
	require.NoError(t, err)
	return k, []*x509.Certificate{cert, caCert}
}

// TestOzDStKeyFile: an E-IMZO-style key file (DSKEYS/DS….pfx) with an
// O'zDSt key, in the JDK/BouncyCastle PKCS#12 layout and with the key in
// either PKCS#8 layout, lists its alias without the password, unlocks,
// pairs the key with its certificate, names the algorithm, and signs a
// GOST R 34.11-94 digest that verifies. A wrong password is one.
func TestOzDStKeyFile(t *testing.T) {
	k, chain := ozdstKey(t)
	sec1, err := gost.MarshalOzDStPKCS8PrivateKey(k)
	require.NoError(t, err)
	gostForm, err := gost.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	const alias = "cn=aliyev vali,serialnumber=1a2b3c,validfrom=2026.01.01 00:00:00,validto=2028.01.01 23:59:59"
	for name, pkcs8 := range map[string][]byte{"E-IMZO layout": sec1, "GOST layout": gostForm} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "DSKEYS")
			require.NoError(t, os.MkdirAll(dir, 0o700))
			path := filepath.Join(dir, "DS4123456780001.pfx")
			require.NoError(t, os.WriteFile(path, encodeJavaStyle(t, pkcs8, chain, alias, []byte("12345678"), 1024), 0o600))

			_, err := decode(mustRead(t, path), []byte("87654321"))
			assert.ErrorIs(t, err, pkcs12.ErrIncorrectPassword)

			b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: (&prompter{answers: []string{"12345678"}}).prompt})
			locked := onlyKey(t, b)
			assert.Equal(t, KeyURI(path, alias), locked.URI, "the alias is the friendlyName, read without the password")
			digest := gost.Sum94CryptoPro([]byte("hujjat"))
			sig, err := b.Sign(context.Background(), locked.URI, digest[:], crypto.Hash(0))
			require.NoError(t, err)
			key := onlyKey(t, b)
			require.NotNil(t, key.Certificate)
			assert.Equal(t, chain[0].Raw, key.Certificate.Raw)
			require.Len(t, key.Chain, 1)
			assert.Equal(t, chain[1].Raw, key.Chain[0].Raw)
			assert.Equal(t, hsm.KeyAlgorithm("O'zDSt 1092:2009"), key.Algorithm)
			assert.NoError(t, gost.Verify(&k.PublicKey, digest[:], sig))
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}
