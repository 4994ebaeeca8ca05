package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"github.com/signet-agent/signet/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunDashboard runs the real agent in-process (no plugins, an empty PFX
// directory, --prompt none): the dashboard URL is logged, answered on the
// control socket, and served over TLS with the local CA.
func TestRunDashboard(t *testing.T) {
	home, err := os.MkdirTemp("", "h13serve") // short: unix socket paths are limited
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(home) })
	data := filepath.Join(home, "data")
	pfx := filepath.Join(home, "pfx")
	plugins := filepath.Join(home, "plugins")
	require.NoError(t, os.MkdirAll(pfx, 0o700))
	require.NoError(t, os.MkdirAll(plugins, 0o700))
	cfgPath := filepath.Join(home, "config.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("data_dir: "+data+"\nplugin_dir: "+plugins+"\nkeystore:\n  pfx_dirs: ["+pfx+"]\n"), 0o600))
	sock := filepath.Join(home, "control.sock")

	var logs testutil.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{ConfigPath: cfgPath, SocketPath: sock, Prompt: PromptNone,
			Log: slog.New(slog.NewTextHandler(&logs, nil))})
	}()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done, "Run")
	})

	// Wait for the control socket; the dashboard is enabled before it serves.
	var url string
	for i := 0; ; i++ {
		c, err := control.Dial(ctx, sock)
		if err == nil {
			url, err = c.Dashboard(ctx)
			c.Close()
			require.NoError(t, err, "dashboard request")
			break
		}
		require.Less(t, i, 400, "agent did not answer: %v\n%s", err, logs.String())
		select {
		case err := <-done:
			require.Fail(t, "Run ended", "%v\n%s", err, logs.String())
		case <-time.After(25 * time.Millisecond):
		}
	}
	require.True(t, strings.HasPrefix(url, "https://127.0.0.1:"), "dashboard URL %q", url)
	require.Contains(t, url, "/d/", "dashboard URL")
	assert.Contains(t, logs.String(), "msg=dashboard url="+url, "the log does not carry the dashboard URL")

	caPEM, err := os.ReadFile(filepath.Join(data, "ca", "ca.crt"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM), "no CA certificate")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	require.NoError(t, err, "GET dashboard")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "dashboard: %s\n%s", resp.Status, body)
	require.Contains(t, string(body), "Plugins", "dashboard body")
	// A wrong token is not the dashboard.
	resp, err = client.Get(url[:strings.LastIndex(url, "/")+1] + "00")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "wrong token: %s", resp.Status)
}

func TestRunRejectsUnknownPrompt(t *testing.T) {
	err := Run(context.Background(), Options{ConfigPath: filepath.Join(t.TempDir(), "none.yaml"), Prompt: "popup"})
	require.ErrorContains(t, err, "popup", "Run with --prompt popup")
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
	require.NoError(t, err)
	defer dialog.Close()
	jr, err := journal.Open(journal.PathIn(dir))
	require.NoError(t, err)
	defer jr.Close()
	noKey := func(context.Context, string) (hsm.KeyInfo, error) { return hsm.KeyInfo{}, hsm.ErrKeyNotFound }

	e, err := newEngine(cfg, PromptNone, dialog, jr, slog.Default(), noKey, nil)
	require.NoError(t, err)
	// The dialog's own timeout is an hour: waiting for it would hang the
	// test, and the deadline below turns that into ErrTimeout, not ErrDenied.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, req := range []consent.Request{
		{Kind: consent.Sign, Origin: "https://shop.example", Plugin: "cipher", Summary: "invoice"},
		{Kind: consent.Sign, Caller: "cli", Summary: "local"},
	} {
		assert.ErrorIs(t, e.Ask(ctx, req), hsm.ErrDenied, "%+v", req)
	}
	mu.Lock()
	assert.Zero(t, opens, "the web dialog was opened")
	mu.Unlock()
	recs, err := jr.List(journal.Filter{})
	require.NoError(t, err)
	denied := 0
	for _, r := range recs {
		if r.Decision == journal.DecisionDenied {
			denied++
		}
	}
	assert.NotZero(t, denied, "no refusal journaled: %+v", recs)
	_, err = e.PINPrompt()(ctx, hsm.PINRequest{Token: hsm.TokenInfo{Label: "t", URI: "pkcs11:token=t"}})
	assert.ErrorIs(t, err, hsm.ErrCancelled, "PIN with no source")

	// The same config with the web prompter does ask (through the dialog).
	web, err := newEngine(cfg, PromptWeb, dialog, jr, slog.Default(), noKey, nil)
	require.NoError(t, err)
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
			require.Fail(t, "web prompter answered without asking", "%v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	qcancel()
	assert.Error(t, <-errc, "a cancelled question was allowed")
}
