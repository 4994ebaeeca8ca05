package host_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const grantPlugin = "./testdata/grantplugin"

// scripted is a Prompter that answers from a script and records every
// question it was asked.
type scripted struct {
	mu      sync.Mutex
	answers []consent.Answer // one per question; none left denies
	asked   []consent.Question
}

func (s *scripted) Confirm(_ context.Context, q consent.Question) (consent.Answer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, q)
	if len(s.answers) == 0 {
		return consent.Answer{}, nil
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	return a, nil
}

func (s *scripted) PIN(context.Context, hsm.PINRequest) (hsm.PINResponse, error) {
	return hsm.PINResponse{}, hsm.ErrCancelled
}

func (s *scripted) questions() []consent.Question {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]consent.Question(nil), s.asked...)
}

type grantSign struct {
	Key         string `json:"key"`
	Digest      []byte `json:"digest"`
	Origin      string `json:"origin"`
	Uses        int    `json:"uses,omitempty"`
	WithinS     int    `json:"within_s,omitempty"`
	GrantID     string `json:"grant_id,omitempty"`
	SummaryHTML string `json:"summary_html,omitempty"`
}

func postGrantSign(t *testing.T, h *plugintest.Host, req grantSign) (code int, grantID string) {
	t.Helper()
	if req.Digest == nil {
		d := sha256.Sum256([]byte(fmt.Sprint(time.Now().UnixNano())))
		req.Digest = d[:]
	}
	body, _ := json.Marshal(req)
	resp, err := h.HTTPClient().Post("https://"+h.Addr("https")+"/sign", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, ""
	}
	var out struct {
		Signature []byte `json:"signature"`
		GrantID   string `json:"grant_id"`
	}
	require.NoError(t, json.Unmarshal(b, &out), "sign response %q", b)
	require.NotEmpty(t, out.Signature, "sign response %q", b)
	return resp.StatusCode, out.GrantID
}

// A plugin offers a grant of 3 (Cipher's accessToken); the person accepts;
// the Sign response carries the grant id; two further signatures that
// present it need no question; the fourth presentation is refused; a
// request without the grant asks again.
func TestGrantOverTheWire(t *testing.T) {
	const origin = "https://portal.example"
	p := &scripted{answers: []consent.Answer{{Allow: true, Remember: true}}}
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.jsonl"), journal.WithoutSync())
	require.NoError(t, err)
	t.Cleanup(func() { j.Close() })
	e, err := consent.NewEngine(consent.EngineConfig{Prompter: p, Journal: j})
	require.NoError(t, err)
	require.NoError(t, e.Decisions().Set(consent.OriginDecision{Origin: origin, Choice: consent.Always, Decided: time.Now()}))
	h := plugintest.Start(t, grantPlugin, &plugintest.Config{Consent: e})
	key := h.KeyURI(t, plugintest.KeyRSA)

	code, id := postGrantSign(t, h, grantSign{Key: key, Origin: origin, Uses: 3, WithinS: 600,
		SummaryHTML: `<b>Invoice #42</b><script>alert(1)</script><img src=x onerror=alert(2)>`})
	require.Equal(t, http.StatusOK, code, "offer of 3: status")
	require.NotEmpty(t, id, "offer of 3: grant id")
	qs := p.questions()
	require.Len(t, qs, 1, "questions after the offer")
	if g := qs[0].Grant; assert.NotNil(t, g, "question offers no grant") {
		assert.Equal(t, 3, g.Uses, "question offers uses")
		assert.Equal(t, 10*time.Minute, g.Within, "question offers within")
	}
	assert.Equal(t, "<b>Invoice #42</b>", qs[0].Request.SummaryHTML, "summary HTML in the question, want the sanitised one")

	for i := range 2 {
		code, again := postGrantSign(t, h, grantSign{Key: key, Origin: origin, GrantID: id})
		require.Equal(t, http.StatusOK, code, "use %d of the grant: status", i+2)
		assert.Empty(t, again, "use %d of the grant reported a new grant", i+2)
	}
	require.Len(t, p.questions(), 1, "questions after using the grant, want still 1")
	code, _ = postGrantSign(t, h, grantSign{Key: key, Origin: origin, GrantID: id})
	require.Equal(t, http.StatusForbidden, code, "fourth use of a grant of 3: status")
	require.Len(t, p.questions(), 1, "a used-up grant put a question")
	// Without the grant, the person is asked again (and, scripted, refuses).
	code, _ = postGrantSign(t, h, grantSign{Key: key, Origin: origin})
	require.Equal(t, http.StatusForbidden, code, "after the grant, unscripted answer: status")
	require.Len(t, p.questions(), 2, "questions after the grant ran out")

	recs, err := j.List(journal.Filter{})
	require.NoError(t, err)
	byGrant, created := 0, false
	for _, r := range recs {
		if r.Op == journal.OpGrant && r.GrantID == id {
			created = true
		}
		if r.Op == journal.OpSign && r.DecidedBy == journal.ByGrant && r.GrantID == id && r.Decision == journal.DecisionAllowed {
			byGrant++
		}
	}
	assert.True(t, created, "journal: no grant record for %q", id)
	assert.Equal(t, 2, byGrant, "journal: signatures allowed by the grant")
}

// An HTML summary over MaxSummaryHTML is refused before anyone is asked.
func TestSummaryHTMLTooLong(t *testing.T) {
	p := &scripted{answers: []consent.Answer{{Allow: true}}}
	e, err := consent.NewEngine(consent.EngineConfig{Prompter: p, Policy: nil})
	require.NoError(t, err)
	h := plugintest.Start(t, grantPlugin, &plugintest.Config{Consent: e})
	key := h.KeyURI(t, plugintest.KeyRSA)
	code, _ := postGrantSign(t, h, grantSign{Key: key, Origin: "https://portal.example",
		SummaryHTML: "<b>" + strings.Repeat("x", consent.MaxSummaryHTML) + "</b>"})
	require.Equal(t, http.StatusBadRequest, code, "oversized HTML summary: status")
	assert.Empty(t, p.questions(), "oversized HTML summary put questions")
}

func postGrant(t *testing.T, h *plugintest.Host, req grantSign) (code int, grantID string) {
	t.Helper()
	body, _ := json.Marshal(req)
	resp, err := h.HTTPClient().Post("https://"+h.Addr("https")+"/grant", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		GrantID string `json:"grant_id"`
	}
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	}
	return resp.StatusCode, out.GrantID
}

// Cipher's accessToken over the wire: a grant of 2 asked for before any
// signature (Consent.GrantSign) covers exactly two signatures presenting
// it, without a question.
func TestGrantSignOverTheWire(t *testing.T) {
	const origin = "https://portal.example"
	p := &scripted{answers: []consent.Answer{{Allow: true, Remember: true}}}
	e, err := consent.NewEngine(consent.EngineConfig{Prompter: p})
	require.NoError(t, err)
	require.NoError(t, e.Decisions().Set(consent.OriginDecision{Origin: origin, Choice: consent.Always, Decided: time.Now()}))
	h := plugintest.Start(t, grantPlugin, &plugintest.Config{Consent: e})
	key := h.KeyURI(t, plugintest.KeyRSA)

	code, _ := postGrant(t, h, grantSign{Key: key, Origin: origin})
	require.Equal(t, http.StatusBadRequest, code, "grant of 0 uses: status")
	code, id := postGrant(t, h, grantSign{Key: key, Origin: origin, Uses: 2, SummaryHTML: "<b>Invoice #42</b>: 3 files"})
	require.Equal(t, http.StatusOK, code, "grant request: status")
	require.NotEmpty(t, id, "grant request: id")
	qs := p.questions()
	require.Len(t, qs, 1, "questions %+v; want one grant-only question offering 2", qs)
	require.NotNil(t, qs[0].Grant, "question offers no grant")
	require.Equal(t, 2, qs[0].Grant.Uses, "question offers uses")
	require.True(t, qs[0].Request.GrantOnly, "question is not grant-only")
	for i := range 2 {
		code, _ := postGrantSign(t, h, grantSign{Key: key, Origin: origin, GrantID: id})
		require.Equal(t, http.StatusOK, code, "signature %d with the grant: status", i+1)
	}
	code, _ = postGrantSign(t, h, grantSign{Key: key, Origin: origin, GrantID: id})
	require.Equal(t, http.StatusForbidden, code, "third signature with a grant of 2: status")
	require.Len(t, p.questions(), 1, "questions")
}
