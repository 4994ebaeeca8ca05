package cipher_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/plugintest"
)

func TestServiceEndpoints(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	a := api{t: t, h: h, origin: portal}
	st := a.do("GET", "/status", "", nil)
	require.Equal(t, http.StatusOK, st.status)
	assert.Equal(t, "Сервіси знаходяться у працездатному стані.", st.json(t)["message"])
	assert.Equal(t, portal, st.header.Get("Access-Control-Allow-Origin"))

	cas := a.must("GET", "/certificateAuthority/supported", "", nil)
	assert.NotEmpty(t, cas["ca"])
	toks := a.must("GET", "/token/connected", "", nil)
	require.NotEmpty(t, toks["passiveTokenPath"])
	assert.Contains(t, toks["passiveTokenPath"].([]any)[0], "pkcs11:token=plugintest;")

	a.must("POST", "/language/en", "text/plain", "")
	assert.Equal(t, "The services are up and running.", a.must("GET", "/status", "", nil)["message"])
	bad := a.do("POST", "/language/de", "text/plain", "")
	assert.Equal(t, http.StatusBadRequest, bad.status)
	assert.Contains(t, bad.json(t)["failureCause"], "uk, ru or en")
	a.must("POST", "/language/uk", "text/plain", "")
}

// TestSignDetachedWithAccessToken follows the documented flow with an
// access token and checks the signature with OpenSSL.
func TestSignDetachedWithAccessToken(t *testing.T) {
	// The grant is for the RSA key: which key an allow-all choice picks
	// first depends on the token's listing order.
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: plugintest.AcceptGrants(portal),
		Options: map[string]string{"access_token_key": "pkcs11:token=" + plugintest.TokenLabel + ";object=" + plugintest.KeyRSA}})
	a := api{t: t, h: h, origin: portal}
	tok := a.must("POST", "/accessToken", "", map[string]any{"accessTimesNumber": 2, "metaData": "<b>Invoice #42</b><script>x</script>"})["accessTokenUuid"].(string)
	require.NotEmpty(t, tok)
	grants := h.Consent().QuestionsOf(plugintest.Sign)
	require.NotEmpty(t, grants)

	doc := []byte("a document to sign\n")
	id := a.newTicket(doc)
	a.must("PUT", "/ticket/"+id+"/option", "", map[string]any{"caId": "testIitCa", "signatureType": "DETACHED", "embedSignatureTs": "false"})
	a.must("POST", "/ticket/"+id+"/ds/creator", "", map[string]string{"accessTokenUuid": tok})
	sig := a.signature(id)
	opensslVerify(t, h, sig, doc, doc)
	st := a.do("GET", "/ticket/"+id+"/ds/creator", "", nil)
	assert.Equal(t, http.StatusOK, st.status, "%s", st.body)
	a.must("DELETE", "/ticket/"+id, "", nil)
}

// TestAccessTokenRace: 32 signatures race on a 5-use token; exactly 5 are
// made.
func TestAccessTokenRace(t *testing.T) {
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: plugintest.AcceptGrants(portal)})
	a := api{t: t, h: h, origin: portal}
	tok := a.must("POST", "/accessToken", "", map[string]any{"accessTimesNumber": 5})["accessTokenUuid"].(string)
	const n = 32
	ids := make([]string, n)
	for i := range ids {
		ids[i] = a.newTicket([]byte{byte(i)})
		a.must("PUT", "/ticket/"+ids[i]+"/option", "", map[string]string{"signatureType": "detached"})
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.do("POST", "/ticket/"+id+"/ds/creator", "", map[string]string{"accessTokenUuid": tok})
		}()
	}
	wg.Wait()
	signed, refused := 0, 0
	for _, id := range ids {
		r := a.do("GET", "/ticket/"+id+"/ds/base64Data", "", nil)
		switch r.status {
		case http.StatusOK:
			signed++
		case http.StatusForbidden:
			refused++
		default:
			t.Errorf("ticket %s: %d %s", id, r.status, r.body)
		}
	}
	assert.Equal(t, 5, signed)
	assert.Equal(t, n-5, refused)
}
