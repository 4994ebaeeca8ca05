package cipher_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/cms"
	"github.com/signet-agent/signet/sdk/plugintest"
)

// TestModifierAttachesDetached: ds/modifier with signatureType=attached
// turns a detached signature into an attached one holding the session's
// data (and adds the signature timestamp); data the signature does not
// cover is refused.
func TestModifierAttachesDetached(t *testing.T) {
	h, _ := startWithTSA(t, plugintest.PickKey(plugintest.KeyRSA), nil)
	a := api{t: t, h: h, origin: portal}
	doc := []byte("a contract, signed detached\n")

	id := a.newTicket(doc)
	a.must("PUT", "/ticket/"+id+"/option", "", map[string]any{"signatureType": "detached", "cadesType": "CAdESBES"})
	a.must("POST", "/ticket/"+id+"/ds/creator", "text/plain", "")
	detached := a.signature(id)

	m := a.newTicket(doc)
	a.must("POST", "/ticket/"+m+"/ds/data", "application/octet-stream", detached)
	a.must("PUT", "/ticket/"+m+"/option", "", map[string]any{"signatureType": "attached", "cadesType": "CAdEST"})
	a.must("POST", "/ticket/"+m+"/ds/modifier", "text/plain", "")
	mod := a.do("GET", "/ticket/"+m+"/ds/modifiedData", "", nil)
	require.Equal(t, 200, mod.status, "%s", mod.body)
	sd, err := cms.ParseSignedData(mod.body)
	require.NoError(t, err)
	assert.True(t, sd.HasContent, "the signature is attached now")
	assert.Equal(t, doc, sd.Content)
	_, hasTS := sd.Signers[0].TimestampToken()
	assert.True(t, hasTS, "and CAdES-T")
	opensslVerify(t, h, mod.body, nil, doc)

	// Only attach, no timestamp: CAdES-BES with signatureType attached.
	b := a.newTicket(doc)
	a.must("POST", "/ticket/"+b+"/ds/data", "application/octet-stream", detached)
	a.must("PUT", "/ticket/"+b+"/option", "", map[string]any{"signatureType": "attached", "cadesType": "CAdESBES"})
	a.must("POST", "/ticket/"+b+"/ds/modifier", "text/plain", "")
	mod = a.do("GET", "/ticket/"+b+"/ds/modifiedData", "", nil)
	require.Equal(t, 200, mod.status, "%s", mod.body)
	sd, err = cms.ParseSignedData(mod.body)
	require.NoError(t, err)
	assert.True(t, sd.HasContent)
	_, hasTS = sd.Signers[0].TimestampToken()
	assert.False(t, hasTS, "CAdES-BES adds no timestamp")

	// Other data than the signed one is refused with a clear 400.
	x := a.newTicket([]byte("another document\n"))
	a.must("POST", "/ticket/"+x+"/ds/data", "application/octet-stream", detached)
	a.must("PUT", "/ticket/"+x+"/option", "", map[string]any{"signatureType": "attached", "cadesType": "CAdESBES"})
	a.must("POST", "/ticket/"+x+"/ds/modifier", "text/plain", "")
	bad := a.do("GET", "/ticket/"+x+"/ds/modifiedData", "", nil)
	assert.NotEqual(t, 200, bad.status)
	assert.Contains(t, string(bad.body), "not what ds/data signs")
}
