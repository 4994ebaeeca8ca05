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
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, ""
	}
	var out struct {
		Signature []byte `json:"signature"`
		GrantID   string `json:"grant_id"`
	}
	if err := json.Unmarshal(b, &out); err != nil || len(out.Signature) == 0 {
		t.Fatalf("sign response %q: %v", b, err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	e, err := consent.NewEngine(consent.EngineConfig{Prompter: p, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Decisions().Set(consent.OriginDecision{Origin: origin, Choice: consent.Always, Decided: time.Now()}); err != nil {
		t.Fatal(err)
	}
	h := plugintest.Start(t, grantPlugin, &plugintest.Config{Consent: e})
	key := h.KeyURI(t, plugintest.KeyRSA)

	code, id := postGrantSign(t, h, grantSign{Key: key, Origin: origin, Uses: 3, WithinS: 600,
		SummaryHTML: `<b>Invoice #42</b><script>alert(1)</script><img src=x onerror=alert(2)>`})
	if code != http.StatusOK || id == "" {
		t.Fatalf("offer of 3: status %d, grant id %q; want 200 and a grant id", code, id)
	}
	qs := p.questions()
	if len(qs) != 1 {
		t.Fatalf("%d questions after the offer, want 1", len(qs))
	}
	if g := qs[0].Grant; g == nil || g.Uses != 3 || g.Within != 10*time.Minute {
		t.Errorf("question offers %+v, want 3 uses within 10m", g)
	}
	if got := qs[0].Request.SummaryHTML; got != "<b>Invoice #42</b>" {
		t.Errorf("summary HTML in the question = %q, want the sanitised <b>Invoice #42</b>", got)
	}

	for i := range 2 {
		code, again := postGrantSign(t, h, grantSign{Key: key, Origin: origin, GrantID: id})
		if code != http.StatusOK {
			t.Fatalf("use %d of the grant: status %d", i+2, code)
		}
		if again != "" {
			t.Errorf("use %d of the grant reported a new grant %q", i+2, again)
		}
	}
	if n := len(p.questions()); n != 1 {
		t.Fatalf("%d questions after using the grant, want still 1", n)
	}
	if code, _ := postGrantSign(t, h, grantSign{Key: key, Origin: origin, GrantID: id}); code != http.StatusForbidden {
		t.Fatalf("fourth use of a grant of 3: status %d, want 403", code)
	}
	if n := len(p.questions()); n != 1 {
		t.Fatalf("a used-up grant put a question (%d questions)", n)
	}
	// Without the grant, the person is asked again (and, scripted, refuses).
	if code, _ := postGrantSign(t, h, grantSign{Key: key, Origin: origin}); code != http.StatusForbidden {
		t.Fatalf("after the grant, unscripted answer: status %d, want 403", code)
	}
	if n := len(p.questions()); n != 2 {
		t.Fatalf("%d questions after the grant ran out, want 2", n)
	}

	recs, err := j.List(journal.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	byGrant, created := 0, false
	for _, r := range recs {
		if r.Op == journal.OpGrant && r.GrantID == id {
			created = true
		}
		if r.Op == journal.OpSign && r.DecidedBy == journal.ByGrant && r.GrantID == id && r.Decision == journal.DecisionAllowed {
			byGrant++
		}
	}
	if !created || byGrant != 2 {
		t.Errorf("journal: grant created %v, %d signatures allowed by it; want true, 2", created, byGrant)
	}
}

// An HTML summary over MaxSummaryHTML is refused before anyone is asked.
func TestSummaryHTMLTooLong(t *testing.T) {
	p := &scripted{answers: []consent.Answer{{Allow: true}}}
	e, err := consent.NewEngine(consent.EngineConfig{Prompter: p, Policy: nil})
	if err != nil {
		t.Fatal(err)
	}
	h := plugintest.Start(t, grantPlugin, &plugintest.Config{Consent: e})
	key := h.KeyURI(t, plugintest.KeyRSA)
	code, _ := postGrantSign(t, h, grantSign{Key: key, Origin: "https://portal.example",
		SummaryHTML: "<b>" + strings.Repeat("x", consent.MaxSummaryHTML) + "</b>"})
	if code != http.StatusBadRequest {
		t.Fatalf("oversized HTML summary: status %d, want 400", code)
	}
	if n := len(p.questions()); n != 0 {
		t.Fatalf("oversized HTML summary put %d questions", n)
	}
}

func postGrant(t *testing.T, h *plugintest.Host, req grantSign) (code int, grantID string) {
	t.Helper()
	body, _ := json.Marshal(req)
	resp, err := h.HTTPClient().Post("https://"+h.Addr("https")+"/grant", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		GrantID string `json:"grant_id"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
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
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Decisions().Set(consent.OriginDecision{Origin: origin, Choice: consent.Always, Decided: time.Now()}); err != nil {
		t.Fatal(err)
	}
	h := plugintest.Start(t, grantPlugin, &plugintest.Config{Consent: e})
	key := h.KeyURI(t, plugintest.KeyRSA)

	if code, _ := postGrant(t, h, grantSign{Key: key, Origin: origin}); code != http.StatusBadRequest {
		t.Fatalf("grant of 0 uses: status %d, want 400", code)
	}
	code, id := postGrant(t, h, grantSign{Key: key, Origin: origin, Uses: 2, SummaryHTML: "<b>Invoice #42</b>: 3 files"})
	if code != http.StatusOK || id == "" {
		t.Fatalf("grant request: status %d, id %q", code, id)
	}
	qs := p.questions()
	if len(qs) != 1 || qs[0].Grant == nil || qs[0].Grant.Uses != 2 || !qs[0].Request.GrantOnly {
		t.Fatalf("questions %+v; want one grant-only question offering 2", qs)
	}
	for i := range 2 {
		if code, _ := postGrantSign(t, h, grantSign{Key: key, Origin: origin, GrantID: id}); code != http.StatusOK {
			t.Fatalf("signature %d with the grant: status %d", i+1, code)
		}
	}
	if code, _ := postGrantSign(t, h, grantSign{Key: key, Origin: origin, GrantID: id}); code != http.StatusForbidden {
		t.Fatalf("third signature with a grant of 2: status %d, want 403", code)
	}
	if n := len(p.questions()); n != 1 {
		t.Fatalf("%d questions, want 1", n)
	}
}
