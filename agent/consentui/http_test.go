package consentui

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/grants"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/agent/localca"
	"github.com/signet-agent/signet/hsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// page GETs the dialog page and returns its body and CSRF token.
func getPage(t *testing.T, c *http.Client, u string) (*http.Response, string, string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	csrf := ""
	if m := csrfRE.FindSubmatch(b); m != nil {
		csrf = string(m[1])
	}
	return resp, string(b), csrf
}

func post(t *testing.T, u string, form url.Values, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, time.Minute)
	res := f.confirm(signQuestion(t))
	link := f.url(t)
	sess := openLink(t, http.DefaultClient, link)
	u := sess.page
	for _, target := range []string{link, u, u + "/../nope", f.srv.URL() + "/static/app.js"} {
		resp, _, _ := getPage(t, http.DefaultClient, target)
		h := resp.Header
		path := target
		assert.Equal(t, CSP, h.Get("Content-Security-Policy"), "%s: CSP", path)
		for k, v := range map[string]string{
			"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
			"Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
		} {
			assert.Equal(t, v, h.Get(k), "%s: %s", path, k)
		}
		for k := range h {
			assert.False(t, strings.HasPrefix(strings.ToLower(k), "access-control-"), "%s: CORS header %s", path, k)
		}
	}
	// A preflight gets no CORS answer either.
	req, _ := http.NewRequest("OPTIONS", u+"/answer", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	for k := range resp.Header {
		assert.False(t, strings.HasPrefix(strings.ToLower(k), "access-control-"), "preflight: CORS header %s", k)
	}
	f.srv.Close()
	assert.ErrorIs(t, wait(t, res).err, hsm.ErrCancelled, "after Close")
}

func TestUnknownToken404(t *testing.T) {
	f := newFixture(t, time.Minute)
	res := f.confirm(signQuestion(t))
	u := f.url(t)
	bogus := f.srv.URL() + "/q/" + strings.Repeat("0", 32)
	for _, target := range []string{bogus, bogus + "/events", f.srv.URL() + "/", f.srv.URL() + "/q/"} {
		resp, body, _ := getPage(t, http.DefaultClient, target)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "GET %s", target)
		assert.NotContains(t, body, "portal.example", "GET %s leaks the pending request", target)
	}
	sess := openLink(t, http.DefaultClient, u)
	resp := post(t, bogus+"/answer", url.Values{"csrf": {sess.csrf}, "action": {"approve"}},
		sess.hdr(map[string]string{"Origin": f.srv.URL()}))
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "POST to an unknown token")
	select {
	case r := <-res:
		require.FailNow(t, "answered through an unknown token", "%+v", r)
	default:
	}
}

func TestCrossSitePostRejected(t *testing.T) {
	f := newFixture(t, time.Minute)
	res := f.confirm(signQuestion(t))
	sess := openLink(t, http.DefaultClient, f.url(t))
	u, csrf := sess.page, sess.csrf
	require.NotEmpty(t, csrf, "no CSRF token in the page")
	good := url.Values{"csrf": {csrf}, "action": {"approve"}}
	for _, tc := range []struct {
		name string
		form url.Values
		hdr  map[string]string
		code int
	}{
		{"foreign origin", good, map[string]string{"Origin": "https://evil.example"}, 403},
		{"null origin", good, map[string]string{"Origin": "null"}, 403},
		{"cross-site fetch", good, map[string]string{"Origin": f.srv.URL(), "Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site fetch", good, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:1"}, 403},
		{"no origin headers", good, nil, 403},
		{"other port", good, map[string]string{"Origin": "http://127.0.0.1:1"}, 403},
		{"wrong csrf", url.Values{"csrf": {strings.Repeat("a", 32)}, "action": {"approve"}}, map[string]string{"Origin": f.srv.URL()}, 403},
		{"no csrf", url.Values{"action": {"approve"}}, map[string]string{"Sec-Fetch-Site": "same-origin"}, 403},
		{"bad host", good, map[string]string{"Origin": f.srv.URL(), "Host": "evil.example"}, 421},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := u + "/answer"
			if h := tc.hdr["Host"]; h != "" {
				req, _ := http.NewRequest("POST", target, strings.NewReader(tc.form.Encode()))
				req.Host = h
				req.Header.Set("Origin", tc.hdr["Origin"])
				req.Header.Set("Cookie", sess.cookie)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, tc.code, resp.StatusCode, "status")
				return
			}
			assert.Equal(t, tc.code, post(t, target, tc.form, sess.hdr(tc.hdr)).StatusCode, "status")
		})
	}
	select {
	case r := <-res:
		require.FailNow(t, "a refused POST answered the dialog", "%+v", r)
	default:
	}
	// The same-origin POST a browser makes (Origin: null because of
	// Referrer-Policy no-referrer, Sec-Fetch-Site: same-origin) answers.
	resp := post(t, u+"/answer", good, sess.hdr(map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "same-origin POST")
	r := wait(t, res)
	require.NoError(t, r.err)
	require.True(t, r.a.Allow, "answer %+v", r.a)
	// A second answer to a finished dialog changes nothing and is not an error page.
	resp = post(t, u+"/answer", url.Values{"csrf": {csrf}, "action": {"deny"}}, sess.hdr(map[string]string{"Origin": f.srv.URL()}))
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "late POST")
}

// TestPINNotLoggedAndFinalTry drives the PIN form over plain HTTP: a final
// try without confirmation does not answer; the PIN never appears in the
// server's log, in an error, or in the page.
func TestPINNotLoggedAndFinalTry(t *testing.T) {
	f := newFixture(t, time.Minute)
	const secret = "hunter2-Ω"
	req := pinRequest()
	req.State = hsm.PINState{FinalTry: true, CountLow: true, Retries: 1}
	res := f.pin(context.Background(), req)
	sess := openLink(t, http.DefaultClient, f.url(t))
	u, csrf := sess.page, sess.csrf
	hdr := sess.hdr(map[string]string{"Origin": f.srv.URL()})
	post(t, u+"/answer", url.Values{"csrf": {csrf}, "action": {"submit"}, "pin": {secret}}, hdr)
	post(t, u+"/answer", url.Values{"csrf": {csrf}, "action": {"submit"}, "pin": {secret}, "confirm_final": {"no"}}, hdr)
	select {
	case r := <-res:
		require.FailNow(t, "answered without confirming the final try", "%+v", r)
	default:
	}
	_, body, _ := sess.get(t, http.DefaultClient)
	assert.Contains(t, body, `id="notice"`, "page after an unconfirmed final try: notice missing")
	assert.False(t, strings.Contains(body, secret), "page after an unconfirmed final try: PIN echoed")
	post(t, u+"/answer", url.Values{"csrf": {csrf}, "action": {"submit"}, "pin": {secret}, "confirm_final": {"yes"}}, hdr)
	r := wait(t, res)
	require.NoError(t, r.err)
	require.True(t, string(r.r.PIN) == secret, "want the PIN") // a failure must not print it
	require.True(t, r.r.ConfirmFinalTry, "want ConfirmFinalTry")
	// A cancelled and a timed-out PIN prompt: errors carry no secret.
	res = f.pin(context.Background(), pinRequest())
	sess = openLink(t, http.DefaultClient, f.url(t))
	sess.answer(t, url.Values{"action": {"cancel"}, "pin": {secret}})
	r2 := wait(t, res)
	if assert.ErrorIs(t, r2.err, hsm.ErrCancelled, "cancel") {
		assert.False(t, strings.Contains(r2.err.Error(), secret), "the cancel error carries the PIN")
	}
	logs := f.logs.String()
	require.NotEmpty(t, logs, "no log output captured")
	for _, s := range []string{secret, url.QueryEscape(secret), "hunter2"} {
		assert.NotContains(t, logs, s, "the server log contains the PIN")
	}
}

func TestContextAndDeadline(t *testing.T) {
	f := newFixture(t, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := f.srv.Confirm(ctx, signQuestion(t)); done <- err }()
	f.url(t)
	cancel()
	assert.ErrorIs(t, wait(t, done), hsm.ErrCancelled, "cancelled ctx")
	// The question's own Deadline, when earlier than the server timeout.
	q := signQuestion(t)
	q.Deadline = time.Now().Add(200 * time.Millisecond)
	_, err := f.srv.Confirm(context.Background(), q)
	assert.ErrorIs(t, err, hsm.ErrTimeout, "deadline")
	<-f.opened
}

func TestNewRefusesUnsafeConfigs(t *testing.T) {
	for _, cfg := range []Config{
		{InsecurePlainHTTP: true, Addr: "0.0.0.0:0"},
		{InsecurePlainHTTP: true, Addr: "localhost:0"}, // names could resolve anywhere: IPs only
		{InsecurePlainHTTP: true, Addr: ":0"},
		{Addr: "127.0.0.1:0"}, // no TLS and not the test mode
	} {
		s, err := New(cfg)
		if !assert.Error(t, err, "New(%+v) succeeded", cfg) {
			s.Close()
		}
	}
}

// TestTLSWithLocalCA serves the dialog with a leaf from the local CA and
// fetches it with a client that trusts only that CA.
func TestTLSWithLocalCA(t *testing.T) {
	ca, err := localca.Open(filepath.Join(t.TempDir(), "ca"), nil, localca.Options{})
	require.NoError(t, err)
	tlsCfg, err := ca.TLSConfig([]string{"127.0.0.1", "localhost"})
	require.NoError(t, err)
	opened := make(chan string, 1)
	srv, err := New(Config{TLS: tlsCfg, Open: func(u string) error { opened <- u; return nil }})
	require.NoError(t, err)
	defer srv.Close()
	require.True(t, strings.HasPrefix(srv.URL(), "https://127.0.0.1:"), "URL %s", srv.URL())
	res := make(chan confirmResult, 1)
	go func() {
		a, err := srv.Confirm(context.Background(), signQuestion(t))
		res <- confirmResult{a, err}
	}()
	u := <-opened
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	sess := openLink(t, c, u)
	resp, body, csrf := sess.resp, sess.body, sess.csrf
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET over TLS")
	require.Contains(t, body, "portal.example", "GET over TLS")
	require.NotEmpty(t, csrf, "GET over TLS: CSRF token")
	req, _ := http.NewRequest("POST", sess.page+"/answer", bytes.NewBufferString(url.Values{"csrf": {csrf}, "action": {"approve"}}.Encode()))
	req.Header.Set("Cookie", sess.cookie)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.URL())
	resp, err = c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	r := wait(t, res)
	require.NoError(t, r.err, "answer over TLS")
	require.True(t, r.a.Allow, "answer over TLS: %+v", r.a)
	// A plain-HTTP Origin is not this server's origin.
	_ = consent.Answer{}
}

// TestActionsMustBeOffered: "always"/"never" only answer a first-use
// question, "grant" only a question with a grant offer.
func TestActionsMustBeOffered(t *testing.T) {
	f := newFixture(t, time.Minute)
	res := f.confirm(signQuestion(t)) // neither first use nor a grant offer
	sess := openLink(t, http.DefaultClient, f.url(t))
	u, csrf := sess.page, sess.csrf
	hdr := sess.hdr(map[string]string{"Sec-Fetch-Site": "same-origin"})
	for _, action := range []string{"always", "never", "grant", "", "APPROVE"} {
		resp := post(t, u+"/answer", url.Values{"csrf": {csrf}, "action": {action}}, hdr)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "action %q", action)
	}
	select {
	case r := <-res:
		require.FailNow(t, "answered by an action that was not offered", "%+v", r)
	default:
	}
	post(t, u+"/answer", url.Values{"csrf": {csrf}, "action": {"deny"}}, hdr)
	r := wait(t, res)
	require.NoError(t, r.err, "deny")
	require.False(t, r.a.Allow, "deny: %+v", r.a)
	require.False(t, r.a.Remember, "deny: %+v", r.a)
}

// TestDashboardProtection: the dashboard has the dialog's protection:
// unknown token 404 (also before it is enabled), cross-site or CSRF-less
// revocations refused, headers set.
func TestDashboardProtection(t *testing.T) {
	f := newFixture(t, time.Minute)
	bogus := f.srv.URL() + "/d/" + strings.Repeat("0", 32)
	resp, _, _ := getPage(t, http.DefaultClient, bogus)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "dashboard before EnableDashboard")
	e, err := consent.NewEngine(consent.EngineConfig{})
	require.NoError(t, err)
	g, err := e.Grants().Add(grants.Grant{Origin: "https://cipher.example", KeyURI: "pkcs11:token=T;id=%01",
		Operation: "sign", Uses: 3, Expires: time.Now().Add(time.Minute)})
	require.NoError(t, err)
	// A journal record allowed by the grant, with plugin evidence, one
	// value an XSS attempt: the journal section shows the grant id and the
	// evidence, escaped.
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal"), journal.WithoutSync())
	require.NoError(t, err)
	defer j.Close()
	_, err = j.Append(context.Background(), journal.Record{Op: journal.OpSign, Plugin: "cipher",
		Origin: "https://cipher.example", Decision: journal.DecisionAllowed, DecidedBy: journal.ByGrant, GrantID: g.ID,
		Result: journal.ResultOK, Evidence: map[string]string{
			"eimzo.apikey": "86F0C8A5E8D5E1B2", "xss": `<script>alert(1)</script><img src=x onerror=alert(2)>`}})
	require.NoError(t, err)
	u := f.srv.EnableDashboard(Dashboard{Engine: e, Journal: j})
	resp, body, csrf := getPage(t, http.DefaultClient, u)
	require.Equal(t, http.StatusOK, resp.StatusCode, "dashboard")
	require.NotEmpty(t, csrf, "dashboard: CSRF token")
	require.Contains(t, body, g.ID, "dashboard")
	for _, want := range []string{"grant <code>" + g.ID + "</code>", "<code>eimzo.apikey=86F0C8A5E8D5E1B2</code>",
		"<code>xss=&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;</code>"} {
		assert.Contains(t, body, want, "dashboard journal")
	}
	assert.NotContains(t, body, "<script>alert", "dashboard rendered evidence as markup")
	assert.NotContains(t, body, "<img src=x", "dashboard rendered evidence as markup")
	assert.Equal(t, CSP, resp.Header.Get("Content-Security-Policy"), "dashboard security headers")
	assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"), "dashboard security headers")
	for _, target := range []string{bogus, bogus + "/events"} {
		resp, _, _ := getPage(t, http.DefaultClient, target)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "GET %s", target)
	}
	form := url.Values{"csrf": {csrf}, "grant": {g.ID}}
	for name, tc := range map[string]struct {
		target string
		form   url.Values
		hdr    map[string]string
		code   int
	}{
		"foreign origin": {u + "/revoke", form, map[string]string{"Origin": "https://evil.example"}, 403},
		"cross-site":     {u + "/revoke", form, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		"no csrf":        {u + "/revoke", url.Values{"grant": {g.ID}}, map[string]string{"Origin": f.srv.URL()}, 403},
		"unknown token":  {bogus + "/revoke", form, map[string]string{"Origin": f.srv.URL()}, 404},
	} {
		assert.Equal(t, tc.code, post(t, tc.target, tc.form, tc.hdr).StatusCode, name)
	}
	_, ok := e.Grants().Get(g.ID)
	require.True(t, ok, "a refused request revoked the grant")
	resp = post(t, u+"/revoke", form, map[string]string{"Origin": f.srv.URL()})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "same-origin revoke")
	_, ok = e.Grants().Get(g.ID)
	assert.False(t, ok, "the grant survived a same-origin revoke")
}
