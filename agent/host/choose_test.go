package host_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/signet-agent/signet/internal/wire"
	"github.com/signet-agent/signet/sdk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type chooseSign struct {
	Keys    []string `json:"keys"`
	Digest  []byte   `json:"digest"`
	Origin  string   `json:"origin"`
	GrantID string   `json:"grant_id,omitempty"`
}

type chooseSigned struct {
	Key       string `json:"key"`
	Signature []byte `json:"signature"`
	GrantID   string `json:"grant_id"`
}

// postChooseSign asks the plugin to pick a key (ChooseKey) and sign with it.
func postChooseSign(t *testing.T, h *plugintest.Host, req chooseSign) (int, chooseSigned) {
	t.Helper()
	if req.Digest == nil {
		d := sha256.Sum256([]byte(fmt.Sprint(time.Now().UnixNano())))
		req.Digest = d[:]
	}
	body, _ := json.Marshal(req)
	resp, err := h.HTTPClient().Post("https://"+h.Addr("https")+"/choose", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out chooseSigned
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal(b, &out), "response %q", b)
		require.NotEmpty(t, out.Signature, "response %q", b)
	}
	return resp.StatusCode, out
}

// chooseHost starts the test plugin (POST /choose) under an Engine with prompter p (nil:
// headless) and policy pol, whose key lookups go to the test host's key
// store.
func chooseHost(t *testing.T, p consent.Prompter, pol *config.Policy) (*plugintest.Host, *consent.Engine, *journal.Journal) {
	t.Helper()
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.jsonl"), journal.WithoutSync())
	require.NoError(t, err)
	t.Cleanup(func() { j.Close() })
	var store *hsm.Store
	e, err := consent.NewEngine(consent.EngineConfig{Prompter: p, Journal: j, Policy: pol,
		KeyInfo: func(ctx context.Context, uri string) (hsm.KeyInfo, error) { return store.Key(ctx, uri) }})
	require.NoError(t, err)
	h := plugintest.Start(t, grantPlugin, &plugintest.Config{Consent: e})
	store = h.Store
	return h, e, j
}

// A page names no key ("ckc"); the plugin offers the token's keys; the
// person picks one in ONE dialog (an unknown candidate is not shown); the
// plugin signs with it presenting the choice's grant — no second question
// — and the signature verifies with the picked key. Presenting the grant
// again is refused without a question.
func TestChooseKeyOverTheWire(t *testing.T) {
	const origin = "https://portal.example"
	var h *plugintest.Host
	p := &scripted{}
	h, e, j := chooseHost(t, p, nil)
	require.NoError(t, e.Decisions().Set(consent.OriginDecision{Origin: origin, Choice: consent.Always, Decided: time.Now()}))
	rsaKey, ecKey := h.Key(t, plugintest.KeyRSA), h.Key(t, plugintest.KeyECDSA)
	p.answers = []consent.Answer{{Allow: true, KeyURI: ecKey.URI}}

	digest := sha256.Sum256([]byte("contract"))
	unknown := "pkcs11:token=" + plugintest.TokenLabel + ";object=no-such-key;type=private"
	code, out := postChooseSign(t, h, chooseSign{Keys: []string{rsaKey.URI, unknown, ecKey.URI}, Digest: digest[:], Origin: origin})
	require.Equal(t, http.StatusOK, code, "status; response %+v", out)
	require.Equal(t, ecKey.URI, out.Key, "want the ECDSA key")
	require.NotEmpty(t, out.GrantID, "want a grant")
	require.True(t, ecdsa.VerifyASN1(ecKey.PublicKey.(*ecdsa.PublicKey), digest[:], out.Signature), "the signature does not verify with the picked key")
	qs := p.questions()
	require.Len(t, qs, 1, "want one dialog for choice and signature")
	q := qs[0].Request
	require.Len(t, q.Choices, 2, "dialog offers %+v; want RSA and ECDSA", q.Choices)
	require.Equal(t, rsaKey.URI, q.Choices[0].URI, "first choice")
	require.Equal(t, ecKey.URI, q.Choices[1].URI, "second choice")
	for _, c := range q.Choices {
		assert.NotNil(t, c.Certificate, "choice %s shows no certificate", c.URI)
		assert.NotEmpty(t, c.Label, "choice %s shows no label", c.URI)
	}
	assert.Equal(t, "plugin-under-test", q.Plugin, "dialog request plugin")
	assert.Equal(t, origin, q.Origin, "dialog request origin")
	assert.Equal(t, consent.Sign, q.Kind, "dialog request kind")
	if assert.Len(t, q.Documents, 1, "dialog request documents") {
		assert.Equal(t, "contract.txt", q.Documents[0].Name, "dialog request document")
	}

	// Replaying the one-use grant: refused, nobody asked.
	code, _ = postChooseSign(t, h, chooseSign{Keys: []string{ecKey.URI}, Origin: origin, GrantID: out.GrantID})
	require.Equal(t, http.StatusForbidden, code, "replayed grant: status")
	require.Len(t, p.questions(), 1, "replayed grant: want no new question")

	recs, err := j.List(journal.Filter{})
	require.NoError(t, err)
	var chosen, signed bool
	for _, r := range recs {
		if r.Op == journal.OpConsent && r.KeyURI == ecKey.URI && r.GrantID == out.GrantID && r.Decision == journal.DecisionAllowed {
			chosen = true
		}
		if r.Op == journal.OpSign && r.KeyURI == ecKey.URI && r.DecidedBy == journal.ByGrant && r.GrantID == out.GrantID {
			signed = true
		}
	}
	assert.True(t, chosen, "journal: no choice record")
	assert.True(t, signed, "journal: no signature by the choice's grant")
}

// Refusals over the wire arrive as the SDK's sentinel errors (the plugin
// maps them to HTTP statuses).
func TestChooseKeyRefusedOverTheWire(t *testing.T) {
	const origin = "https://portal.example"
	approved := policy(t, "  allow: [\""+origin+"\"]\n")
	cases := []struct {
		name    string
		policy  *config.Policy
		answers []consent.Answer
		keys    func(rsa, ec string) []string
		want    int
		asked   int
	}{
		{name: "person denies", policy: approved, keys: func(r, e string) []string { return []string{r, e} }, want: http.StatusForbidden, asked: 1},
		{name: "administrator denies", policy: policy(t, "  deny: [\""+origin+"\"]\n"), answers: []consent.Answer{{Allow: true}},
			keys: func(r, e string) []string { return []string{r, e} }, want: http.StatusForbidden},
		{name: "no known candidate", policy: approved, keys: func(string, string) []string {
			return []string{"pkcs11:token=nowhere;object=x;type=private"}
		}, want: http.StatusNotFound},
		{name: "too many candidates", policy: approved, keys: func(r, _ string) []string {
			var ks []string
			for range sdk.MaxKeyChoices + 1 {
				ks = append(ks, r)
			}
			return ks
		}, want: http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &scripted{answers: c.answers}
			h, _, _ := chooseHost(t, p, c.policy)
			code, _ := postChooseSign(t, h, chooseSign{Keys: c.keys(h.KeyURI(t, plugintest.KeyRSA), h.KeyURI(t, plugintest.KeyECDSA)), Origin: origin})
			require.Equal(t, c.want, code, "status")
			require.Len(t, p.questions(), c.asked, "questions")
		})
	}
}

// Headless, an unattended rule allowing the origin's signatures picks the
// only candidate (no grant; the rule decides the signature); two
// candidates cannot be chosen between.
func TestChooseKeyUnattendedOverTheWire(t *testing.T) {
	const origin = "https://ci.example"
	pol := policy(t, "  unattended:\n    rules:\n      - {origin: \""+origin+"\", operation: sign, action: allow}\n")
	h, _, _ := chooseHost(t, nil, pol)
	rsaKey, ecKey := h.Key(t, plugintest.KeyRSA), h.Key(t, plugintest.KeyECDSA)
	digest := sha256.Sum256([]byte("ci build"))
	code, out := postChooseSign(t, h, chooseSign{Keys: []string{rsaKey.URI}, Digest: digest[:], Origin: origin})
	require.Equal(t, http.StatusOK, code, "one candidate: status; response %+v", out)
	require.Equal(t, rsaKey.URI, out.Key, "one candidate: key")
	require.Empty(t, out.GrantID, "one candidate: want no grant")
	require.NoError(t, rsa.VerifyPKCS1v15(rsaKey.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], out.Signature), "signature")
	code, _ = postChooseSign(t, h, chooseSign{Keys: []string{rsaKey.URI, ecKey.URI}, Origin: origin})
	require.Equal(t, http.StatusForbidden, code, "two candidates, no one to ask: status")
}

// policy parses the policy section of a configuration (YAML under "policy:").
func policy(t *testing.T, yaml string) *config.Policy {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte("data_dir: "+t.TempDir()+"\npolicy:\n"+yaml))
	require.NoError(t, err)
	return &cfg.Policy
}

// plugintest's default consent (AllowAll) picks the first candidate.
func TestChooseKeyAllowAll(t *testing.T) {
	h := plugintest.Start(t, grantPlugin, nil)
	ecKey := h.Key(t, plugintest.KeyECDSA)
	code, out := postChooseSign(t, h, chooseSign{Keys: []string{ecKey.URI, h.KeyURI(t, plugintest.KeyRSA)}, Origin: "https://portal.example"})
	require.Equal(t, http.StatusOK, code, "status; response %+v", out)
	assert.Equal(t, ecKey.URI, out.Key, "want the first key")
	assert.Empty(t, out.GrantID, "want no grant")
}

// The SDK's grant lifetime is the consent engine's.
func TestChooseKeyGrantTTL(t *testing.T) {
	assert.Equal(t, consent.ChoiceGrantTTL, wire.ChooseKeyGrantTTL, "grant lifetime")
	assert.EqualValues(t, consent.MaxChoices, sdk.MaxKeyChoices, "maximum key choices")
}
