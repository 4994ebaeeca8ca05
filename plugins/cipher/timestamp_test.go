package cipher_test

import (
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/cms"
	"github.com/signet-agent/signet/sdk/plugintest"
)

// oidContentTimestamp is id-aa-ets-contentTimestamp.
var oidContentTimestamp = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 20}

// TestTimestampFlows: ts/creator timestamps the data; embedDataTs adds a
// content timestamp; ds/modifier turns a CAdES-BES signature into CAdES-T.
func TestTimestampFlows(t *testing.T) {
	h, tsa := startWithTSA(t, plugintest.PickKey(plugintest.KeyRSA), nil)
	a := api{t: t, h: h, origin: portal}
	doc := []byte("timestamped content")
	digest := sha256.Sum256(doc)

	id := a.newTicket(doc)
	a.must("POST", "/ticket/"+id+"/ts/creator", "text/plain", "")
	tok, err := base64.StdEncoding.DecodeString(a.must("GET", "/ticket/"+id+"/ts/base64Data", "", nil)["base64Data"].(string))
	require.NoError(t, err)
	_, info, err := cms.ParseTimestampToken(tok)
	require.NoError(t, err)
	assert.Equal(t, digest[:], info.MessageImprint.HashedMessage)

	// A detached CAdES-BES signature with a content timestamp.
	a.must("PUT", "/ticket/"+id+"/option", "", map[string]any{"signatureType": "detached", "embedDataTs": "true", "embedSignatureTs": false})
	a.must("POST", "/ticket/"+id+"/ds/creator", "text/plain", "")
	bes := a.signature(id)
	opensslVerify(t, h, bes, doc, doc)
	sd, err := cms.ParseSignedData(bes)
	require.NoError(t, err)
	hasContentTS := false
	for _, attr := range sd.Signers[0].SignedAttributes {
		hasContentTS = hasContentTS || attr.Type.Equal(oidContentTimestamp)
	}
	assert.True(t, hasContentTS, "embedDataTs adds the content timestamp attribute")
	_, hasSigTS := sd.Signers[0].TimestampToken()
	assert.False(t, hasSigTS)

	// ds/modifier adds the signature timestamp.
	m := a.newTicket(doc)
	a.must("POST", "/ticket/"+m+"/ds/data", "application/octet-stream", bes)
	a.must("PUT", "/ticket/"+m+"/option", "", map[string]any{"signatureType": "detached", "cadesType": "CAdEST"})
	a.must("POST", "/ticket/"+m+"/ds/modifier", "text/plain", "")
	mod := a.do("GET", "/ticket/"+m+"/ds/modifiedData", "", nil)
	require.Equal(t, 200, mod.status, "%s", mod.body)
	sd, err = cms.ParseSignedData(mod.body)
	require.NoError(t, err)
	_, hasSigTS = sd.Signers[0].TimestampToken()
	assert.True(t, hasSigTS, "ds/modifier made it CAdES-T")
	opensslVerify(t, h, mod.body, doc, doc)
	assert.Equal(t, int64(3), tsa.Requests())

	// And ds/verifier reports the timestamp.
	v := a.newTicket(doc)
	a.must("POST", "/ticket/"+v+"/ds/data", "application/octet-stream", mod.body)
	a.must("POST", "/ticket/"+v+"/ds/verifier", "text/plain", "")
	r := a.must("GET", "/ticket/"+v+"/ds/verifier", "", nil)
	r0 := r["verifyResults"].([]any)[0].(map[string]any)
	assert.Equal(t, "CAdES-T", r0["signatureType"])
	assert.Len(t, r0["signatureTimestamps"], 1)
}
