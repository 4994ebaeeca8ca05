package host_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/signet-agent/signet/internal/testutil"
)

type listChoose struct {
	Origin      string   `json:"origin"`
	Digest      []byte   `json:"digest"`
	ForChoice   bool     `json:"for_choice"`
	Lookup      bool     `json:"lookup"`
	Certificate bool     `json:"certificate"`
	Algorithms  []string `json:"algorithms,omitempty"`
}

type listChosen struct {
	Key         string   `json:"key"`
	Signature   []byte   `json:"signature"`
	GrantID     string   `json:"grant_id"`
	Listed      int      `json:"listed"`
	Withheld    int      `json:"withheld"`
	Certificate []byte   `json:"certificate"`
	Chain       [][]byte `json:"chain"`
}

// postListChoose runs the plugin's list → choose → sign path.
func postListChoose(t *testing.T, h *plugintest.Host, req listChoose) (int, listChosen, string) {
	t.Helper()
	if req.Digest == nil {
		d := sha256.Sum256([]byte("contract"))
		req.Digest = d[:]
	}
	body, err := json.Marshal(req)
	require.NoError(t, err)
	resp, err := h.HTTPClient().Post("https://"+h.Addr("https")+"/listchoose", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out listChosen
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal(b, &out), "%s", b)
	}
	return resp.StatusCode, out, string(b)
}

// A first-use origin (the person answers "Allow once") lists the keys,
// has the person pick one and signs with it. The listing for the choice
// asks nothing and names no key; the choice's one dialog is the origin's
// first use, the pick and the signature; the choice returns the key with
// its certificate and chain, so no lookup follows. The path of old —
// a plain listing, the choice, a KeyStore.Key lookup for the certificate —
// asks the same person three times.
func TestListChooseSignAsksFirstUseOriginOnce(t *testing.T) {
	p := &testutil.Person{}
	h, _, _ := chooseHost(t, p, nil)
	ecKey := h.Key(t, plugintest.KeyECDSA)
	p.Pick = ecKey.URI

	code, out, body := postListChoose(t, h, listChoose{Origin: "https://old.example", Lookup: true, Certificate: true})
	require.Equal(t, http.StatusOK, code, body)
	assert.Len(t, p.Questions(), 3, "the old path: listing, choice, lookup")

	before := len(p.Questions())
	code, out, body = postListChoose(t, h, listChoose{Origin: "https://new.example", ForChoice: true, Certificate: true})
	require.Equal(t, http.StatusOK, code, body)
	qs := p.Questions()[before:]
	require.Len(t, qs, 1, "one dialog for a first-use origin's list → choose → sign")
	q := qs[0]
	assert.True(t, q.FirstUse, "the choice's dialog is the origin's first use")
	assert.Equal(t, consent.Sign, q.Request.Kind)
	assert.Equal(t, "https://new.example", q.Request.Origin)
	assert.NotEmpty(t, q.Request.Choices)

	assert.Positive(t, out.Listed)
	assert.Equal(t, out.Listed, out.Withheld, "an origin not allowed yet gets every key withheld")
	assert.Equal(t, ecKey.URI, out.Key)
	assert.NotEmpty(t, out.GrantID, "the choice's grant covered the signature")
	assert.True(t, ecdsa.VerifyASN1(ecKey.PublicKey.(*ecdsa.PublicKey), func() []byte { d := sha256.Sum256([]byte("contract")); return d[:] }(), out.Signature))
	require.NotNil(t, ecKey.Certificate)
	assert.Equal(t, ecKey.Certificate.Raw, out.Certificate, "ChooseKey returns the certificate")
	var chain [][]byte
	for _, c := range ecKey.Chain {
		chain = append(chain, c.Raw)
	}
	assert.Equal(t, chain, out.Chain, "ChooseKey returns the chain the key store has")
}

// An origin already allowed gets the listing for a choice in full (nothing
// withheld) and is asked once, for the choice.
func TestListForChoiceAllowedOriginInFull(t *testing.T) {
	const origin = "https://portal.example"
	p := &testutil.Person{}
	h, _, _ := chooseHost(t, p, policy(t, "  allow: [\""+origin+"\"]\n"))
	code, out, body := postListChoose(t, h, listChoose{Origin: origin, ForChoice: true, Certificate: true})
	require.Equal(t, http.StatusOK, code, body)
	assert.Positive(t, out.Listed)
	assert.Zero(t, out.Withheld)
	assert.Len(t, p.Questions(), 1)
}

// The filter hides the keys that do not match: with only ECDSA wanted the
// dialog offers the ECDSA key alone; with an algorithm no key has, the
// choice fails as "no such key" for an allowed origin — and as a refusal,
// learning nothing, for a first-use one — without a question.
func TestChooseKeyFilterHidesNonMatchingKeys(t *testing.T) {
	const origin = "https://portal.example"
	p := &testutil.Person{}
	h, _, _ := chooseHost(t, p, policy(t, "  allow: [\""+origin+"\"]\n"))
	ecKey := h.Key(t, plugintest.KeyECDSA)

	code, out, body := postListChoose(t, h, listChoose{Origin: origin, ForChoice: true, Certificate: true, Algorithms: []string{string(hsm.ECDSA)}})
	require.Equal(t, http.StatusOK, code, body)
	qs := p.Questions()
	require.Len(t, qs, 1)
	require.Len(t, qs[0].Request.Choices, 1, "only the ECDSA key is shown")
	assert.Equal(t, ecKey.URI, qs[0].Request.Choices[0].URI)
	assert.Equal(t, ecKey.URI, out.Key)
	cert, err := x509.ParseCertificate(out.Certificate)
	require.NoError(t, err)
	assert.Equal(t, ecKey.Certificate.Subject.String(), cert.Subject.String())

	code, _, body = postListChoose(t, h, listChoose{Origin: origin, ForChoice: true, Algorithms: []string{"GOST3410-2012"}})
	assert.Equal(t, http.StatusNotFound, code, body)
	assert.Contains(t, body, "filter")
	code, _, body = postListChoose(t, h, listChoose{Origin: "https://first.example", ForChoice: true, Algorithms: []string{"GOST3410-2012"}})
	assert.Equal(t, http.StatusForbidden, code, body)
	assert.Len(t, p.Questions(), 1, "no key left: nobody is asked")
}

// An origin the administrator denies gets nothing listed — not even
// withheld keys — and nobody is asked; nor is an origin the person
// refused for good.
func TestListForChoiceDeniedOriginGetsNothing(t *testing.T) {
	const denied = "https://evil.example"
	p := &testutil.Person{}
	h, e, _ := chooseHost(t, p, policy(t, "  deny: [\""+denied+"\"]\n"))
	for _, req := range []listChoose{
		{Origin: denied, ForChoice: true, Certificate: true},
		{Origin: denied, Certificate: true},
	} {
		code, out, body := postListChoose(t, h, req)
		assert.Equal(t, http.StatusForbidden, code, body)
		assert.Zero(t, out.Listed)
	}
	const refused = "https://refused.example"
	require.NoError(t, e.Decisions().Set(consent.OriginDecision{Origin: refused, Choice: consent.Never}))
	code, _, body := postListChoose(t, h, listChoose{Origin: refused, ForChoice: true})
	assert.Equal(t, http.StatusForbidden, code, body)
	assert.Empty(t, p.Questions(), "a denied origin is never asked about")
}

// ForChoice does not reach past key listings: a first-use origin listing
// tokens with it set is asked the first-use question as without it.
func TestTokensIgnoreForChoice(t *testing.T) {
	p := &testutil.Person{}
	h, _, _ := chooseHost(t, p, nil)
	body, err := json.Marshal(listChoose{Origin: "https://first.example", ForChoice: true})
	require.NoError(t, err)
	resp, err := h.HTTPClient().Post("https://"+h.Addr("https")+"/tokens", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	qs := p.Questions()
	require.Len(t, qs, 1, "the token listing asks a first-use origin")
	assert.True(t, qs[0].FirstUse)
	assert.Equal(t, consent.List, qs[0].Request.Kind)
}
