package eimzo_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eimzoSubject is a subject in E-IMZO's X.500 form (certificate order,
// national OIDs, a quoted value with a comma).
const eimzoSubject = `CN=KARIMOVA DILNOZA RUSTAMOVNA,NAME=DILNOZA,SURNAME=KARIMOVA,O="SIGNET TEST, MCHJ",L=CHILONZOR TUMANI,` +
	`ST=TOSHKENT SHAHRI,C=UZ,UID=487654321,1.2.860.3.16.1.2=42507880230011,T=DIREKTOR,1.2.860.3.16.1.1=305123456`

// eimzoSubjectRDNs is eimzoSubject as (OID, value) pairs in order.
var eimzoSubjectRDNs = [][2]string{
	{"2.5.4.3", "KARIMOVA DILNOZA RUSTAMOVNA"}, {"2.5.4.41", "DILNOZA"}, {"2.5.4.4", "KARIMOVA"},
	{"2.5.4.10", "SIGNET TEST, MCHJ"}, {"2.5.4.7", "CHILONZOR TUMANI"}, {"2.5.4.8", "TOSHKENT SHAHRI"},
	{"2.5.4.6", "UZ"}, {"0.9.2342.19200300.100.1.1", "487654321"}, {"1.2.860.3.16.1.2", "42507880230011"},
	{"2.5.4.12", "DIREKTOR"}, {"1.2.860.3.16.1.1", "305123456"},
}

// rdnPairs lists a DER name's attributes in order.
func rdnPairs(t testing.TB, der []byte) [][2]string {
	t.Helper()
	var rdns pkix.RDNSequence
	_, err := asn1.Unmarshal(der, &rdns)
	require.NoError(t, err)
	var out [][2]string
	for _, rdn := range rdns {
		for _, a := range rdn {
			out = append(out, [2]string{a.Type.String(), a.Value.(string)})
		}
	}
	return out
}

// checkCSR parses a pkcs10_64 reply, verifies it with openssl and Go, and
// checks its key (pub, if not nil), subject (DER, if not nil) and
// policies.
func checkCSR(t testing.TB, reply map[string]any, pub any, subject []byte, policies []string) *x509.CertificateRequest {
	t.Helper()
	der := unb64(t, str(t, reply, "pkcs10_64"))
	csr, err := x509.ParseCertificateRequest(der)
	require.NoError(t, err)
	require.NoError(t, csr.CheckSignature(), "CSR signature")
	if pub != nil {
		type equaler interface{ Equal(x crypto.PublicKey) bool }
		require.True(t, pub.(equaler).Equal(csr.PublicKey), "CSR is for another key")
	}
	if subject != nil {
		require.Equal(t, rdnPairs(t, subject), rdnPairs(t, csr.RawSubject), "CSR subject")
		require.Equal(t, subject, csr.RawSubject, "CSR subject DER")
	}
	f := filepath.Join(t.TempDir(), "req.der")
	require.NoError(t, os.WriteFile(f, der, 0o600))
	out, err := exec.Command("openssl", "req", "-inform", "DER", "-in", f, "-verify", "-noout", "-text").CombinedOutput()
	require.NoError(t, err, "openssl req -verify:\n%s", out)
	require.Contains(t, string(out), "verify OK", "openssl req -verify")
	var got []string
	for _, e := range csr.Extensions {
		if e.Id.String() == "2.5.29.32" {
			var pols []struct{ Policy asn1.ObjectIdentifier }
			_, err := asn1.Unmarshal(e.Value, &pols)
			require.NoError(t, err)
			for _, p := range pols {
				got = append(got, p.Policy.String())
			}
		}
	}
	require.Equal(t, strings.Join(policies, ","), strings.Join(got, ","), "policies")
	for _, p := range policies {
		assert.Contains(t, string(out), "Policy: "+p, "openssl does not show policy %s", p)
	}
	return csr
}

// keygenHost starts the plugin with keygen_token set to the plugintest
// token and removes the key pairs it generates when the test ends.
func keygenHost(t testing.TB, cfg *plugintest.Config) *plugintest.Host {
	t.Helper()
	h0 := plugintest.Start(t, pkg, nil)
	toks, err := h0.Store.Tokens(context.Background())
	require.NoError(t, err)
	var uri string
	for _, tok := range toks {
		if tok.Label == plugintest.TokenLabel {
			uri = tok.URI
		}
	}
	require.NotEmpty(t, uri, "no plugintest token in %v", toks)
	if cfg == nil {
		cfg = &plugintest.Config{}
	}
	cfg.Options = map[string]string{"keygen_token": uri}
	h := plugintest.Start(t, pkg, cfg)
	t.Cleanup(func() { deleteGeneratedKeys(t, h) })
	return h
}

// deleteGeneratedKeys removes generate_keypair's keys from the token.
func deleteGeneratedKeys(t testing.TB, h *plugintest.Host) {
	keys, _ := h.Store.Keys(context.Background())
	for _, k := range keys {
		if strings.HasPrefix(k.Label, "eimzo-keypair-") && len(k.ID) > 0 {
			if err := h.Fixture.Token.DeleteObjects(k.ID); err != nil {
				t.Logf("delete generated key %s: %v", k.Label, err)
			}
		}
	}
}

const kpIDPattern = `^[0-9a-f]{32}$`

func TestPKCS10GenerateKeypairAndCreate(t *testing.T) {
	log := &consentLog{}
	h := keygenHost(t, &plugintest.Config{Consent: log})
	url := endpoint(h, "ws")
	policies := []string{"1.2.860.3.2.2.1.2.1", "1.2.860.3.2.2.1.2.4"}
	for _, alg := range []string{"RSA-2048", "ECDSA-P256", "ed25519", "ec_p384"} {
		t.Run(alg, func(t *testing.T) {
			kp := mustOK(t, "generate "+alg, call(t, h, url, testOrigin, fn("pkcs10", "generate_keypair", alg)))
			id := str(t, kp, "kpId")
			require.Regexp(t, kpIDPattern, id, "generate_keypair: %v", kp)
			require.Equal(t, "KEY_PAIR", kp["type"], "generate_keypair: %v", kp)
			reply := mustOK(t, "create_pkcs10", call(t, h, url, testOrigin, fn("pkcs10", "create_pkcs10", id, eimzoSubject, " 1.2.860.3.2.2.1.2.1 ,1.2.860.3.2.2.1.2.4")))
			der := unb64(t, str(t, reply, "pkcs10_64"))
			csr, err := x509.ParseCertificateRequest(der)
			require.NoError(t, err)
			got := rdnPairs(t, csr.RawSubject)
			require.Len(t, got, len(eimzoSubjectRDNs), "subject %v", got)
			for i := range got {
				assert.Equal(t, eimzoSubjectRDNs[i], got[i], "RDN %d", i)
			}
			checkCSR(t, reply, nil, csr.RawSubject, policies)

			// get_pkcs10_info, base64 and PEM.
			pemCSR := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
			for _, in := range []string{str(t, reply, "pkcs10_64"), pemCSR} {
				info := mustOK(t, "info", call(t, h, url, testOrigin, fn("pkcs10", "get_pkcs10_info", in)))
				assert.Equal(t, reply["pkcs10_64"], info["pkcs10_64"], "pkcs10_64 differs")
				pi := info["pkcs10_info"].(map[string]any)
				assert.Equal(t, `CN=KARIMOVA DILNOZA RUSTAMOVNA,NAME=DILNOZA,SURNAME=KARIMOVA,O=SIGNET TEST\, MCHJ,L=CHILONZOR TUMANI,`+
					`ST=TOSHKENT SHAHRI,C=UZ,UID=487654321,1.2.860.3.16.1.2=42507880230011,T=DIREKTOR,1.2.860.3.16.1.1=305123456`,
					pi["subjectName"], "pkcs10_info subjectName")
				assert.Equal(t, true, pi["signatureValid"], "pkcs10_info %v", pi)
				assert.Len(t, pi["policyIdentifiers"], 2, "pkcs10_info policyIdentifiers")
			}

			// A key pair has no certificate: no signature, no chain, no
			// request "from the key".
			mustFail(t, "sign with a key pair", call(t, h, url, testOrigin, fn("pkcs7", "create_pkcs7", b64([]byte("x")), id)), -1018)
			r := mustFail(t, "chain of a key pair", call(t, h, url, testOrigin, fn("x509", "get_certificate_chain", id)), -1018)
			assert.Contains(t, r, "не применим для сертификата", "-1018 reason")
			mustFail(t, "from_key with a key pair", call(t, h, url, testOrigin, fn("pkcs10", "create_pkcs10_from_key", id)), -1015)
			// Another domain does not know the id.
			mustFail(t, "other domain", call(t, h, url, "https://other.example", fn("pkcs10", "create_pkcs10", id, "CN=x")), -1011)
		})
	}
	assert.Len(t, log.withSummary("portal.example asks to generate a new RSA-2048 key pair"), 1, "keygen consent requests")
	assert.Len(t, log.withSummary(`asks to create a certificate request for "CN=KARIMOVA DILNOZA RUSTAMOVNA,`), 4, "CSR consent requests")
}

func TestPKCS10FromKey(t *testing.T) {
	h, key := tokenHost(t, plugintest.KeyECDSA, nil)
	url := endpoint(h, "ws")
	// The certificate's own subject, no policies (the test certificate has
	// none).
	reply := mustOK(t, "from key", call(t, h, url, testOrigin, fn("pkcs10", "create_pkcs10_from_key", "ckc")))
	checkCSR(t, reply, key.PublicKey, key.Certificate.RawSubject, nil)
	reply = mustOK(t, "from key, empty args", call(t, h, url, testOrigin, fn("pkcs10", "create_pkcs10_from_key", "ckc", "", "")))
	checkCSR(t, reply, key.PublicKey, key.Certificate.RawSubject, nil)
	// A replacement subject and policies.
	reply = mustOK(t, "replacement", call(t, h, url, testOrigin, fn("pkcs10", "create_pkcs10_from_key", "ckc", eimzoSubject, "1.2.860.3.2.2.1.2.2")))
	csr := checkCSR(t, reply, key.PublicKey, nil, []string{"1.2.860.3.2.2.1.2.2"})
	if got := rdnPairs(t, csr.RawSubject); assert.Len(t, got, len(eimzoSubjectRDNs), "replacement subject %v", got) {
		assert.Equal(t, eimzoSubjectRDNs[0], got[0], "replacement subject: first RDN")
		assert.Equal(t, eimzoSubjectRDNs[10], got[10], "replacement subject: last RDN")
	}
}

func TestPKCS10Errors(t *testing.T) {
	h, _ := tokenHost(t, plugintest.KeyECDSA, nil)
	url := endpoint(h, "ws")
	tests := []struct {
		name   string
		req    map[string]any
		status int
		reason string
	}{
		{"O'zDSt key pair", fn("pkcs10", "generate_keypair", "OZDST-1092-2009-2"), -9999, "пока не поддерживается"},
		{"O'zMSt key pair", fn("pkcs10", "generate_keypair", "OZMST-286-2024-2", "seed"), -9999, "пока не поддерживается"},
		{"unknown algorithm", fn("pkcs10", "generate_keypair", "DSA-1024"), -9999, "Неизвестный алгоритм DSA-1024"},
		{"unknown kpId", fn("pkcs10", "create_pkcs10", "00112233445566778899aabbccddeeff", "CN=x"), -1011, "Ключевая пара"},
		{"pseudo-id is no key pair", fn("pkcs10", "create_pkcs10", "ckc", "CN=x"), -1011, "Ключевая пара"},
		{"bad subject", fn("pkcs10", "create_pkcs10_from_key", "ckc", "CN=a,XX=b"), -9999, "replacement_x500_name"},
		{"bad policy", fn("pkcs10", "create_pkcs10_from_key", "ckc", "", "1.2.860.3.2.2.1.2.1,1.2.x"), -2023, "1.2.x"},
		{"one-arc policy", fn("pkcs10", "create_pkcs10_from_key", "ckc", "", "1"), -2023, "1"},
		{"no policies in the list", fn("pkcs10", "create_pkcs10_from_key", "ckc", "", " , "), -1023, "OID"},
		{"unknown key", fn("pkcs10", "create_pkcs10_from_key", "00112233445566778899aabbccddeeff"), -1010, "Ключ"},
		{"info of garbage", fn("pkcs10", "get_pkcs10_info", "hello"), -1028, "PKCS#10"},
		{"info of a certificate", fn("pkcs10", "get_pkcs10_info", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.Fixture.PKI.Root.Raw}))), -1028, "PKCS#10"},
		{"info of base64 garbage", fn("pkcs10", "get_pkcs10_info", b64([]byte("not DER"))), -1028, "PKCS#10"},
		{"no arguments", fn("pkcs10", "generate_keypair"), 0, "Функция не найдена"},
	}
	for _, tt := range tests {
		reason := mustFail(t, tt.name, call(t, h, url, testOrigin, tt.req), tt.status)
		assert.Contains(t, reason, tt.reason, "%s: reason", tt.name)
	}
}

// TestPKCS10FromPFXKey: a renewal request for a key file has the
// certificate's exact subject; create_pkcs10 refuses a key file (-1016).
func TestPKCS10FromPFXKey(t *testing.T) {
	h, fxs := pfxEnv(t, nil)
	url := endpoint(h, "ws")
	f := pfxFixtureByName(t, fxs, "VALI")
	id := loadKey(t, h, testOrigin, f, f.Alias)
	reply := mustOK(t, "from key", call(t, h, url, testOrigin, fn("pkcs10", "create_pkcs10_from_key", id, "", "1.2.860.3.2.2.1.2.3")))
	checkCSR(t, reply, f.Cert.PublicKey, f.Cert.RawSubject, []string{"1.2.860.3.2.2.1.2.3"})
	mustFail(t, "create_pkcs10 with a key file", call(t, h, url, testOrigin, fn("pkcs10", "create_pkcs10", id, "CN=x")), -1016)
}

// TestPKCS10GenerateOnTheOnlyToken: without keygen_token the key pair goes
// to the only writable PKCS#11 token (the test binary has one: plugintest;
// the PFX files are no PKCS#11 tokens).
func TestPKCS10GenerateOnTheOnlyToken(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	t.Cleanup(func() { deleteGeneratedKeys(t, h) })
	kp := mustOK(t, "generate", call(t, h, endpoint(h, "ws"), testOrigin, fn("pkcs10", "generate_keypair", "EC")))
	reply := mustOK(t, "create_pkcs10", call(t, h, endpoint(h, "ws"), testOrigin, fn("pkcs10", "create_pkcs10", str(t, kp, "kpId"), "CN=Only Token,C=UZ")))
	csr := checkCSR(t, reply, nil, nil, nil)
	keys, err := h.Store.Keys(context.Background())
	require.NoError(t, err)
	var found bool
	for _, k := range keys {
		if strings.HasPrefix(k.Label, "eimzo-keypair-") && k.TokenURI != "" && strings.Contains(k.TokenURI, "token="+plugintest.TokenLabel) {
			type equaler interface{ Equal(x crypto.PublicKey) bool }
			found = found || k.PublicKey.(equaler).Equal(csr.PublicKey)
		}
	}
	assert.True(t, found, "the request's key is not a generated key on the plugintest token")
}
