package serve

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/consentui"
	"github.com/signet-agent/signet/agent/control"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
)

// syncBuffer is a log sink safe for the agent's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunDashboard runs the real agent in-process (no plugins, an empty PFX
// directory, --prompt none): the dashboard URL is logged, answered on the
// control socket, and served over TLS with the local CA.
func TestRunDashboard(t *testing.T) {
	home, err := os.MkdirTemp("", "h13serve") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	data := filepath.Join(home, "data")
	pfx := filepath.Join(home, "pfx")
	plugins := filepath.Join(home, "plugins")
	os.MkdirAll(pfx, 0o700)
	os.MkdirAll(plugins, 0o700)
	cfgPath := filepath.Join(home, "config.yaml")
	os.WriteFile(cfgPath, []byte("data_dir: "+data+"\nplugin_dir: "+plugins+"\nkeystore:\n  pfx_dirs: ["+pfx+"]\n"), 0o600)
	sock := filepath.Join(home, "control.sock")

	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{ConfigPath: cfgPath, SocketPath: sock, Prompt: PromptNone,
			Log: slog.New(slog.NewTextHandler(&logs, nil))})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	// Wait for the control socket; the dashboard is enabled before it serves.
	var url string
	for i := 0; ; i++ {
		c, err := control.Dial(ctx, sock)
		if err == nil {
			url, err = c.Dashboard(ctx)
			c.Close()
			if err != nil {
				t.Fatalf("dashboard request: %v", err)
			}
			break
		}
		if i == 400 {
			t.Fatalf("agent did not answer: %v\n%s", err, logs.String())
		}
		select {
		case err := <-done:
			t.Fatalf("Run ended: %v\n%s", err, logs.String())
		case <-time.After(25 * time.Millisecond):
		}
	}
	if !strings.HasPrefix(url, "https://127.0.0.1:") || !strings.Contains(url, "/d/") {
		t.Fatalf("dashboard URL %q", url)
	}
	if !strings.Contains(logs.String(), "msg=dashboard url="+url) {
		t.Errorf("the log does not carry the dashboard URL:\n%s", logs.String())
	}

	caPEM, err := os.ReadFile(filepath.Join(data, "ca", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET dashboard: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Plugins") {
		t.Fatalf("dashboard: %s\n%s", resp.Status, body)
	}
	// A wrong token is not the dashboard.
	resp, err = client.Get(url[:strings.LastIndex(url, "/")+1] + "00")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("wrong token: %s", resp.Status)
	}
}

func TestRunRejectsUnknownPrompt(t *testing.T) {
	err := Run(context.Background(), Options{ConfigPath: filepath.Join(t.TempDir(), "none.yaml"), Prompt: "popup"})
	if err == nil || !strings.Contains(err.Error(), "popup") {
		t.Fatalf("Run with --prompt popup: %v", err)
	}
}

// TestPromptNoneRefusesAtOnce: with --prompt none and no unattended rules,
// a request that would ask the person is refused with hsm.ErrDenied without
// waiting for the dialog (whose Open is never called), the refusal is
// journaled, and a PIN no source provides is cancelled.
func TestPromptNoneRefusesAtOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := parse(t, "data_dir: "+dir+"\n")
	opens := 0
	var mu sync.Mutex
	dialog, err := consentui.New(consentui.Config{InsecurePlainHTTP: true, Timeout: time.Hour,
		Open: func(string) error { mu.Lock(); opens++; mu.Unlock(); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer dialog.Close()
	jr, err := journal.Open(journal.PathIn(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	noKey := func(context.Context, string) (hsm.KeyInfo, error) { return hsm.KeyInfo{}, hsm.ErrKeyNotFound }

	e, err := newEngine(cfg, PromptNone, dialog, jr, slog.Default(), noKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The dialog's own timeout is an hour: waiting for it would hang the
	// test, and the deadline below turns that into ErrTimeout, not ErrDenied.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, req := range []consent.Request{
		{Kind: consent.Sign, Origin: "https://shop.example", Plugin: "cipher", Summary: "invoice"},
		{Kind: consent.Sign, Caller: "cli", Summary: "local"},
	} {
		err = e.Ask(ctx, req)
		if !errors.Is(err, hsm.ErrDenied) {
			t.Errorf("%+v: %v, want ErrDenied", req, err)
		}
	}
	mu.Lock()
	if opens != 0 {
		t.Errorf("the web dialog was opened %d times", opens)
	}
	mu.Unlock()
	recs, err := jr.List(journal.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	denied := 0
	for _, r := range recs {
		if r.Decision == journal.DecisionDenied {
			denied++
		}
	}
	if denied == 0 {
		t.Errorf("no refusal journaled: %+v", recs)
	}
	_, err = e.PINPrompt()(ctx, hsm.PINRequest{Token: hsm.TokenInfo{Label: "t", URI: "pkcs11:token=t"}})
	if !errors.Is(err, hsm.ErrCancelled) {
		t.Errorf("PIN with no source: %v, want ErrCancelled", err)
	}

	// The same config with the web prompter does ask (through the dialog).
	web, err := newEngine(cfg, PromptWeb, dialog, jr, slog.Default(), noKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	qctx, qcancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- web.Ask(qctx, consent.Request{Kind: consent.Sign, Caller: "cli", Summary: "asks"}) }()
	for {
		mu.Lock()
		n := opens
		mu.Unlock()
		if n > 0 {
			break
		}
		select {
		case err := <-errc:
			t.Fatalf("web prompter answered without asking: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	qcancel()
	if err := <-errc; err == nil {
		t.Error("a cancelled question was allowed")
	}
}
