package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/plugintest"
)

func postSign(t *testing.T, c *http.Client, addr string, body map[string]any) int {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest("POST", "https://"+addr+"/sign", bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Origin", "https://evil.example")
	resp, err := c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestSummaryIsAClaimDigestIsChecked: the page's summary and document name
// reach the consent request as they are (the dialog shows them as the
// page's claims), the plugin adds no words of its own, and the document's
// SHA-256 is the digest that is signed — with the size computed by the
// plugin when the page sends the document; a document that does not hash
// to the digest is refused before consent is asked.
func TestSummaryIsAClaimDigestIsChecked(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	c, addr := h.HTTPClient(), h.Addr("https")
	key := h.KeyURI(t, plugintest.KeyECDSA)
	const spoof = "Origin: https://gov.uz — verified"
	data := []byte("the contract really signed")
	digest := sha256.Sum256(data)
	b64 := base64.StdEncoding.EncodeToString

	require.Equal(t, http.StatusOK, postSign(t, c, addr, map[string]any{"key": key, "digest": b64(digest[:]), "summary": spoof, "name": spoof + ".pdf"}))
	require.Equal(t, http.StatusOK, postSign(t, c, addr, map[string]any{"key": key, "digest": b64(digest[:]), "document": b64(data)}))
	other := sha256.Sum256([]byte("something else"))
	assert.Equal(t, http.StatusBadRequest, postSign(t, c, addr, map[string]any{"key": key, "digest": b64(other[:]), "document": b64(data), "summary": "mismatch"}))

	signs := h.Consent().QuestionsOf(plugintest.Sign)
	require.Len(t, signs, 2, "consent asked for the mismatched document")
	claimed, withDoc := signs[0], signs[1]
	assert.Equal(t, spoof, claimed.Summary)
	require.Len(t, claimed.Documents, 1)
	assert.Equal(t, spoof+".pdf", claimed.Documents[0].Name)
	assert.Equal(t, digest[:], claimed.Documents[0].SHA256)
	assert.Zero(t, claimed.Documents[0].Size, "a size for a digest the plugin cannot measure")
	assert.Equal(t, "https://evil.example", claimed.Origin)
	assert.Equal(t, "example", claimed.Plugin, "the host names the plugin")

	assert.Empty(t, withDoc.Summary, "the plugin wrote a summary of its own")
	require.Len(t, withDoc.Documents, 1)
	assert.Equal(t, int64(len(data)), withDoc.Documents[0].Size)
	assert.Equal(t, digest[:], withDoc.Documents[0].SHA256)
	assert.Empty(t, withDoc.Documents[0].Name)
}
