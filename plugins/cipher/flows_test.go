package cipher_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/signet-agent/signet/sdk/cms"
	"github.com/signet-agent/signet/sdk/cms/cmstest"
	"github.com/signet-agent/signet/sdk/plugintest"
)

// tokenPath is the keyStorePath of the test token.
const tokenPath = "pkcs11:token=plugintest"

// startWithTSA starts the plugin with an in-process TSA of the test PKI.
func startWithTSA(t *testing.T, consent *plugintest.Consent, opts map[string]string) (*plugintest.Host, *cmstest.TSA) {
	pki, err := softhsmtest.DefaultPKI()
	require.NoError(t, err)
	tsa := cmstest.NewTSA(t, pki)
	o := map[string]string{"tsa_url": tsa.URL, "temp_dir": filepath.Join(t.TempDir(), "tickets")}
	for k, v := range opts {
		o[k] = v
	}
	return plugintest.Start(t, pkg, &plugintest.Config{Consent: consent, Options: o}), tsa
}

// TestSignAttachedWithPassword: the flow of the PHP and React clients —
// keyStore by path, keyStorePassword in ds/creator (never used: the host
// asks), attached CAdES-BES, verified by OpenSSL and by ds/verifier.
func TestSignAttachedWithPassword(t *testing.T) {
	h, _ := startWithTSA(t, plugintest.PickKey(plugintest.KeyRSA), nil)
	a := api{t: t, h: h, origin: portal}
	doc := []byte("attached content")
	id := a.newTicket(nil)
	a.must("POST", "/ticket/"+id+"/data", "", map[string]string{"base64Data": base64.StdEncoding.EncodeToString(doc)})
	a.must("PUT", "/ticket/"+id+"/option", "", map[string]any{"caId": "iit", "signatureType": "attached", "cadesType": "CAdESBES", "embedCertificateType": "signerAndCaCert"})
	a.must("PUT", "/ticket/"+id+"/keyStore", "", map[string]string{"keyStorePath": tokenPath})
	a.must("POST", "/ticket/"+id+"/ds/creator", "", map[string]string{"keyStorePassword": "secret-from-page"})
	sig := a.signature(id)
	opensslVerify(t, h, sig, nil, doc)

	sign := h.Consent().QuestionsOf(plugintest.Sign)
	require.NotEmpty(t, sign)
	for _, q := range h.Consent().Questions() {
		assert.NotContains(t, q.Summary+q.SummaryHTML, "secret-from-page")
	}

	// Verify it in a fresh ticket: attached, no data.
	v := a.newTicket(nil)
	a.must("POST", "/ticket/"+v+"/ds/data", "application/octet-stream", sig)
	a.must("POST", "/ticket/"+v+"/ds/verifier", "text/plain", "")
	res := a.must("GET", "/ticket/"+v+"/ds/verifier", "", nil)
	assert.Equal(t, "Цифровий підпис дійсний.", res["message"])
	results := res["verifyResults"].([]any)
	require.Len(t, results, 1)
	r0 := results[0].(map[string]any)
	assert.Equal(t, "SUCCESS", r0["status"])
	assert.Equal(t, true, r0["isValid"])
	owner := r0["signerInfo"].(map[string]any)["ownerCertificateInfo"].(map[string]any)["value"].(map[string]any)
	assert.Equal(t, h.Key(t, plugintest.KeyRSA).Certificate.Subject.CommonName, owner["ownerFullName"].(map[string]any)["value"])
}

// TestVerifyDetached200And406: a detached signature verifies against its
// data (200) and not against other data (406 with verifyResults).
func TestVerifyDetached200And406(t *testing.T) {
	h, _ := startWithTSA(t, plugintest.PickKey(plugintest.KeyECDSA), nil)
	a := api{t: t, h: h, origin: portal}
	doc := []byte("detached content")
	id := a.newTicket(doc)
	a.must("PUT", "/ticket/"+id+"/option", "", map[string]any{"signatureType": "detached"})
	a.must("POST", "/ticket/"+id+"/ds/creator", "text/plain", "")
	sig := a.signature(id)
	opensslVerify(t, h, sig, doc, doc)

	verify := func(data []byte) response {
		v := a.newTicket(data)
		a.must("POST", "/ticket/"+v+"/ds/data", "", map[string]string{"base64Data": base64.StdEncoding.EncodeToString(sig)})
		a.must("PUT", "/ticket/"+v+"/option", "", map[string]string{"signatureType": "detached"})
		a.must("POST", "/ticket/"+v+"/ds/verifier", "text/plain", "")
		return a.do("GET", "/ticket/"+v+"/ds/verifier", "", nil)
	}
	ok := verify(doc)
	require.Equal(t, http.StatusOK, ok.status, "%s", ok.body)
	bad := verify([]byte("other content"))
	require.Equal(t, http.StatusNotAcceptable, bad.status, "%s", bad.body)
	m := bad.json(t)
	assert.Equal(t, "Цифровий підпис недійсний.", m["message"])
	assert.NotEmpty(t, m["failureCause"])
	r0 := m["verifyResults"].([]any)[0].(map[string]any)
	assert.Equal(t, "FAILURE", r0["status"])
	assert.Equal(t, false, r0["isValid"])
}

// TestCoSignAndTimestamp: a CAdES-T signature with the RSA key, co-signed
// (alreadySigned) by the ECDSA key; a second signature of the same signer
// is refused without duplicateSign. OpenSSL verifies both signers.
func TestCoSignAndTimestamp(t *testing.T) {
	pickRSA, tsa := startWithTSA(t, plugintest.PickKey(plugintest.KeyRSA), nil)
	a := api{t: t, h: pickRSA, origin: portal}
	doc := []byte("co-signed content")
	id := a.newTicket(doc)
	a.must("PUT", "/ticket/"+id+"/option", "", map[string]any{"signatureType": "attached", "cadesType": "CADES_T"})
	a.must("POST", "/ticket/"+id+"/ds/creator", "text/plain", "")
	first := a.signature(id)
	assert.Equal(t, int64(1), tsa.Requests())
	sd, err := cms.ParseSignedData(first)
	require.NoError(t, err)
	_, hasTS := sd.Signers[0].TimestampToken()
	assert.True(t, hasTS, "CAdES-T carries a signature timestamp")

	again := a.newTicket(first)
	a.must("PUT", "/ticket/"+again+"/option", "", map[string]any{"dataToSignQualifier": "alreadySigned"})
	a.must("POST", "/ticket/"+again+"/ds/creator", "text/plain", "")
	dup := a.do("GET", "/ticket/"+again+"/ds/base64Data", "", nil)
	assert.Equal(t, http.StatusBadRequest, dup.status, "%s", dup.body)
	assert.Contains(t, dup.json(t)["failureCause"], "duplicateSign")

	ecdsa, _ := startWithTSA(t, plugintest.PickKey(plugintest.KeyECDSA), nil)
	b := api{t: t, h: ecdsa, origin: portal}
	co := b.newTicket(first)
	b.must("PUT", "/ticket/"+co+"/option", "", map[string]any{"dataToSignQualifier": "ALREADY_SIGNED"})
	b.must("POST", "/ticket/"+co+"/ds/creator", "text/plain", "")
	both := b.signature(co)
	sd, err = cms.ParseSignedData(both)
	require.NoError(t, err)
	assert.Len(t, sd.Signers, 2)
	opensslVerify(t, ecdsa, both, nil, doc)
}

// TestEncryptDecrypt: encrypt to the RSA key's certificate, then decrypt
// in the host.
func TestEncryptDecrypt(t *testing.T) {
	h, _ := startWithTSA(t, plugintest.AllowAll(), nil)
	a := api{t: t, h: h, origin: portal}
	secret := []byte("for the RSA key only")
	id := a.newTicket(secret)
	cert := h.Key(t, plugintest.KeyRSA).Certificate
	a.must("POST", "/ticket/"+id+"/encryptor/certificates", "", map[string]any{"recipientCertificates": []string{base64.StdEncoding.EncodeToString(cert.Raw)}})
	a.must("POST", "/ticket/"+id+"/encryptor", "text/plain", "")
	env := a.must("GET", "/ticket/"+id+"/encryptor/base64Data", "", nil)["base64Data"].(string)

	d := a.newTicket(nil)
	a.must("POST", "/ticket/"+d+"/data", "", map[string]string{"base64Data": env})
	a.must("POST", "/ticket/"+d+"/decryptor", "", map[string]string{"keyStorePassword": "ignored"})
	plain := a.must("GET", "/ticket/"+d+"/decryptor/base64Data", "", nil)["base64Data"].(string)
	got, err := base64.StdEncoding.DecodeString(plain)
	require.NoError(t, err)
	assert.Equal(t, secret, got)
	assert.NotEmpty(t, h.Consent().QuestionsOf(plugintest.Decrypt))
}

// TestTicketOfAnotherOrigin: a ticket belongs to the origin that created it.
func TestTicketOfAnotherOrigin(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	a := api{t: t, h: h, origin: portal}
	id := a.newTicket([]byte("mine"))
	for _, other := range []api{{t: t, h: h, origin: "https://evil.example"}, {t: t, h: h}} {
		for _, req := range [][2]string{{"POST", "/ticket/" + id + "/data"}, {"GET", "/ticket/" + id + "/ds/base64Data"}, {"DELETE", "/ticket/" + id}, {"PUT", "/ticket/" + id + "/option"}} {
			r := other.do(req[0], req[1], "application/json", `{}`)
			assert.Equal(t, http.StatusBadRequest, r.status, "%s %s as %q", req[0], req[1], other.origin)
			assert.Equal(t, "Сесія відсутня.", r.json(t)["message"])
		}
	}
	a.must("DELETE", "/ticket/"+id, "", nil)
}

// TestTicketFilesGone: a ticket's files go on delete, on expiry, and a
// previous run's files at start.
func TestTicketFilesGone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tickets")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "stale-ticket"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stale-ticket", "data-1"), []byte("old"), 0o600))
	h := plugintest.Start(t, pkg, &plugintest.Config{Options: map[string]string{"temp_dir": dir, "ticket_ttl": "2s"}})
	entries := func() []string {
		var names []string
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				names = append(names, p)
			}
			return nil
		})
		return names
	}
	assert.Empty(t, entries(), "a previous run's files are removed at start")
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	a := api{t: t, h: h, origin: portal}
	id := a.newTicket(bytes.Repeat([]byte("x"), 1<<20))
	require.Len(t, entries(), 1)
	a.must("DELETE", "/ticket/"+id, "", nil)
	assert.Empty(t, entries(), "delete removes the files")

	a.newTicket([]byte("expires"))
	require.Len(t, entries(), 1)
	require.Eventually(t, func() bool { return len(entries()) == 0 }, 20*1e9, 1e8, "expiry removes the files")
}
