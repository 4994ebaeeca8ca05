package consentui

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
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

// newTab returns a chromedp context for a fresh tab of the shared browser.
func newTab(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium not found; in CI `make deps` must install Debian's chromium package")
		}
		t.Skip("chromium not installed (apt-get install chromium, or make deps); browser test skipped")
	}
	browserOnce.Do(func() {
		dir, err := os.MkdirTemp("", "consentui-chromium-")
		if err != nil {
			browserErr = err
			return
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
		actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, bcancel := chromedp.NewContext(actx)
		if err := chromedp.Do(bctx); err != nil {
			browserErr = err
		}
		browserCtx = bctx
		browserCancel = func() { bcancel(); acancel(); os.RemoveAll(dir) }
	})
	if browserErr != nil {
		t.Fatalf("start chromium: %v", browserErr)
	}
	tab, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	tab, cancel2 := context.WithTimeout(tab, 60*time.Second)
	t.Cleanup(cancel2)
	return tab
}

// fixture is a Server whose Open sends the URL to a channel.
type fixture struct {
	srv    *Server
	opened chan string
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newFixture(t *testing.T, timeout time.Duration) *fixture {
	t.Helper()
	f := &fixture{opened: make(chan string, 8), logs: &syncBuffer{}}
	srv, err := New(Config{
		InsecurePlainHTTP: true,
		Timeout:           timeout,
		Open:              func(u string) error { f.opened <- u; return nil },
		Logger:            slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
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
		t.Fatal("the dialog was never opened")
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
		t.Fatal("no answer from the dialog")
	}
	var zero T
	return zero
}

func testCert(t *testing.T, subject string) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x1234),
		Subject:      pkix.Name{CommonName: subject, Organization: []string{"Test Org"}},
		Issuer:       pkix.Name{CommonName: subject},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
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
	var title, who, key, docs, summary string
	err := chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		chromedp.WaitVisible(css("#approve")),
		text("#title", &title), text("#who", &who), text("#key", &key),
		text("#documents", &docs), text("#summary", &summary),
		chromedp.Click(css("#approve")),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	r := wait(t, res)
	if r.err != nil || !r.a.Allow || r.a.Remember {
		t.Fatalf("answer %+v, %v; want Allow only", r.a, r.err)
	}
	hash := strings.Repeat("", 0)
	sum := sha256.Sum256([]byte("contract"))
	for _, want := range []struct{ in, s string }{
		{title, "https://portal.example asks to sign with your key"},
		{who, "https://portal.example"}, {who, "eimzo"},
		{key, "CN=Alice Example,O=Test Org"}, {key, "ECDSA 256"}, {key, "signing key"},
		{docs, "contract.pdf"}, {docs, "123456 bytes"}, {docs, hash + hexs(sum[:])},
		{summary, "Contract No. 17 for approval"},
	} {
		if !strings.Contains(want.in, want.s) {
			t.Errorf("page shows %q; want it to contain %q", want.in, want.s)
		}
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

var _ = errors.Is
