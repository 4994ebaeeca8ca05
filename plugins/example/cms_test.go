package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/plugintest"
)

type cmsReply struct {
	CMS   []byte `json:"cms"`
	Key   string `json:"key"`
	Error string `json:"error"`
}

// opensslVerify checks a detached CMS signature over doc with OpenSSL,
// trusting only the test CA of chain.
func opensslVerify(t *testing.T, chain plugintest.Chain, der, doc []byte) {
	t.Helper()
	dir := t.TempDir()
	sig, content := filepath.Join(dir, "doc.p7s"), filepath.Join(dir, "doc")
	require.NoError(t, os.WriteFile(sig, der, 0o600))
	require.NoError(t, os.WriteFile(content, doc, 0o600))
	out, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-content", content,
		"-CAfile", chain.CAFile, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
	require.NoError(t, err, "openssl cms -verify: %s", out)
	assert.Contains(t, string(out), "Verification successful")
}

// POST /cms with a key returns a detached CMS signature that OpenSSL
// verifies against the test CA; a changed document does not verify.
func TestCMSVerifiesWithOpenSSL(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	doc := []byte("the contract\n")
	for _, label := range []string{plugintest.KeyRSA, plugintest.KeyECDSA} {
		t.Run(label, func(t *testing.T) {
			var out cmsReply
			code := post(t, h, "/cms", map[string]any{"key": h.KeyURI(t, label), "document": doc, "name": "contract.txt"}, &out)
			require.Equal(t, http.StatusOK, code, out.Error)
			chain := h.Chain(t, label)
			opensslVerify(t, chain, out.CMS, doc)

			dir := t.TempDir()
			sig, other := filepath.Join(dir, "doc.p7s"), filepath.Join(dir, "other")
			require.NoError(t, os.WriteFile(sig, out.CMS, 0o600))
			require.NoError(t, os.WriteFile(other, []byte("another contract\n"), 0o600))
			err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-content", other,
				"-CAfile", chain.CAFile, "-purpose", "any", "-out", os.DevNull).Run()
			assert.Error(t, err, "a signature over another document verified")
		})
	}
}

// POST /cms without a key: the person picks the key among the token's
// keys, in a question that names the origin and the document.
func TestCMSPersonPicksTheKey(t *testing.T) {
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: plugintest.PickKey(plugintest.KeyECDSA)})
	ec := h.KeyURI(t, plugintest.KeyECDSA)
	doc := []byte("pick a key for me\n")
	var out cmsReply
	code := post(t, h, "/cms", map[string]any{"document": doc, "name": "letter.txt"}, &out)
	require.Equal(t, http.StatusOK, code, out.Error)
	assert.Equal(t, ec, out.Key)
	opensslVerify(t, h.Chain(t, plugintest.KeyECDSA), out.CMS, doc)

	signs := h.Consent().QuestionsOf(plugintest.Sign)
	require.NotEmpty(t, signs)
	choice := signs[0]
	assert.Contains(t, choice.Choices, ec, "the candidates")
	assert.Equal(t, "https://portal.example", choice.Origin)
	require.Len(t, choice.Documents, 1)
	assert.Equal(t, "letter.txt", choice.Documents[0].Name)
	assert.Equal(t, int64(len(doc)), choice.Documents[0].Size)
}
