package cryptoarm_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/plugintest"
)

// logs captures the host's and the plugin's log records.
type logs struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	l.mu.Lock()
	l.msgs = append(l.msgs, b.String())
	l.mu.Unlock()
	return nil
}
func (l *logs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logs) WithGroup(string) slog.Handler      { return l }

// wait waits for a record containing every part.
func (l *logs) wait(t *testing.T, parts ...string) string {
	t.Helper()
	var got string
	require.Eventually(t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, m := range l.msgs {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(m, p)
			}
			if all {
				got = m
				return true
			}
		}
		return false
	}, 60*time.Second, 20*time.Millisecond, "no log record with %q", parts)
	return got
}

// TestChangedCertificateAsksAgain: the trust question is asked for the
// first job of an origin, not for the next one with the same certificate,
// and again — saying it changed — once the service presents another key.
func TestChangedCertificateAsksAgain(t *testing.T) {
	cert1, pem1 := portalCert(t)
	cert2, pem2 := portalCert(t)
	p := newPortal(t, cert1, "")
	e := start(t, plugintest.AllowAll(), p, [][]byte{pem1, pem2}, nil)
	job := func(id string) {
		p.addJob(id, map[string]any{"operation": []string{"SYSTEMINFORMATION"}})
		e.open(t, p.link("diagnostics", id))
		n := p.waitNotification(t, "diagnostics.information")
		require.Equal(t, id, params(t, n)["id"])
		p.mu.Lock()
		p.requests = nil
		p.mu.Unlock()
	}
	job("d-1")
	job("d-2")
	origin := e.h.Consent().QuestionsOf(plugintest.Origin)
	require.Len(t, origin, 1, "the same certificate is not asked about again")
	assert.NotContains(t, origin[0].Summary, "CHANGED")

	p.restart(cert2)
	job("d-3")
	origin = e.h.Consent().QuestionsOf(plugintest.Origin)
	require.Len(t, origin, 2, "a changed certificate asks again")
	assert.Contains(t, origin[1].Summary, "CHANGED")
	assert.NotEqual(t, origin[0].Evidence["public key SHA-256"], origin[1].Evidence["public key SHA-256"])
	assert.Equal(t, origin[0].Evidence["public key SHA-256"], origin[1].Evidence["previous public key SHA-256"])
}

// TestUntrustedServiceGetsNothingMore: when the person does not trust the
// service, nothing is fetched or sent after the parameters request — no
// file download, no cancel notification — and the answer is not
// remembered (the next job asks again).
func TestUntrustedServiceGetsNothingMore(t *testing.T) {
	cert, certPEM := portalCert(t)
	p := newPortal(t, cert, "")
	l := &logs{}
	c := plugintest.Deny(plugintest.Origin)
	e := startWithLog(t, c, p, certPEM, slog.New(l))
	p.addJob("u-1", signJob(p, nil, "a.txt"))
	e.open(t, p.link("signAndEncrypt", "u-1"))
	l.wait(t, "cryptoarm job failed", "service not trusted")
	seen := p.seen()
	require.Len(t, seen, 1, "only the parameters request: %v", p.summary())
	assert.Equal(t, "signAndEncrypt.parameters", seen[0].RPC.Method)
	assert.Empty(t, c.QuestionsOf(plugintest.Sign))

	e.open(t, p.link("signAndEncrypt", "u-1"))
	require.Eventually(t, func() bool { return len(c.QuestionsOf(plugintest.Origin)) == 2 }, 60*time.Second, 20*time.Millisecond)
}

// TestRefusedJobSendsCancel: the person refuses the job in the dialog;
// the service gets the cancel notification at the command URL (§3.4).
func TestRefusedJobSendsCancel(t *testing.T) {
	cert, certPEM := portalCert(t)
	p := newPortal(t, cert, "")
	e := start(t, plugintest.Deny(plugintest.Sign), p, [][]byte{certPEM}, nil)
	p.addJob("c-1", signJob(p, nil, "a.txt"))
	e.open(t, p.link("signAndEncrypt", "c-1"))
	n := p.waitNotification(t, "signAndEncrypt.outDirectResults")
	assert.Equal(t, "/json", n.Path, "cancel goes to the command URL")
	assert.Equal(t, "id=c-1", n.Query)
	pm := params(t, n)
	assert.Equal(t, map[string]any{"id": "c-1", "status": "Canceled", "error": nil, "errorDescription": nil}, pm)
	for _, r := range p.seen() {
		assert.NotEqual(t, "/upload", r.Path, "nothing uploaded")
	}
}

// TestRetriedUploadDoesNotSignAgain: the upload fails twice with 503; the
// third attempt carries the very same signatures, and the host was asked
// for one signature per file.
func TestRetriedUploadDoesNotSignAgain(t *testing.T) {
	cert, certPEM := portalCert(t)
	p := newPortal(t, cert, "")
	p.failUploads = 2
	e := start(t, plugintest.AllowAll(), p, [][]byte{certPEM}, nil)
	p.addJob("r-1", signJob(p, map[string]any{"signType": 0, "signEncoding": 1}, "a.txt", "b.txt"))
	e.open(t, p.link("signAndEncrypt", "r-1"))
	require.Eventually(t, func() bool {
		ups := uploads(p)
		return len(ups) == 3
	}, 60*time.Second, 20*time.Millisecond, "%v", p.summary())
	ups := uploads(p)
	assert.Equal(t, ups[0].Body, ups[1].Body, "a retry re-sends the same results")
	assert.Equal(t, ups[0].Body, ups[2].Body)
	var signs int
	for _, q := range e.h.Consent().QuestionsOf(plugintest.Sign) {
		if len(q.Choices) == 0 {
			signs++
		}
	}
	assert.Equal(t, 2, signs, "one signature per file, not per attempt")
}

func uploads(p *portal) []request {
	var out []request
	for _, r := range p.seen() {
		if r.Method == http.MethodPost && r.Path == "/upload" {
			out = append(out, r)
		}
	}
	return out
}

// TestOtherOriginsRefused: a file on another origin, and a redirect to
// another origin, fail the job with -32602 reported to the service; the
// other origin is never contacted.
func TestOtherOriginsRefused(t *testing.T) {
	cert, certPEM := portalCert(t)
	p := newPortal(t, cert, "")
	other := newPortal(t, cert, "")
	e := start(t, plugintest.AllowAll(), p, [][]byte{certPEM}, nil)

	job := signJob(p, nil, "a.txt")
	job["props"].(map[string]any)["files"] = []map[string]any{{"name": "x.txt", "url": other.addFile("x.txt", []byte("x")), "id": "1"}}
	p.addJob("o-1", job)
	e.open(t, p.link("signAndEncrypt", "o-1"))
	n := p.waitNotification(t, "signAndEncrypt.outDirectResults")
	pm := params(t, n)
	assert.Equal(t, "Error", pm["status"])
	assert.EqualValues(t, -32602, pm["error"])
	assert.Contains(t, pm["errorDescription"], "outside the service's origin")

	p.mu.Lock()
	p.requests = nil
	p.redirect["/files/a.txt"] = other.url("/files/x.txt")
	p.mu.Unlock()
	p.addJob("o-2", signJob(p, nil, "a.txt"))
	p.mu.Lock()
	p.redirect["/files/a.txt"] = other.url("/files/x.txt")
	p.mu.Unlock()
	e.open(t, p.link("signAndEncrypt", "o-2"))
	n = p.waitNotification(t, "signAndEncrypt.outDirectResults")
	pm = params(t, n)
	assert.Equal(t, "Error", pm["status"])
	assert.Contains(t, pm["errorDescription"], "redirect")
	assert.Empty(t, other.seen(), "the other origin was contacted")
}

// TestLinksRefusedAtOpen: `signet open` gets the parser's error for a
// plain-http service, and nothing is fetched.
func TestLinksRefusedAtOpen(t *testing.T) {
	cert, certPEM := portalCert(t)
	p := newPortal(t, cert, "")
	e := start(t, plugintest.AllowAll(), p, [][]byte{certPEM}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := e.h.OpenURL(ctx, "cryptoarm://signAndEncrypt/http://"+p.addr+"/json?id=1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "plain http")
	err = e.h.OpenURL(ctx, "cryptoarm://format/https://"+p.addr+"/json?id=1")
	assert.ErrorContains(t, err, "unknown command")
	assert.Empty(t, p.seen())
}

// TestTrustAskedOfAnAllowedOrigin runs the host's real consent engine
// with the portal's origin allowed "always" beforehand: the trust question
// still reaches the person for the first job and for a changed
// certificate (Consent.Confirm), and not for a job with the trusted key.
func TestTrustAskedOfAnAllowedOrigin(t *testing.T) {
	cert1, pem1 := portalCert(t)
	cert2, pem2 := portalCert(t)
	p := newPortal(t, cert1, "")
	c := plugintest.AcceptGrants("https://" + p.addr)
	e := start(t, c, p, [][]byte{pem1, pem2}, nil)
	job := func(id string) {
		p.addJob(id, map[string]any{"operation": []string{"VERSIONS"}})
		e.open(t, p.link("diagnostics", id))
		require.Equal(t, id, params(t, p.waitNotification(t, "diagnostics.information"))["id"])
		p.mu.Lock()
		p.requests = nil
		p.mu.Unlock()
	}
	job("a-1")
	require.Len(t, c.QuestionsOf(plugintest.Origin), 1, "the trust question reaches the person")
	job("a-2")
	require.Len(t, c.QuestionsOf(plugintest.Origin), 1)
	p.restart(cert2)
	job("a-3")
	require.Len(t, c.QuestionsOf(plugintest.Origin), 2, "a changed certificate reaches the person")
	assert.Contains(t, c.QuestionsOf(plugintest.Origin)[1].Summary, "CHANGED")
}

// TestAttackSameLinkTwiceSignsOnce: a link opened twice (a double click,
// or a page that re-opens it) runs the job twice, but the host signs each
// job file once: the second run is refused and reported to the service.
func TestAttackSameLinkTwiceSignsOnce(t *testing.T) {
	cert, certPEM := portalCert(t)
	p := newPortal(t, cert, "")
	e := start(t, plugintest.AllowAll(), p, [][]byte{certPEM}, nil)
	p.addJob("twice", signJob(p, nil, "a.txt"))
	e.open(t, p.link("signAndEncrypt", "twice"))
	first := p.waitNotification(t, "signAndEncrypt.outDirectResults")
	require.Contains(t, params(t, first), "directResults")
	p.mu.Lock()
	p.requests = nil
	p.mu.Unlock()
	e.open(t, p.link("signAndEncrypt", "twice"))
	second := params(t, p.waitNotification(t, "signAndEncrypt.outDirectResults"))
	assert.Equal(t, "Error", second["status"])
	assert.Contains(t, second["errorDescription"], "already signed")
	assert.Empty(t, uploads(p), "no second signature uploaded")
}
