package cipher_test

import (
	"bytes"
	"encoding/base64"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/plugintest"
)

// Transcript tests: one per style of public client code, with the requests
// such clients send.

// TestClientPHPStyle: a Laravel-style server-side client (no Origin):
// JSON bodies throughout, caId from certificateAuthority/supported,
// cadesType CAdESXLong (refused, naming what is implemented), then
// keyStore/verifier as such clients read it, ds/creator with
// keyStorePassword and ds/base64Data.
func TestClientPHPStyle(t *testing.T) {
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: plugintest.PickKey(plugintest.KeyRSA)})
	a := api{t: t, h: h}
	ca := a.must("GET", "/certificateAuthority/supported", "", nil)["ca"].([]any)[0].(map[string]any)["id"].(string)
	id := a.must("POST", "/ticket", "application/json", "")["ticketUuid"].(string)
	doc := []byte("php document")
	a.must("POST", "/ticket/"+id+"/data", "application/json", map[string]string{"base64Data": base64.StdEncoding.EncodeToString(doc)})
	x := a.do("PUT", "/ticket/"+id+"/option", "application/json", map[string]string{"caId": ca, "signatureType": "attached", "cadesType": "CAdESXLong"})
	require.Equal(t, http.StatusBadRequest, x.status)
	assert.Contains(t, x.json(t)["failureCause"], "CAdEST")
	a.must("PUT", "/ticket/"+id+"/option", "application/json", map[string]string{"caId": ca, "signatureType": "attached", "cadesType": "CAdESBES", "embedSignatureTs": "false"})
	a.must("PUT", "/ticket/"+id+"/keyStore", "application/json", map[string]string{"keyStorePath": tokenPath})

	ver := a.must("PUT", "/ticket/"+id+"/keyStore/verifier", "application/json", map[string]string{"keyStorePassword": "page-password"})
	sig := ver["signature"].(map[string]any)
	assert.Equal(t, true, sig["canBeUsed"])
	info := sig["certificateInfo"].(map[string]any)
	notAfter, err := time.Parse(time.RFC3339, info["notAfter"].(map[string]any)["value"].(string))
	require.NoError(t, err)
	assert.True(t, notAfter.After(time.Now()))
	pd := info["extensionsCertificateInfo"].(map[string]any)["value"].(map[string]any)["personalData"].(map[string]any)["value"].(map[string]any)
	assert.Contains(t, pd, "edrpou")
	assert.Contains(t, pd, "drfou")

	a.must("POST", "/ticket/"+id+"/ds/creator", "application/json", map[string]string{"keyStorePassword": "page-password"})
	st := a.do("GET", "/ticket/"+id+"/ds/creator", "", nil)
	assert.Contains(t, []int{http.StatusOK, http.StatusAccepted}, st.status)
	opensslVerify(t, h, a.signature(id), nil, doc)
	a.must("DELETE", "/ticket/"+id, "", nil)
}

// TestClientReactVerifyStyle: a browser uploader/verifier — octet-stream
// data, base64 signature, upper-case enums, text/plain action POSTs, and
// CORS headers on every answer.
func TestClientReactVerifyStyle(t *testing.T) {
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: plugintest.PickKey(plugintest.KeyECDSA)})
	a := api{t: t, h: h, origin: portal}
	doc := bytes.Repeat([]byte("react "), 1000)
	id := a.newTicket(doc)
	a.must("PUT", "/ticket/"+id+"/option", "application/json", map[string]string{"signatureType": "DETACHED", "embedCertificateType": "SIGNER_CERT", "dataToSignQualifier": "NOT_SIGNED_BEFORE", "signatureTsVerifyOption": "IGNORE"})
	a.must("POST", "/ticket/"+id+"/ds/creator", "text/plain", "")
	sig := a.signature(id)

	v := a.newTicket(doc)
	a.must("POST", "/ticket/"+v+"/ds/data", "application/json", map[string]string{"base64Data": base64.StdEncoding.EncodeToString(sig)})
	a.must("PUT", "/ticket/"+v+"/option", "application/json", map[string]string{"signatureType": "detached"})
	a.must("POST", "/ticket/"+v+"/ds/verifier", "text/plain", "")
	r := a.do("GET", "/ticket/"+v+"/ds/verifier", "", nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, portal, r.header.Get("Access-Control-Allow-Origin"))
}

// TestClientMultipartAndStatusOnBothPorts: an HTML-form upload
// (multipart) and the status poll of an agent-status store on :9090's
// listener as well.
func TestClientMultipartAndStatusOnBothPorts(t *testing.T) {
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: plugintest.PickKey(plugintest.KeyRSA)})
	for _, l := range []string{"https", "https9090"} {
		resp, err := h.HTTPClient().Get("https://" + h.Addr(l) + "/api/v1/status")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, l)
	}
	a := api{t: t, h: h, origin: portal}
	id := a.newTicket(nil)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	require.NoError(t, mw.WriteField("comment", "not the file"))
	fw, err := mw.CreateFormFile("file", "contract.pdf")
	require.NoError(t, err)
	doc := []byte("%PDF-1.7 form upload")
	_, _ = fw.Write(doc)
	require.NoError(t, mw.Close())
	a.must("POST", "/ticket/"+id+"/data", mw.FormDataContentType(), body.Bytes())
	a.must("PUT", "/ticket/"+id+"/option", "application/json", map[string]any{"signatureType": "attached", "duplicateSign": true})
	a.must("POST", "/ticket/"+id+"/ds/creator", "text/plain", "")
	opensslVerify(t, h, a.signature(id), nil, doc)
}

// TestPreflight: a CORS preflight with the Private Network Access and
// Local Network Access requests is allowed for the page's origin.
func TestPreflight(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	req, err := http.NewRequest("OPTIONS", "https://"+h.Addr("https")+"/api/v1/ticket", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", portal)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	req.Header.Set("Access-Control-Request-Private-Network", "true")
	req.Header.Set("Access-Control-Request-Local-Network", "true")
	resp, err := h.HTTPClient().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, portal, resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "true", resp.Header.Get("Access-Control-Allow-Private-Network"))
	assert.Equal(t, "true", resp.Header.Get("Access-Control-Allow-Local-Network"))
	assert.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), "PUT")
	assert.Equal(t, "content-type", resp.Header.Get("Access-Control-Allow-Headers"))
}
