package consentui

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/localca"
	"github.com/signet-agent/signet/agent/trust"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/testutil"
)

// The browser tests drive Debian's Chromium (make deps installs it) through
// chromedp. One browser process serves the whole test binary; each test
// uses its own tab and its own Server.

var (
	browserOnce   sync.Once
	browserCtx    context.Context
	browserCancel func()
	browserErr    error
)

func chromiumPath() string {
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browserCancel != nil {
		browserCancel()
	}
	os.Exit(code)
}

// launch starts a headless Chromium with a fresh user-data-dir.
func launch(path string, extra ...chromedp.ExecAllocatorOption) (context.Context, func(), error) {
	dir, err := os.MkdirTemp("", "consentui-chromium-")
	if err != nil {
		return nil, nil, err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(dir),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
	bctx, bcancel := chromedp.NewContext(actx)
	cancel := func() { bcancel(); acancel(); os.RemoveAll(dir) }
	if err := chromedp.Do(bctx); err != nil {
		cancel()
		return nil, nil, err
	}
	return bctx, cancel, nil
}

// needChromium returns Chromium's path, or skips the test when it is not
// installed outside CI (in CI `make deps` installs it, so it fails there).
func needChromium(t *testing.T) string {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		require.Empty(t, os.Getenv("CI"), "chromium not found; in CI `make deps` must install Debian's chromium package")
		t.Skip("chromium not installed (apt-get install chromium, or make deps); browser test skipped")
	}
	return path
}

// newTab returns a chromedp context for a fresh tab of the shared browser.
func newTab(t *testing.T) context.Context {
	t.Helper()
	path := needChromium(t)
	browserOnce.Do(func() {
		browserCtx, browserCancel, browserErr = launch(path)
	})
	require.NoError(t, browserErr, "start chromium")
	return tabOf(t, browserCtx)
}

func tabOf(t *testing.T, browser context.Context) context.Context {
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	tab, cancel2 := context.WithTimeout(tab, 60*time.Second)
	t.Cleanup(cancel2)
	return tab
}

// fixture is a Server whose Open sends the URL to a channel.
type fixture struct {
	srv    *Server
	opened chan string
	logs   *testutil.SyncBuffer
}

func newFixture(t *testing.T, timeout time.Duration) *fixture {
	t.Helper()
	f := &fixture{opened: make(chan string, 8), logs: &testutil.SyncBuffer{}}
	srv, err := New(Config{
		InsecurePlainHTTP: true,
		Timeout:           timeout,
		Open:              func(u string) error { f.opened <- u; return nil },
		Logger:            slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	f.srv = srv
	return f
}

func (f *fixture) url(t *testing.T) string {
	t.Helper()
	select {
	case u := <-f.opened:
		return u
	case <-time.After(30 * time.Second):
		require.FailNow(t, "the dialog was never opened")
	}
	return ""
}

type confirmResult struct {
	a   consent.Answer
	err error
}

func (f *fixture) confirm(q consent.Question) chan confirmResult {
	ch := make(chan confirmResult, 1)
	go func() {
		a, err := f.srv.Confirm(context.Background(), q)
		ch <- confirmResult{a, err}
	}()
	return ch
}

type pinResult struct {
	r   hsm.PINResponse
	err error
}

func (f *fixture) pin(ctx context.Context, req hsm.PINRequest) chan pinResult {
	ch := make(chan pinResult, 1)
	go func() {
		r, err := f.srv.PIN(ctx, req)
		ch <- pinResult{r, err}
	}()
	return ch
}

func wait[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(60 * time.Second):
		require.FailNow(t, "no answer from the dialog")
	}
	var zero T
	return zero
}

func testCert(t *testing.T, subject string) *x509.Certificate {
	t.Helper()
	_, c := testKeyCert(t, subject)
	return c
}

func testKeyCert(t *testing.T, subject string) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x1234),
		Subject:      pkix.Name{CommonName: subject, Organization: []string{"Test Org"}},
		Issuer:       pkix.Name{CommonName: subject},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return k, c
}

func signQuestion(t *testing.T) consent.Question {
	sum := sha256.Sum256([]byte("contract"))
	return consent.Question{
		ID: "q1",
		Request: consent.Request{
			Kind:      consent.Sign,
			Plugin:    "eimzo",
			Origin:    "https://portal.example",
			Summary:   "Contract No. 17 for approval",
			Documents: []consent.Document{{Name: "contract.pdf", Size: 123456, SHA256: sum[:]}},
			KeyURI:    "pkcs11:token=T;id=%01",
			Key: &hsm.KeyInfo{URI: "pkcs11:token=T;id=%01", Label: "signing key", Algorithm: hsm.ECDSA, Bits: 256,
				Certificate: testCert(t, "Alice Example")},
		},
	}
}

// text reads the visible text of the first element matching the CSS
// selector sel into out.
func text(sel string, out *string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		v, err := chromedp.Text(chromedp.CSS(sel))(ctx, tg)
		*out = v
		return err
	})
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

func TestBrowserApprove(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	q := signQuestion(t)
	res := f.confirm(q)
	var title, what, who, key, docs, summary, claims string
	err := chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		chromedp.WaitVisible(css("#approve")),
		text("#title", &title), text("#what", &what), text("#who", &who), text("#key", &key),
		text("#documents", &docs), text("#summary", &summary), text("#claims", &claims),
		press("#approve"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	)
	require.NoError(t, err)
	r := wait(t, res)
	require.NoError(t, r.err)
	require.True(t, r.a.Allow, "answer %+v; want Allow only", r.a)
	require.False(t, r.a.Remember, "answer %+v; want Allow only", r.a)
	sum := sha256.Sum256([]byte("contract"))
	for _, want := range []struct{ in, s string }{
		{title, "https://portal.example asks to sign with your key"},
		{who, "https://portal.example"}, {who, "eimzo"},
		{key, "Alice Example"}, {key, "Test Org"}, {key, "token T"},
		{what, "Sign 1 document of 120.6 KB for portal.example."},
		{claims, "contract.pdf"}, {docs, "123456 bytes"}, {docs, hexs(sum[:])},
		{summary, "Contract No. 17 for approval"},
	} {
		assert.Contains(t, want.in, want.s, "page shows")
	}
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// eval evaluates a JavaScript expression in the tab.
func eval[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](expr))
	require.NoError(t, err, "evaluate %s", expr)
	return v
}

func TestBrowserDeny(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	res := f.confirm(signQuestion(t))
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		press("#deny"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	))
	r := wait(t, res)
	require.NoError(t, r.err)
	require.False(t, r.a.Allow, "answer %+v; want a plain deny", r.a)
	require.False(t, r.a.Remember, "answer %+v; want a plain deny", r.a)
}

func TestBrowserTimeout(t *testing.T) {
	tab := newTab(t)
	// Long enough for a loaded machine's Chromium to show the page (it
	// took up to 4.6 s under load) before the dialog expires.
	f := newFixture(t, 10*time.Second)
	res := f.confirm(signQuestion(t))
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		chromedp.WaitVisible(css("#approve")),
	))
	r := wait(t, res)
	require.ErrorIs(t, r.err, hsm.ErrTimeout)
	// The open page learns it over the event stream, without a reload.
	var status string
	require.NoError(t, chromedp.Do(tab,
		chromedp.WaitVisible(css(`body[data-state="expired"]`)),
		chromedp.WaitNotVisible(css("#approve")),
		text("#status", &status),
	))
	assert.Contains(t, status, "expired", "status")
	// A late click cannot answer: the form is gone, and a reload shows expired.
	require.NoError(t, chromedp.Do(tab, chromedp.Reload(), text("#status", &status)))
	assert.Contains(t, status, "expired", "status after reload")
}

func TestBrowserFirstUseAlways(t *testing.T) {
	for _, tc := range []struct {
		button          string
		allow, remember bool
	}{
		{"#always", true, true},
		{"#approve", true, false},
		{"#deny", false, false},
		{"#never", false, true},
	} {
		t.Run(tc.button, func(t *testing.T) {
			tab := newTab(t)
			f := newFixture(t, time.Minute)
			q := consent.Question{ID: "o1", FirstUse: true,
				Request: consent.Request{Kind: consent.Origin, Plugin: "cipher", Origin: "https://portal.example"}}
			res := f.confirm(q)
			var title, labels string
			require.NoError(t, chromedp.Do(tab,
				chromedp.Navigate(f.url(t)),
				chromedp.WaitVisible(css("#always")),
				text("#title", &title), text("#answer", &labels),
				press(tc.button),
				chromedp.WaitVisible(css(`body[data-state="answered"]`)),
			))
			assert.Equal(t, "https://portal.example wants to use Signet to list your certificates and request signatures", title)
			for _, l := range []string{"Allow once", "Always", "Deny", "Never"} {
				assert.Contains(t, labels, l, "buttons")
			}
			r := wait(t, res)
			require.NoError(t, r.err)
			require.Equal(t, tc.allow, r.a.Allow, "answer %+v: allow", r.a)
			require.Equal(t, tc.remember, r.a.Remember, "answer %+v: remember", r.a)
		})
	}
}

func TestBrowserGrantOffer(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	q := signQuestion(t)
	q.Grant = &consent.GrantOffer{Uses: 5, Within: 10 * time.Minute}
	res := f.confirm(q)
	var label string
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		text("#grant", &label),
		press("#grant"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	))
	assert.Equal(t, "Allow 5 signatures within 10 minutes", label, "grant button")
	r := wait(t, res)
	require.NoError(t, r.err)
	require.True(t, r.a.Allow, "answer %+v; want Allow+Remember", r.a)
	require.True(t, r.a.Remember, "answer %+v; want Allow+Remember", r.a)
}

// A request for a grant alone (Cipher's accessToken) offers the grant and
// Deny, no one-time Approve.
func TestBrowserGrantOnly(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	q := signQuestion(t)
	q.Request.GrantOnly = true
	q.Grant = &consent.GrantOffer{Uses: 3, Within: 10 * time.Minute}
	res := f.confirm(q)
	var title string
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		chromedp.WaitVisible(css("#grant")),
		text("h1", &title),
	))
	assert.Zero(t, eval[int](t, tab, `document.querySelectorAll("#approve").length`), "a grant-only question shows a one-time Approve")
	assert.Contains(t, title, "several times", "title")
	require.NoError(t, chromedp.Do(tab, press("#grant"), chromedp.WaitVisible(css(`body[data-state="answered"]`))))
	r := wait(t, res)
	require.NoError(t, r.err)
	require.True(t, r.a.Allow, "answer %+v; want Allow+Remember", r.a)
	require.True(t, r.a.Remember, "answer %+v; want Allow+Remember", r.a)
}

func TestBrowserXSSInert(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	img := `<img src=x onerror="window.__xss=1">`
	script := `<script>window.__xss=2</script>`
	q := signQuestion(t)
	q.Request.Summary = "Pay " + img + script
	// Cipher's metaData: HTML, of which only formatting survives.
	q.Request.SummaryHTML = `<b id="approve">Invoice #42</b>` + img + script +
		`<a href="javascript:window.__xss=4">link</a><iframe src="javascript:window.__xss=5"></iframe>` +
		`<svg onload="window.__xss=6"></svg><p style="position:fixed;top:0" onclick="window.__xss=7">` +
		`<ul><li>a.pdf</li></ul></p><style>#approve{display:none}</style>`
	q.Request.Origin = `https://evil.example"><script>window.__xss=3</script>`
	q.Request.Documents[0].Name = img + ".pdf"
	q.Request.Evidence = map[string]string{"apikey": script}
	q.Request.Key.Certificate = testCert(t, img)
	res := f.confirm(q)
	var summary, doc, who, subject, evidence string
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		chromedp.WaitVisible(css("#approve")),
		text("#summary", &summary), text(".doc-name", &doc), text("#who", &who), text("#key .owner", &subject),
		text("#evidence", &evidence),
	))
	assert.Zero(t, eval[int](t, tab, `document.querySelectorAll("img").length`), "img elements in the page")
	// The only script element is the page's own /static/app.js.
	assert.Equal(t, 1, eval[int](t, tab, `document.querySelectorAll("script").length`), "script elements; want only app.js")
	assert.Zero(t, eval[int](t, tab, `document.querySelectorAll("[onerror]").length`), "elements with onerror")
	assert.True(t, eval[bool](t, tab, `typeof window.__xss === "undefined"`), "an injected script ran (window.__xss is set)")
	var bold string
	require.NoError(t, chromedp.Do(tab, text("#summary-html b", &bold)))
	assert.Equal(t, "Invoice #42", bold, "bold in the HTML summary")
	w := eval[string](t, tab, `getComputedStyle(document.querySelector("#summary-html b")).fontWeight`)
	assert.Contains(t, []string{"700", "bold"}, w, "<b> in the HTML summary renders with this font-weight")
	assert.Equal(t, 1, eval[int](t, tab, `document.querySelectorAll("#summary-html li").length`), "list items in the HTML summary")
	assert.Zero(t, eval[int](t, tab, `document.querySelectorAll("#summary-html a, #summary-html iframe, #summary-html svg, #summary-html style, #summary-html [style], #summary-html [onclick], #summary-html [id]").length`),
		"links, frames, styles or attributes survive in the HTML summary")
	assert.Equal(t, 1, eval[int](t, tab, `document.querySelectorAll("#approve").length`), "elements with id approve; the HTML summary must not add one")
	assert.Equal(t, q.Request.Summary, summary, "summary shown; want the literal text")
	assert.Equal(t, img+".pdf", doc, "document name shown")
	assert.Contains(t, who, q.Request.Origin, "who lacks the literal text")
	assert.Contains(t, evidence, script, "evidence lacks the literal text")
	assert.Equal(t, img, subject, "certificate owner; want the literal text")
	require.NoError(t, chromedp.Do(tab, press("#deny")))
	r := wait(t, res)
	require.NoError(t, r.err)
	require.False(t, r.a.Allow)
}

func pinRequest() hsm.PINRequest {
	return hsm.PINRequest{
		Kind:    hsm.UserPIN,
		Token:   hsm.TokenInfo{URI: "pkcs11:token=Alice", Label: "Alice", Serial: "0042"},
		State:   hsm.PINState{Retries: -1},
		Attempt: 1,
	}
}

func TestBrowserPIN(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	const secret = "Sec ret&=+%25ü/1"
	req := pinRequest()
	ctx := consent.WithRequest(context.Background(), signQuestion(t).Request)
	res := f.pin(ctx, req)
	var title, who, typ, ac string
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		chromedp.WaitVisible(css("#pin")),
		text("#title", &title), text("#who", &who),
		chromedp.SendKeys(css("#pin"), secret),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			var err error
			typ, err = chromedp.JavascriptAttribute[string](css("#pin"), "type")(ctx, tg)
			if err != nil {
				return err
			}
			ac, err = chromedp.JavascriptAttribute[string](css("#pin"), "autocomplete")(ctx, tg)
			return err
		}),
		press("#submit-pin"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	))
	r := wait(t, res)
	require.NoError(t, r.err)
	assert.Equal(t, secret, string(r.r.PIN), "want exactly the typed PIN")
	assert.False(t, r.r.ConfirmFinalTry, "ConfirmFinalTry set without a final try")
	assert.Equal(t, "password", typ, "input type")
	assert.Equal(t, "one-time-code", ac, "input autocomplete")
	for _, want := range []string{"user PIN", "Alice", "https://portal.example", "sign"} {
		assert.Contains(t, title, want, "title")
	}
	assert.Contains(t, who, "eimzo", "who lacks the plugin")
	html := eval[string](t, tab, `document.documentElement.outerHTML`)
	assert.NotContains(t, html, secret, "the PIN is echoed in the page")
	assert.NotContains(t, html, "Sec ret", "the PIN is echoed in the page")
	logs := f.logs.String()
	assert.NotEmpty(t, logs, "server log")
	for _, pin := range []string{"Sec ret", "Sec+ret", "ret&"} {
		assert.NotContains(t, logs, pin, "server log mentions the PIN")
	}
}

// TestBrowserWrongPINThenRetry: the second prompt (Attempt 2, LastError)
// opens its own window and shows that the PIN was wrong and how many tries
// are left.
func TestBrowserWrongPINThenRetry(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	req := pinRequest()
	res := f.pin(context.Background(), req)
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		chromedp.SendKeys(css("#pin"), "0000"),
		press("#submit-pin"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	))
	r := wait(t, res)
	require.NoError(t, r.err, "first attempt")
	require.Equal(t, "0000", string(r.r.PIN), "first attempt")
	req.Attempt = 2
	req.State = hsm.PINState{CountLow: true, Retries: 2}
	req.LastError = &hsm.PINError{Token: "Alice", State: req.State, Err: hsm.ErrPINIncorrect}
	res = f.pin(context.Background(), req)
	var lastErr, tries, title string
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)), // the retry opens its own window
		chromedp.WaitVisible(css("#last-error")),
		text("#last-error", &lastErr), text("#tries", &tries), text("#title", &title),
		chromedp.SendKeys(css("#pin"), "1234"),
		press("#submit-pin"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	))
	r = wait(t, res)
	require.NoError(t, r.err, "second attempt")
	require.Equal(t, "1234", string(r.r.PIN), "second attempt")
	assert.Contains(t, lastErr, "incorrect", "last error")
	assert.Equal(t, "2 tries left.", tries)
	assert.Contains(t, title, "attempt 2", "title")
}

func TestBrowserFinalTryNeedsConfirmation(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	req := pinRequest()
	req.State = hsm.PINState{CountLow: true, FinalTry: true, Retries: 1}
	res := f.pin(context.Background(), req)
	var tries, notice string
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		chromedp.WaitVisible(css("#confirm-final")),
		text("#tries", &tries),
		chromedp.SendKeys(css("#pin"), "9999"),
		press("#submit-pin"), // the browser refuses: the box is required
	))
	assert.Contains(t, tries, "final try", "tries: want the final-try warning")
	// Bypass the browser's check: the server must refuse it too.
	require.NoError(t, chromedp.Do(tab,
		chromedp.RemoveAttribute(css("#confirm-final"), "required"),
		press("#submit-pin"),
		chromedp.WaitVisible(css("#notice")),
		text("#notice", &notice),
	))
	select {
	case r := <-res:
		require.FailNow(t, "answered without confirming the final try", "%+v, %v", r.r, r.err)
	default:
	}
	assert.Contains(t, notice, "final try", "notice")
	require.NoError(t, chromedp.Do(tab,
		chromedp.SendKeys(css("#pin"), "4321"),
		chromedp.Click(css("#confirm-final")),
		press("#submit-pin"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	))
	r := wait(t, res)
	require.NoError(t, r.err)
	require.Equal(t, "4321", string(r.r.PIN))
	require.True(t, r.r.ConfirmFinalTry, "want ConfirmFinalTry")
}

func TestBrowserPINLockedAndCancel(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	req := pinRequest()
	req.State = hsm.PINState{Locked: true, Retries: 0}
	_, err := f.srv.PIN(context.Background(), req)
	require.ErrorIs(t, err, hsm.ErrPINLocked, "err =")
	var tries string
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		text("#tries", &tries),
	))
	assert.Contains(t, tries, "locked", "tries")
	assert.Zero(t, eval[int](t, tab, `document.querySelectorAll("input[type=password], form").length`), "inputs/forms on a locked PIN page")

	// Cancel: the next prompt opens its own window.
	res := f.pin(context.Background(), pinRequest())
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		press("#cancel"),
		chromedp.WaitVisible(css(`body[data-state="cancelled"]`)),
	))
	require.ErrorIs(t, wait(t, res).err, hsm.ErrCancelled, "cancel")
}

// TestBrowserTLSLocalCA serves the dialog over HTTPS with a leaf from the
// local CA, trusted the way `signet trust install` does it (certutil into
// ~/.pki/nssdb of a temporary HOME), and approves in a Chromium started
// with that HOME: no certificate error, same-origin POST over TLS.
func TestBrowserTLSLocalCA(t *testing.T) {
	path := needChromium(t)
	if _, err := exec.LookPath("certutil"); err != nil {
		require.Empty(t, os.Getenv("CI"), "certutil not found (libnss3-tools)")
		t.Skip("certutil not installed (libnss3-tools)")
	}
	home := t.TempDir()
	ca, err := localca.Open(filepath.Join(t.TempDir(), "ca"), nil, localca.Options{})
	require.NoError(t, err)
	for _, st := range trust.NSSDatabases(home) {
		require.NoError(t, st.Install(ca.Certificate()))
	}
	tlsCfg, err := ca.TLSConfig([]string{"127.0.0.1", "localhost"})
	require.NoError(t, err)
	opened := make(chan string, 1)
	srv, err := New(Config{TLS: tlsCfg, Open: func(u string) error { opened <- u; return nil },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	defer srv.Close()
	browser, cancel, err := launch(path, chromedp.Env("HOME="+home))
	require.NoError(t, err, "start chromium")
	defer cancel()
	tab := tabOf(t, browser)
	res := make(chan confirmResult, 1)
	go func() {
		a, err := srv.Confirm(context.Background(), signQuestion(t))
		res <- confirmResult{a, err}
	}()
	u := <-opened
	require.True(t, strings.HasPrefix(u, "https://127.0.0.1:"), "dialog URL %s", u)
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(u),
		chromedp.WaitVisible(css("#approve")),
		press("#approve"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	))
	r := wait(t, res)
	require.NoError(t, r.err)
	require.True(t, r.a.Allow, "answer %+v", r.a)
}
