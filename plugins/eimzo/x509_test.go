package eimzo_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tashkentDate is how E-IMZO writes a certificate date.
func tashkentDate(t time.Time) string {
	return t.In(time.FixedZone("UZT", 5*3600)).Format("2006.01.02 15:04:05")
}

func TestX509GetCertificateInfo(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	url := endpoint(h, "ws")
	pki, err := softhsmtest.NewPKI("X509 Info")
	require.NoError(t, err)
	// A real certificate's validity ends at 18:59:59Z: E-IMZO prints it as
	// 23:59:59 Tashkent time.
	notAfter := time.Date(2027, 4, 25, 18, 59, 59, 0, time.UTC)
	k, err := pki.NewEIMZOKey(softhsmtest.ECP256, softhsmtest.EIMZOEmployee, softhsmtest.IssueOptions{
		NotBefore: time.Date(2025, 4, 25, 12, 42, 58, 0, time.UTC), NotAfter: notAfter,
		SerialNumber: big.NewInt(0x71c4eb12),
	})
	require.NoError(t, err)
	cert := k.Certificate
	pemCert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	for _, in := range []string{base64.StdEncoding.EncodeToString(cert.Raw), pemCert} {
		reply := mustOK(t, "get_certificate_info", call(t, h, url, testOrigin, fn("x509", "get_certificate_info", in)))
		info, ok := reply["certificate_info"].(map[string]any)
		require.True(t, ok, "no certificate_info in %v", reply)
		want := map[string]any{
			"serialNumber": "71c4eb12",
			"subjectName": `CN=KARIMOVA DILNOZA RUSTAMOVNA,NAME=DILNOZA,SURNAME=KARIMOVA,O=\"SIGNET TEST\" MCHJ,L=CHILONZOR TUMANI,` +
				`ST=TOSHKENT SHAHRI,C=UZ,UID=487654321,1.2.860.3.16.1.2=42507880230011,T=DIREKTOR,1.2.860.3.16.1.1=305123456,BUSINESSCATEGORY=MCHJ`,
			// The test PKI's names (crypto/x509) are O then CN, in
			// certificate order.
			"issuerName": "O=Signet Test,CN=X509 Info Intermediate CA",
			"validFrom":  "2025.04.25 17:42:58",
			"validTo":    "2027.04.25 23:59:59",
		}
		for f, w := range want {
			assert.Equal(t, w, info[f], f)
		}
		pk := info["publicKey"].(map[string]any)
		assert.Equal(t, "EC", pk["keyAlgName"], "publicKey %v", pk)
		assert.Equal(t, base64.StdEncoding.EncodeToString(cert.RawSubjectPublicKeyInfo), pk["publicKey"], "publicKey")
		sig := info["signature"].(map[string]any)
		assert.Equal(t, "SHA256withECDSA", sig["signAlgName"], "signature %v", sig)
		assert.Equal(t, hex.EncodeToString(cert.Signature), sig["signature"], "signature")
		si := info["subjectInfo"].(map[string]any)
		assert.Equal(t, "487654321", si["UID"], "subjectInfo %v", si)
		assert.Equal(t, "42507880230011", si["1.2.860.3.16.1.2"], "subjectInfo %v", si)
		assert.Equal(t, "KARIMOVA DILNOZA RUSTAMOVNA", si["CN"], "subjectInfo %v", si)
	}
	// An RSA certificate (the token's).
	rsa := h.Key(t, plugintest.KeyRSA).Certificate
	reply := mustOK(t, "rsa info", call(t, h, url, testOrigin, fn("x509", "get_certificate_info", base64.StdEncoding.EncodeToString(rsa.Raw))))
	info := reply["certificate_info"].(map[string]any)
	assert.Equal(t, "RSA", info["publicKey"].(map[string]any)["keyAlgName"], "RSA certificate info %v", info)
	assert.Equal(t, rsa.SerialNumber.Text(16), info["serialNumber"], "RSA certificate serial")
	assert.Equal(t, tashkentDate(rsa.NotAfter), info["validTo"], "RSA certificate validTo")

	for _, bad := range []string{"", "!!!", base64.StdEncoding.EncodeToString([]byte("not a certificate")), "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----",
		strings.Repeat("A", 200<<10)} { // over MaxCertificate (64 KiB)
		reason := mustFail(t, "bad input", call(t, h, url, testOrigin, fn("x509", "get_certificate_info", bad)), -9999)
		assert.Contains(t, reason, "certificate_64", "reason does not name the argument")
	}
}

func TestX509VerifyCertificate(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	url := endpoint(h, "ws")
	pki := h.Fixture.PKI
	user := h.Key(t, plugintest.KeyECDSA).Certificate
	enc := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	mustOK(t, "user by intermediate", call(t, h, url, testOrigin, fn("x509", "verify_certificate", enc(user.Raw), enc(pki.Intermediate.Raw))))
	mustOK(t, "intermediate by root", call(t, h, url, testOrigin, fn("x509", "verify_certificate", enc(pki.Intermediate.Raw), enc(pki.Root.Raw))))
	mustOK(t, "root by itself", call(t, h, url, testOrigin, fn("x509", "verify_certificate", enc(pki.Root.Raw), enc(pki.Root.Raw))))

	other, err := softhsmtest.NewPKI("Signet Test") // same names, other keys
	require.NoError(t, err)
	for _, tt := range []struct{ name, subject, issuer string }{
		{"user by root", enc(user.Raw), enc(pki.Root.Raw)},
		{"user by a look-alike intermediate", enc(user.Raw), enc(other.Intermediate.Raw)},
		{"root by intermediate", enc(pki.Root.Raw), enc(pki.Intermediate.Raw)},
		{"user by user", enc(user.Raw), enc(user.Raw)},
	} {
		reason := mustFail(t, tt.name, call(t, h, url, testOrigin, fn("x509", "verify_certificate", tt.subject, tt.issuer)), -9999)
		assert.Contains(t, reason, "не подписан", "%s: reason", tt.name)
	}
	mustFail(t, "garbage", call(t, h, url, testOrigin, fn("x509", "verify_certificate", "xx", enc(pki.Root.Raw))), -9999)
	mustFail(t, "one argument", call(t, h, url, testOrigin, fn("x509", "verify_certificate", enc(user.Raw))), 0)
}

func TestX509GetCertificateChain(t *testing.T) {
	log := &consentLog{}
	h, key := tokenHost(t, plugintest.KeyECDSA, &plugintest.Config{Consent: log})
	url := endpoint(h, "ws")
	reply := mustOK(t, "chain", call(t, h, url, testOrigin, fn("x509", "get_certificate_chain", "ckc")))
	certs, ok := reply["certificates"].([]any)
	require.True(t, ok, "certificates %v", reply["certificates"])
	require.NotEmpty(t, certs, "certificates")
	require.Equal(t, base64.StdEncoding.EncodeToString(key.Certificate.Raw), certs[0], "first certificate")
	for i, c := range key.Chain {
		if assert.Greater(t, len(certs), i+1, "chain certificate %d missing", i) {
			assert.Equal(t, base64.StdEncoding.EncodeToString(c.Raw), certs[i+1], "chain certificate %d", i)
		}
	}
	// The lookup went through the host with the caller's origin.
	reqs := log.withSummary("portal.example asks for the certificate chain of " + key.Certificate.Subject.CommonName)
	if assert.Len(t, reqs, 1, "chain lookup requests %v", reqs) {
		assert.Equal(t, testOrigin, reqs[0].Origin, "chain lookup origin")
	}
	mustFail(t, "unknown id", call(t, h, url, testOrigin, fn("x509", "get_certificate_chain", "00112233445566778899aabbccddeeff")), -1010)
	mustFail(t, "no origin", call(t, h, url, "", fn("x509", "get_certificate_chain", "ckc")), -1021)
}

// TestX509ChainOfPFXKey: a key file's chain is user, CA, root.
func TestX509ChainOfPFXKey(t *testing.T) {
	h, fxs := pfxEnv(t, nil)
	f := pfxFixtureByName(t, fxs, "DILNOZA")
	id := loadKey(t, h, testOrigin, f, f.Alias)
	reply := mustOK(t, "chain", call(t, h, endpoint(h, "ws"), testOrigin, fn("x509", "get_certificate_chain", id)))
	certs, _ := reply["certificates"].([]any)
	want := append([]*x509.Certificate{f.Cert}, f.Chain...)
	require.Len(t, certs, 3, "certificates %v, want user, CA, root", certs)
	for i, c := range want {
		assert.Equal(t, base64.StdEncoding.EncodeToString(c.Raw), certs[i], "certificate %d is not %s", i, c.Subject)
	}
	// Each verifies with the next.
	for i := 0; i < 2; i++ {
		mustOK(t, "verify", call(t, h, endpoint(h, "ws"), testOrigin, fn("x509", "verify_certificate", certs[i].(string), certs[i+1].(string))))
	}
}

// ozdstCertificate issues (with pki's intermediate, ECDSA) a certificate
// whose public key is an O'zDSt 1092 key (algorithm
// 1.2.860.3.15.1.1.2.1, parameters {1.2.860.3.15.1.1.2.1.1}, a 64-byte
// OCTET STRING): crypto/x509 cannot create one, so the TBS is built here.
func ozdstCertificate(t testing.TB, pki *softhsmtest.PKI) *x509.Certificate {
	t.Helper()
	type algID struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue `asn1:"optional"`
	}
	params, _ := asn1.Marshal(struct{ Set asn1.ObjectIdentifier }{asn1.ObjectIdentifier{1, 2, 860, 3, 15, 1, 1, 2, 1, 1}})
	point, _ := asn1.Marshal(bytes.Repeat([]byte{0x5a}, 64))
	spki, err := asn1.Marshal(struct {
		Alg algID
		Key asn1.BitString
	}{algID{asn1.ObjectIdentifier{1, 2, 860, 3, 15, 1, 1, 2, 1}, asn1.RawValue{FullBytes: params}}, asn1.BitString{Bytes: point, BitLength: 8 * len(point)}})
	require.NoError(t, err)
	subject, err := asn1.Marshal(pkix.Name{CommonName: "OZDST TEST"}.ToRDNSequence())
	require.NoError(t, err)
	sigAlg := algID{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}}
	tbs, err := asn1.Marshal(struct {
		Version  int `asn1:"explicit,tag:0"`
		Serial   *big.Int
		SigAlg   algID
		Issuer   asn1.RawValue
		Validity struct{ NotBefore, NotAfter time.Time }
		Subject  asn1.RawValue
		SPKI     asn1.RawValue
	}{2, big.NewInt(0x777a2a2b), sigAlg, asn1.RawValue{FullBytes: pki.Intermediate.RawSubject},
		struct{ NotBefore, NotAfter time.Time }{time.Now().Add(-time.Hour).UTC().Truncate(time.Second), time.Now().Add(time.Hour).UTC().Truncate(time.Second)},
		asn1.RawValue{FullBytes: subject}, asn1.RawValue{FullBytes: spki}})
	require.NoError(t, err)
	digest := sha256.Sum256(tbs)
	sig, err := ecdsa.SignASN1(rand.Reader, pki.IntermediateKey, digest[:])
	require.NoError(t, err)
	der, err := asn1.Marshal(struct {
		TBS    asn1.RawValue
		SigAlg algID
		Sig    asn1.BitString
	}{asn1.RawValue{FullBytes: tbs}, sigAlg, asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert
}

// TestX509OzDStCertificate: a certificate with an O'zDSt key is described
// (E-IMZO's algorithm name) and verified against its issuer.
func TestX509OzDStCertificate(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	url := endpoint(h, "ws")
	pki := h.Fixture.PKI
	cert := ozdstCertificate(t, pki)
	enc := base64.StdEncoding.EncodeToString
	reply := mustOK(t, "info", call(t, h, url, testOrigin, fn("x509", "get_certificate_info", enc(cert.Raw))))
	info := reply["certificate_info"].(map[string]any)
	assert.Equal(t, "OZDST-1092-2009-2", info["publicKey"].(map[string]any)["keyAlgName"], "O'zDSt certificate info %v", info)
	assert.Equal(t, "777a2a2b", info["serialNumber"], "O'zDSt certificate serial")
	assert.Equal(t, "CN=OZDST TEST", info["subjectName"], "O'zDSt certificate subject")

	mustOK(t, "verify", call(t, h, url, testOrigin, fn("x509", "verify_certificate", enc(cert.Raw), enc(pki.Intermediate.Raw))))
}
