package cryptoarm_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/cms"
	"github.com/signet-agent/signet/sdk/plugintest"
)

// signJob is a SIGN job of the given files (name → URL) with extra.
func signJob(p *portal, extra map[string]any, names ...string) map[string]any {
	var files []map[string]any
	for i, n := range names {
		files = append(files, map[string]any{"name": n, "url": p.addFile(n, []byte("content of "+n)), "id": i + 1, "urlDetached": ""})
	}
	return map[string]any{"operation": []string{"SIGN"}, "props": map[string]any{
		"headerText": "Sign the contract", "uploader": p.url("/upload?id=x"), "files": files, "extra": extra}}
}

// TestSignDetachedUploadsEveryFile: a SIGN job of two files is fetched
// with the parameters request (with the diagnostic object), the service is
// trusted once, the person is asked once to pick the key (the dialog lists
// both files with their sizes and SHA-256, and the service's origin), and
// one outDirectResults notification carries both detached signatures
// (BASE64 = PEM) with the ids as received and the signers.
func TestSignDetachedUploadsEveryFile(t *testing.T) {
	cert, certPEM := portalCert(t)
	p := newPortal(t, cert, "")
	e := start(t, plugintest.AllowAll(), p, [][]byte{certPEM}, nil)
	p.addJob("tx-1", signJob(p, map[string]any{"token": "tok-1", "signType": "1", "signStandart": 0, "signEncoding": "0"}, "a.txt", "b.pdf"))

	e.open(t, p.link("SignAndEncrypt", "tx-1"))
	n := p.waitNotification(t, "signAndEncrypt.outDirectResults")
	assert.Equal(t, "/upload", n.Path)
	assert.Nil(t, n.RPC.ID, "a notification has no id")

	first := p.seen()[0]
	assert.Equal(t, "signAndEncrypt.parameters", first.RPC.Method)
	assert.Equal(t, "id=tx-1", first.Query, "the service URL is used verbatim")
	var pr map[string]any
	require.NoError(t, json.Unmarshal(first.Body, &pr))
	assert.Equal(t, "tx-1", pr["id"])
	diag, ok := pr["diagnostic"].(map[string]any)
	require.True(t, ok, "diagnostic object: %v", pr["diagnostic"])
	assert.Contains(t, diag, "SYSTEMINFORMATION")
	assert.Empty(t, diag["PERSONALCERTIFICATES"], "no key information before the service is trusted")
	for _, r := range p.seen() {
		if r.Method == http.MethodGet {
			assert.Contains(t, r.Query, "accessToken=tok-1", "§5.2 token on downloads")
		}
	}

	pm := params(t, n)
	assert.Equal(t, "tx-1", pm["id"])
	results := pm["directResults"].([]any)
	require.Len(t, results, 2)
	chain := e.h.Chain(t, plugintest.KeyRSA)
	roots := x509.NewCertPool()
	roots.AddCert(chain.Root)
	inter := x509.NewCertPool()
	inter.AddCert(chain.Intermediate)
	for i, name := range []string{"a.txt", "b.pdf"} {
		r := results[i].(map[string]any)
		assert.EqualValues(t, i+1, r["id"], "id echoed as received (a number)")
		out := b64(t, r["out"])
		block, _ := pem.Decode(out)
		require.NotNil(t, block, "BASE64 encoding is PEM")
		assert.Equal(t, "CMS", block.Type)
		rep, err := cms.Verify(block.Bytes, bytes.NewReader([]byte("content of "+name)), &cms.VerifyOptions{Roots: roots, Intermediates: inter})
		require.NoError(t, err)
		assert.True(t, rep.Detached)
		signers := r["signers"].([]any)
		require.Len(t, signers, 1)
		assert.NotEmpty(t, signers[0].(map[string]any)["x509"])
		assert.NotEmpty(t, signers[0].(map[string]any)["subjectName"])
	}

	c := e.h.Consent()
	require.Len(t, c.QuestionsOf(plugintest.Origin), 1, "the trust question")
	trustQ := c.QuestionsOf(plugintest.Origin)[0]
	assert.Equal(t, "https://"+p.addr, trustQ.Origin)
	assert.Contains(t, trustQ.Summary, "portal.test")
	assert.NotEmpty(t, trustQ.Evidence["certificate SHA-256"])
	signs := c.QuestionsOf(plugintest.Sign)
	require.NotEmpty(t, signs)
	choice := signs[0]
	require.NotEmpty(t, choice.Choices, "the first question is the key choice")
	require.Len(t, choice.Documents, 2)
	sum := sha256.Sum256([]byte("content of a.txt"))
	assert.Equal(t, "a.txt", choice.Documents[0].Name)
	assert.Equal(t, int64(len("content of a.txt")), choice.Documents[0].Size)
	assert.Equal(t, sum[:], choice.Documents[0].SHA256)
	assert.Equal(t, "https://"+p.addr, choice.Origin)
	assert.Contains(t, choice.Summary, "Sign the contract")
}

// TestOneQuestionPerJob runs the host's real consent engine: a SIGN job
// of three files reaches the person as the trust question and ONE key
// choice listing the three files; the three signatures follow without
// another question.
func TestOneQuestionPerJob(t *testing.T) {
	cert, certPEM := portalCert(t)
	p := newPortal(t, cert, "")
	c := plugintest.AcceptGrants()
	e := start(t, c, p, [][]byte{certPEM}, nil)
	p.addJob("one", signJob(p, map[string]any{"signEncoding": 1}, "a.txt", "b.txt", "c.txt"))
	e.open(t, p.link("signAndEncrypt", "one"))
	n := p.waitNotification(t, "signAndEncrypt.outDirectResults")
	require.Len(t, params(t, n)["directResults"], 3, "%v", params(t, n))
	signs := c.QuestionsOf(plugintest.Sign)
	require.Len(t, signs, 1, "one question for the whole job")
	assert.NotEmpty(t, signs[0].Choices)
	assert.Len(t, signs[0].Documents, 3)
	assert.Equal(t, 3, signs[0].GrantUses)
	assert.Len(t, c.QuestionsOf(plugintest.Origin), 1, "and the trust question")
}

// TestLegacySignLink: the legacy cryptoarm://sign/<URL>?accessToken=…
// fetches its parameters with GET and posts one multipart/form-data
// request per signed file to uploader (file, id, extra, signers).
func TestLegacySignLink(t *testing.T) {
	cert, certPEM := portalCert(t)
	p := newPortal(t, cert, "")
	e := start(t, plugintest.AllowAll(), p, [][]byte{certPEM}, nil)
	doc := p.addFile("doc.txt", []byte("legacy document"))
	params, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "sign", "params": map[string]any{
		"token": "legacy-token", "uploader": p.url("/upload"),
		"files": []map[string]any{{"name": "doc.txt", "url": doc, "id": "42"}},
		"extra": map[string]any{"signType": "1", "signStandart": "0"}}})
	require.NoError(t, err)
	p.addFile("legacy.json", params)
	e.open(t, "cryptoarm://sign/"+p.url("/files/legacy.json?accessToken=legacy-token"))
	var up request
	require.Eventually(t, func() bool {
		ups := uploads(p)
		if len(ups) > 0 {
			up = ups[0]
		}
		return len(ups) > 0
	}, 60*time.Second, 20*time.Millisecond, "%v", p.summary())
	body := string(up.Body)
	assert.Contains(t, body, `name="file"; filename="doc.txt.sig"`)
	assert.Contains(t, body, "name=\"id\"\r\n\r\n42\r\n")
	assert.Contains(t, body, `name="signers"`)
	for _, r := range p.seen() {
		if r.Path == "/files/doc.txt" {
			assert.Contains(t, r.Query, "accessToken=legacy-token")
		}
	}
}
