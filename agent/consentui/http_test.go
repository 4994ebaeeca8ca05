package consentui

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
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
)

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// page GETs the dialog page and returns its body and CSRF token.
func getPage(t *testing.T, c *http.Client, u string) (*http.Response, string, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
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
		if got := h.Get("Content-Security-Policy"); got != CSP {
			t.Errorf("%s: CSP %q", path, got)
		}
		for k, v := range map[string]string{
			"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
			"Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
		} {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q; want %q", path, k, h.Get(k), v)
			}
		}
		for k := range h {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Errorf("%s: CORS header %s", path, k)
			}
		}
	}
	// A preflight gets no CORS answer either.
	req, _ := http.NewRequest("OPTIONS", u+"/answer", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for k := range resp.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("preflight: CORS header %s", k)
		}
	}
	f.srv.Close()
	if r := wait(t, res); !errors.Is(r.err, hsm.ErrCancelled) {
		t.Errorf("after Close: %v; want ErrCancelled", r.err)
	}
}

func TestUnknownToken404(t *testing.T) {
	f := newFixture(t, time.Minute)
	res := f.confirm(signQuestion(t))
	u := f.url(t)
	bogus := f.srv.URL() + "/q/" + strings.Repeat("0", 32)
	for _, target := range []string{bogus, bogus + "/events", f.srv.URL() + "/", f.srv.URL() + "/q/"} {
		resp, body, _ := getPage(t, http.DefaultClient, target)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d; want 404", target, resp.StatusCode)
		}
		if strings.Contains(body, "portal.example") {
			t.Errorf("GET %s leaks the pending request", target)
		}
	}
	sess := openLink(t, http.DefaultClient, u)
	resp := post(t, bogus+"/answer", url.Values{"csrf": {sess.csrf}, "action": {"approve"}},
		sess.hdr(map[string]string{"Origin": f.srv.URL()}))
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST to an unknown token: %d; want 404", resp.StatusCode)
	}
	select {
	case r := <-res:
		t.Fatalf("answered through an unknown token: %+v", r)
	default:
	}
}

func TestCrossSitePostRejected(t *testing.T) {
	f := newFixture(t, time.Minute)
	res := f.confirm(signQuestion(t))
	sess := openLink(t, http.DefaultClient, f.url(t))
	u, csrf := sess.page, sess.csrf
	if csrf == "" {
		t.Fatal("no CSRF token in the page")
	}
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
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.code {
					t.Errorf("status %d; want %d", resp.StatusCode, tc.code)
				}
				return
			}
			if resp := post(t, target, tc.form, sess.hdr(tc.hdr)); resp.StatusCode != tc.code {
				t.Errorf("status %d; want %d", resp.StatusCode, tc.code)
			}
		})
	}
	select {
	case r := <-res:
		t.Fatalf("a refused POST answered the dialog: %+v", r)
	default:
	}
	// The same-origin POST a browser makes (Origin: null because of
	// Referrer-Policy no-referrer, Sec-Fetch-Site: same-origin) answers.
	resp := post(t, u+"/answer", good, sess.hdr(map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("same-origin POST: %d", resp.StatusCode)
	}
	if r := wait(t, res); r.err != nil || !r.a.Allow {
		t.Fatalf("answer %+v, %v", r.a, r.err)
	}
	// A second answer to a finished dialog changes nothing and is not an error page.
	if resp := post(t, u+"/answer", url.Values{"csrf": {csrf}, "action": {"deny"}}, sess.hdr(map[string]string{"Origin": f.srv.URL()})); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("late POST: %d", resp.StatusCode)
	}
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
		t.Fatalf("answered without confirming the final try: %+v", r)
	default:
	}
	_, body, _ := sess.get(t, http.DefaultClient)
	if !strings.Contains(body, `id="notice"`) || strings.Contains(body, secret) {
		t.Errorf("page after an unconfirmed final try: notice missing or PIN echoed")
	}
	post(t, u+"/answer", url.Values{"csrf": {csrf}, "action": {"submit"}, "pin": {secret}, "confirm_final": {"yes"}}, hdr)
	r := wait(t, res)
	if r.err != nil || string(r.r.PIN) != secret || !r.r.ConfirmFinalTry {
		t.Fatalf("answer confirm=%v err=%v; want the PIN with ConfirmFinalTry", r.r.ConfirmFinalTry, r.err)
	}
	// A cancelled and a timed-out PIN prompt: errors carry no secret.
	res = f.pin(context.Background(), pinRequest())
	sess = openLink(t, http.DefaultClient, f.url(t))
	sess.answer(t, url.Values{"action": {"cancel"}, "pin": {secret}})
	r2 := wait(t, res)
	if !errors.Is(r2.err, hsm.ErrCancelled) || strings.Contains(r2.err.Error(), secret) {
		t.Errorf("cancel: %v", r2.err)
	}
	logs := f.logs.String()
	if logs == "" {
		t.Fatal("no log output captured")
	}
	for _, s := range []string{secret, url.QueryEscape(secret), "hunter2"} {
		if strings.Contains(logs, s) {
			t.Errorf("the server log contains the PIN (%q):\n%s", s, logs)
		}
	}
}

func TestContextAndDeadline(t *testing.T) {
	f := newFixture(t, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := f.srv.Confirm(ctx, signQuestion(t)); done <- err }()
	f.url(t)
	cancel()
	if err := wait(t, done); !errors.Is(err, hsm.ErrCancelled) {
		t.Errorf("cancelled ctx: %v; want ErrCancelled", err)
	}
	// The question's own Deadline, when earlier than the server timeout.
	q := signQuestion(t)
	q.Deadline = time.Now().Add(200 * time.Millisecond)
	if _, err := f.srv.Confirm(context.Background(), q); !errors.Is(err, hsm.ErrTimeout) {
		t.Errorf("deadline: %v; want ErrTimeout", err)
	}
	<-f.opened
}

func TestNewRefusesUnsafeConfigs(t *testing.T) {
	for _, cfg := range []Config{
		{InsecurePlainHTTP: true, Addr: "0.0.0.0:0"},
		{InsecurePlainHTTP: true, Addr: "localhost:0"}, // names could resolve anywhere: IPs only
		{InsecurePlainHTTP: true, Addr: ":0"},
		{Addr: "127.0.0.1:0"}, // no TLS and not the test mode
	} {
		if s, err := New(cfg); err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// TestTLSWithLocalCA serves the dialog with a leaf from the local CA and
// fetches it with a client that trusts only that CA.
func TestTLSWithLocalCA(t *testing.T) {
	ca, err := localca.Open(filepath.Join(t.TempDir(), "ca"), nil, localca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := ca.TLSConfig([]string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan string, 1)
	srv, err := New(Config{TLS: tlsCfg, Open: func(u string) error { opened <- u; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s", srv.URL())
	}
	res := make(chan confirmResult, 1)
	go func() {
		a, err := srv.Confirm(context.Background(), signQuestion(t))
		res <- confirmResult{a, err}
	}()
	u := <-opened
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	sess := openLink(t, c, u)
	resp, body, csrf := sess.resp, sess.body, sess.csrf
	if resp.StatusCode != 200 || !strings.Contains(body, "portal.example") || csrf == "" {
		t.Fatalf("GET over TLS: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", sess.page+"/answer", bytes.NewBufferString(url.Values{"csrf": {csrf}, "action": {"approve"}}.Encode()))
	req.Header.Set("Cookie", sess.cookie)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.URL())
	if resp, err = c.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := wait(t, res); r.err != nil || !r.a.Allow {
		t.Fatalf("answer over TLS: %+v, %v", r.a, r.err)
	}
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
		if resp := post(t, u+"/answer", url.Values{"csrf": {csrf}, "action": {action}}, hdr); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("action %q: %d; want 400", action, resp.StatusCode)
		}
	}
	select {
	case r := <-res:
		t.Fatalf("answered by an action that was not offered: %+v", r)
	default:
	}
	post(t, u+"/answer", url.Values{"csrf": {csrf}, "action": {"deny"}}, hdr)
	if r := wait(t, res); r.err != nil || r.a.Allow || r.a.Remember {
		t.Fatalf("deny: %+v, %v", r.a, r.err)
	}
}

// TestDashboardProtection: the dashboard has the dialog's protection:
// unknown token 404 (also before it is enabled), cross-site or CSRF-less
// revocations refused, headers set.
func TestDashboardProtection(t *testing.T) {
	f := newFixture(t, time.Minute)
	bogus := f.srv.URL() + "/d/" + strings.Repeat("0", 32)
	if resp, _, _ := getPage(t, http.DefaultClient, bogus); resp.StatusCode != http.StatusNotFound {
		t.Errorf("dashboard before EnableDashboard: %d", resp.StatusCode)
	}
	e, err := consent.NewEngine(consent.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.Grants().Add(grants.Grant{Origin: "https://cipher.example", KeyURI: "pkcs11:token=T;id=%01",
		Operation: "sign", Uses: 3, Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	// A journal record allowed by the grant, with plugin evidence, one
	// value an XSS attempt: the journal section shows the grant id and the
	// evidence, escaped.
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal"), journal.WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := j.Append(context.Background(), journal.Record{Op: journal.OpSign, Plugin: "cipher",
		Origin: "https://cipher.example", Decision: journal.DecisionAllowed, DecidedBy: journal.ByGrant, GrantID: g.ID,
		Result: journal.ResultOK, Evidence: map[string]string{
			"eimzo.apikey": "86F0C8A5E8D5E1B2", "xss": `<script>alert(1)</script><img src=x onerror=alert(2)>`}}); err != nil {
		t.Fatal(err)
	}
	u := f.srv.EnableDashboard(Dashboard{Engine: e, Journal: j})
	resp, body, csrf := getPage(t, http.DefaultClient, u)
	if resp.StatusCode != 200 || csrf == "" || !strings.Contains(body, g.ID) {
		t.Fatalf("dashboard: %d", resp.StatusCode)
	}
	for _, want := range []string{"grant <code>" + g.ID + "</code>", "<code>eimzo.apikey=86F0C8A5E8D5E1B2</code>",
		"<code>xss=&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;</code>"} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard journal lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
		t.Error("dashboard rendered evidence as markup")
	}
	if resp.Header.Get("Content-Security-Policy") != CSP || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Error("dashboard without the security headers")
	}
	for _, target := range []string{bogus, bogus + "/events"} {
		if resp, _, _ := getPage(t, http.DefaultClient, target); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d; want 404", target, resp.StatusCode)
		}
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
		if resp := post(t, tc.target, tc.form, tc.hdr); resp.StatusCode != tc.code {
			t.Errorf("%s: %d; want %d", name, resp.StatusCode, tc.code)
		}
	}
	if _, ok := e.Grants().Get(g.ID); !ok {
		t.Fatal("a refused request revoked the grant")
	}
	if resp := post(t, u+"/revoke", form, map[string]string{"Origin": f.srv.URL()}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("same-origin revoke: %d", resp.StatusCode)
	}
	if _, ok := e.Grants().Get(g.ID); ok {
		t.Error("the grant survived a same-origin revoke")
	}
}
