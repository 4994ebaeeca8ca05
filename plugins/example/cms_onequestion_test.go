package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/plugintest"
)

// POST /cms without a key from an origin the person has not allowed yet:
// the plugin lists the keys for the choice, the person picks one and the
// plugin signs — one question, the choice's, which is also the origin's
// first use. The CMS carries the certificate and chain the choice
// returned, and OpenSSL verifies it.
func TestCMSChoiceFromFirstUseOriginAsksOnce(t *testing.T) {
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: plugintest.AcceptGrants()})
	doc := []byte("one dialog, please\n")
	var out cmsReply
	code := post(t, h, "/cms", map[string]any{"document": doc, "name": "letter.txt"}, &out)
	require.Equal(t, http.StatusOK, code, out.Error)

	qs := h.Consent().Questions()
	require.Len(t, qs, 1, "list → choose → sign asks a first-use origin once")
	assert.Equal(t, plugintest.Sign, qs[0].Kind)
	assert.NotEmpty(t, qs[0].Choices)
	assert.Equal(t, "https://portal.example", qs[0].Origin)
	require.NotEmpty(t, out.Key)
	assert.Equal(t, qs[0].Choices[0], out.Key, "the person picked the first candidate")
	for _, label := range []string{plugintest.KeyRSA, plugintest.KeyECDSA, plugintest.KeyEd25519} {
		if h.KeyURI(t, label) == out.Key {
			opensslVerify(t, h.Chain(t, label), out.CMS, doc)
		}
	}
}
