package consentui

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/grants"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/internal/softhsmtest"
)

// pfxStore writes a PFX file protected by password and opens the real PFX
// key store over it with the dialog as its password prompt.
func pfxStore(t *testing.T, f *fixture, password string) (*pfx.Backend, hsm.KeyInfo, *ecdsa.PrivateKey) {
	t.Helper()
	key, cert := testKeyCert(t, "Alice PFX")
	path := filepath.Join(t.TempDir(), "alice.pfx")
	require.NoError(t, softhsmtest.WritePFX(path, key, cert, nil, password, softhsmtest.Modern))
	b, err := pfx.Open(pfx.Config{Files: []string{path}, PasswordPrompt: f.srv.PIN, MaxAttempts: 3})
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	keys, err := b.Keys(context.Background())
	require.NoError(t, err)
	require.Len(t, keys, 1)
	return b, keys[0], key
}

// TestBrowserPFXPasswordSign: the real PFX key store asks the dialog for
// the file's password; a wrong password makes it ask again (attempt 2, the
// page says it was incorrect), the right one unlocks the key and the
// signature verifies. The password never reaches the log.
func TestBrowserPFXPasswordSign(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	const password = "correct horse"
	b, ki, key := pfxStore(t, f, password)
	digest := sha256.Sum256([]byte("document"))
	type signResult struct {
		sig []byte
		err error
	}
	done := make(chan signResult, 1)
	ctx := consent.WithRequest(context.Background(), consent.Request{Kind: consent.Sign, Plugin: "eimzo",
		Origin: "https://portal.example", Summary: "Invoice 42", KeyURI: ki.URI})
	go func() {
		sig, err := b.Sign(ctx, ki.URI, digest[:], crypto.SHA256)
		done <- signResult{sig, err}
	}()
	var title, lastErr string
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		text("#title", &title),
		chromedp.SendKeys(css("#pin"), "wrong horse"),
		press("#submit-pin"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	))
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)), // the second prompt opens its own window
		chromedp.WaitVisible(css("#last-error")),
		text("#last-error", &lastErr),
		chromedp.SendKeys(css("#pin"), password),
		press("#submit-pin"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	))
	r := wait(t, done)
	require.NoError(t, r.err, "sign")
	assert.True(t, ecdsa.VerifyASN1(&key.PublicKey, digest[:], r.sig), "signature does not verify")
	assert.Contains(t, title, "password", "title")
	assert.Contains(t, title, "https://portal.example", "title")
	assert.Contains(t, lastErr, "incorrect", "second prompt")
	assert.NotContains(t, f.logs.String(), "horse", "log contains the password")
}

// TestBrowserDashboard: tokens from the real PFX store, plugins, a
// remembered origin, grants from the real engine and the real journal;
// revoking a grant in the page revokes it in the engine and journals it;
// a grant added elsewhere appears without a manual reload.
func TestBrowserDashboard(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	ks, ki, _ := pfxStore(t, f, "pw")
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal"), journal.WithoutSync())
	require.NoError(t, err)
	defer j.Close()
	e, err := consent.NewEngine(consent.EngineConfig{Prompter: f.srv, Journal: j})
	require.NoError(t, err)
	g1, err := e.Grants().Add(grants.Grant{Origin: "https://cipher.example", Plugin: "cipher", KeyURI: ki.URI,
		Operation: "sign", Uses: 5, Expires: time.Now().Add(10 * time.Minute)})
	require.NoError(t, err)
	require.NoError(t, e.Decisions().Set(consent.OriginDecision{Origin: "https://portal.example", Choice: consent.Always,
		Plugin: "eimzo", Decided: time.Now()}))
	u := f.srv.EnableDashboard(Dashboard{Engine: e, Journal: j, Keys: ks,
		Plugins: func() []PluginRow {
			return []PluginRow{{Name: "eimzo", State: "running", Detail: "wss://127.0.0.1:64443"}}
		}})
	require.Equal(t, f.srv.DashboardURL(), u, "dashboard URL")
	require.Contains(t, u, "/d/", "dashboard URL")
	var tokens, plugins, origins, grantsText, journalText string
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(u),
		chromedp.WaitVisible(css(`tr[data-grant="`+g1.ID+`"]`)),
		text("#tokens", &tokens), text("#plugins", &plugins), text("#origins", &origins), text("#grants", &grantsText),
		chromedp.Click(css(`tr[data-grant="`+g1.ID+`"] button.revoke`)),
		chromedp.WaitNotPresent(css(`tr[data-grant="`+g1.ID+`"]`)),
		text("#journal", &journalText),
	))
	for _, c := range []struct{ in, want string }{
		{tokens, "alice.pfx"}, {plugins, "eimzo"}, {plugins, "running"}, {origins, "https://portal.example"},
		{origins, "always"}, {grantsText, "https://cipher.example"}, {grantsText, "5 of 5 left"},
		{journalText, "Grant revoked"},
	} {
		assert.Contains(t, c.in, c.want, "dashboard shows")
	}
	_, ok := e.Grants().Get(g1.ID)
	assert.False(t, ok, "the grant is still in the engine after Revoke")
	// A grant added elsewhere: the open page reloads by itself.
	g2, err := e.Grants().Add(grants.Grant{Origin: "https://other.example", KeyURI: ki.URI, Operation: "sign",
		Uses: 2, Expires: time.Now().Add(time.Minute)})
	require.NoError(t, err)
	f.srv.DashboardChanged()
	require.NoError(t, chromedp.Do(tab, chromedp.WaitVisible(css(`tr[data-grant="`+g2.ID+`"]`))))
	// Forget the origin.
	require.NoError(t, chromedp.Do(tab,
		chromedp.Click(css("#origins button.forget")),
		chromedp.WaitNotPresent(css("#origins button.forget")),
	))
	_, ok = e.Decisions().Get("https://portal.example")
	assert.False(t, ok, "the origin decision is still remembered after Forget")
}

// TestBrowserEngineFlow: the real consent engine asks through the dialog.
// First use → "Always" (remembered); a signature with a grant offer →
// accepted: the next two signatures need no question, the fourth asks
// again (in the same, still open page) and is denied.
func TestBrowserEngineFlow(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal"), journal.WithoutSync())
	require.NoError(t, err)
	defer j.Close()
	e, err := consent.NewEngine(consent.EngineConfig{Prompter: f.srv, Journal: j})
	require.NoError(t, err)
	const origin = "https://cipher.example"
	ask := func(req consent.Request) chan error {
		ch := make(chan error, 1)
		go func() { ch <- e.Ask(context.Background(), req) }()
		return ch
	}
	list := ask(consent.Request{Kind: consent.List, Plugin: "cipher", Origin: origin})
	var title string
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		text("#title", &title),
		press("#always"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	))
	require.NoError(t, wait(t, list), "list after Always")
	assert.Contains(t, title, origin+" wants to use Signet", "first-use title")
	od, ok := e.Decisions().Get(origin)
	if assert.True(t, ok, "origin decision remembered") {
		assert.Equal(t, consent.Always, od.Choice, "origin decision")
	}
	sum := sha256.Sum256([]byte("doc"))
	sign := consent.Request{Kind: consent.Sign, Plugin: "cipher", Origin: origin, KeyURI: "pkcs11:token=T;id=%01",
		Summary: "metaData", GrantUses: 3, GrantWithin: 5 * time.Minute,
		Documents: []consent.Document{{Name: "a.pdf", Size: 3, SHA256: sum[:]}}}
	first := ask(sign)
	var grantLabel string
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)), // every question opens its own window
		chromedp.WaitVisible(css("#grant")),
		text("#grant", &grantLabel),
		press("#grant"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	))
	require.NoError(t, wait(t, first), "sign with the grant accepted")
	assert.Equal(t, "Allow 3 signatures within 5 minutes", grantLabel, "grant offer")
	for i := range 2 {
		require.NoError(t, wait(t, ask(sign)), "signature %d under the grant", i+2)
	}
	fourth := ask(sign)
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		press("#deny"),
	))
	require.ErrorIs(t, wait(t, fourth), hsm.ErrDenied, "fourth signature; want a denial")
	select {
	case u := <-f.opened:
		assert.Fail(t, "a dialog was opened for a signature covered by the grant", u)
	default:
	}
}
