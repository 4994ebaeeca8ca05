package consentui

import (
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// The window sizes the pages must fit without scrolling sideways: a
// laptop screen and a phone.
var windows = []struct {
	name          string
	width, height int64
	mobile        bool
}{
	{"laptop", 1366, 768, false},
	{"phone", 390, 844, true},
}

// emulate sets the tab's window size.
func emulate(w struct {
	name          string
	width, height int64
	mobile        bool
}) chromedp.Action[chromedp.Void] {
	if w.mobile {
		return chromedp.EmulateViewport(w.width, w.height, chromedp.EmulateMobile)
	}
	return chromedp.EmulateViewport(w.width, w.height)
}

// noSidewaysScroll asserts that the page is no wider than the window.
func noSidewaysScroll(t *testing.T, tab context.Context, what string) {
	t.Helper()
	sw := eval[int](t, tab, `document.scrollingElement.scrollWidth`)
	cw := eval[int](t, tab, `document.scrollingElement.clientWidth`)
	assert.LessOrEqual(t, sw, cw, "%s scrolls sideways: scrollWidth %d > clientWidth %d", what, sw, cw)
	if sw > cw {
		wide := eval[string](t, tab, `(function () {
			var out = [], w = document.scrollingElement.clientWidth;
			document.querySelectorAll("body *").forEach(function (e) {
				var r = e.getBoundingClientRect();
				if (r.right > w + 1 && out.length < 5) { out.push(e.tagName + "#" + e.id + "." + e.className + " right=" + r.right); }
			});
			return out.join("; ");
		})()`)
		t.Logf("elements past the right edge: %s", wide)
	}
}

// eimzoKeys writes two PFX files as an Uzbek CA and a careful person
// leave them: the employee's, with readable certificates (a company key
// whose certificate ends in ten days), and the individual's, with the
// certificates encrypted and no friendly name, so that without the
// password nothing but the file and the key's local id is known.
func eimzoKeys(t *testing.T, f *fixture) (*pfx.Backend, string) {
	t.Helper()
	pki, err := softhsmtest.DefaultPKI()
	require.NoError(t, err)
	now := time.Now()
	emp, err := pki.NewEIMZOKey(softhsmtest.ECP256, softhsmtest.EIMZOEmployee,
		softhsmtest.IssueOptions{NotBefore: now.Add(-355 * 24 * time.Hour), NotAfter: now.Add(10*24*time.Hour + time.Hour)})
	require.NoError(t, err)
	ind, err := pki.NewEIMZOKey(softhsmtest.ECP256, softhsmtest.EIMZOIndividual, softhsmtest.IssueOptions{})
	require.NoError(t, err)
	dir := t.TempDir()
	company := filepath.Join(dir, "DS305123456_company.pfx")
	locked := filepath.Join(dir, "personal-locked.pfx")
	const password = "Kompaniya-Parol-1"
	require.NoError(t, softhsmtest.WriteEIMZOPFX(company, emp, softhsmtest.EIMZOPFX{
		Alias: softhsmtest.EIMZOEmployee.Alias(emp.Certificate), Password: password, PlainCertificates: true}))
	require.NoError(t, softhsmtest.WriteEIMZOPFX(locked, ind, softhsmtest.EIMZOPFX{Password: "Shaxsiy-Parol-2"}))
	b, err := pfx.Open(pfx.Config{Files: []string{company, locked}, PasswordPrompt: f.srv.PIN, MaxAttempts: 1})
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	return b, password
}

// fillJournal appends n records over three origins, alternating
// operations and results, each with a long unbroken evidence value.
func fillJournal(t *testing.T, j *journal.Journal, n int) {
	t.Helper()
	origins := []string{"https://portal.example.uz", "https://my.soliq.example.uz", "https://cipher.example.ua"}
	for i := 0; i < n; i++ {
		r := journal.Record{Op: journal.OpSign, Plugin: "eimzo", Origin: origins[i%3],
			Decision: journal.DecisionAllowed, DecidedBy: journal.ByUser, Result: journal.ResultOK,
			Summary: fmt.Sprintf("Hisob-faktura №%d", i),
			Evidence: map[string]string{"eimzo.apikey": strings.Repeat("86F0C8A5E8D5E1B2", 12),
				"eimzo.host": origins[i%3] + "/" + strings.Repeat("very-long-path-segment-", 8)}}
		switch i % 4 {
		case 1:
			r.Op = journal.OpList
		case 2:
			r.Result, r.ErrorKind = journal.ResultError, "pin_incorrect"
		case 3:
			r.Decision, r.Result = journal.DecisionDenied, ""
		}
		_, err := j.Append(context.Background(), r)
		require.NoError(t, err)
	}
}

// TestBrowserDashboardLayout: the dashboard at a laptop's and a phone's
// window size, over the real PFX key store (an E-IMZO company key and a
// locked personal file), the real engine and journal: no sideways scroll;
// the certificate decoded (owner, organisation, PINFL and TIN labelled,
// issuer, the end-soon warning) and never the raw hex DN; the locked file
// by its name; the journal paginated and filtered; forget and revoke work
// at both sizes. Screenshots are saved for review.
func TestBrowserDashboardLayout(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	ks, _ := eimzoKeys(t, f)
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal"), journal.WithoutSync())
	require.NoError(t, err)
	defer j.Close()
	fillJournal(t, j, 60)
	e, err := consent.NewEngine(consent.EngineConfig{Prompter: f.srv, Journal: j})
	require.NoError(t, err)
	keys, err := ks.Keys(context.Background())
	require.NoError(t, err)
	require.Len(t, keys, 2)
	u := f.srv.EnableDashboard(Dashboard{Engine: e, Journal: j, Keys: ks, JournalLast: 25,
		Plugins: func() []PluginRow {
			return []PluginRow{{Name: "eimzo", State: "running", Detail: "wss://127.0.0.1:64443, ws://127.0.0.1:64646"}}
		}})
	for _, w := range windows {
		t.Run(w.name, func(t *testing.T) {
			g, err := e.Grants().Add(grants.Grant{Origin: "https://cipher.example.ua/" + strings.Repeat("x", 80), Plugin: "cipher",
				KeyURI: keys[0].URI, Operation: "sign", Uses: 5, Expires: time.Now().Add(10 * time.Minute)})
			require.NoError(t, err)
			require.NoError(t, e.Decisions().Set(consent.OriginDecision{Origin: "https://portal.example.uz", Choice: consent.Always,
				Plugin: "eimzo", Decided: time.Now()}))
			var tokens, count string
			require.NoError(t, chromedp.Do(tab, emulate(w), chromedp.Navigate(u),
				chromedp.WaitVisible(css(`tr[data-grant="`+g.ID+`"]`)),
				text("#tokens", &tokens), text("#journal-count", &count)))
			noSidewaysScroll(t, tab, "dashboard")
			screenshot(t, tab, "dashboard-"+w.name+".png")
			for _, want := range []string{"KARIMOVA DILNOZA RUSTAMOVNA", "DIREKTOR", `"SIGNET TEST" MCHJ`, "PINFL", "42507880230011",
				"TIN", "305123456", "Signet Test Intermediate CA", "ends in 10 days", "personal-locked.pfx",
				"The file is locked", "DS305123456_company.pfx"} {
				assert.Contains(t, tokens, want, "tokens and keys")
			}
			body := eval[string](t, tab, `document.body.innerText`)
			assert.NotContains(t, body, "1.2.860.3.16.1.2=#", "a raw hex DN is shown")
			assert.NotContains(t, body, "pkcs11:", "a URI is shown outside the technical details")
			assert.Regexp(t, `^6\d records`, count, "journal count (60, and the revocations of the subtest before)")
			assert.Contains(t, count, "page 1 of 3", "journal count")
			assert.Equal(t, 25, eval[int](t, tab, `document.querySelectorAll("#journal tbody tr").length`), "records on a page")
			// The evidence is folded: open it, and it still fits.
			require.NoError(t, chromedp.Do(tab, chromedp.Click(css("#journal tbody tr .evidence summary"))))
			noSidewaysScroll(t, tab, "dashboard with evidence open")

			// Page 2, then a filter: failed signatures of one site.
			require.NoError(t, chromedp.Do(tab, chromedp.Click(css("#page-next")), chromedp.WaitVisible(css("#page-prev")),
				text("#journal-count", &count)))
			assert.Contains(t, count, "page 2 of 3", "after Older")
			require.NoError(t, chromedp.Do(tab,
				chromedp.SetValue(css("#filter-origin"), "https://portal.example.uz"),
				chromedp.SetValue(css("#filter-op"), "sign"),
				chromedp.SetValue(css("#filter-result"), "error"),
				chromedp.Click(css("#filter-apply")), chromedp.WaitVisible(css("#filter-clear")),
				text("#journal-count", &count)))
			// i%3 == 0 (portal) and i%4 == 2 (error): i = 6, 18, 30, 42, 54
			assert.Contains(t, count, "5 records", "filtered journal")
			assert.Equal(t, 5, eval[int](t, tab, `document.querySelectorAll('#journal tbody tr[data-op="sign"] .result.error').length`),
				"filtered rows")
			noSidewaysScroll(t, tab, "filtered dashboard")

			// Revoke the grant and forget the site.
			require.NoError(t, chromedp.Do(tab,
				chromedp.Click(css(`tr[data-grant="`+g.ID+`"] button.revoke`)),
				chromedp.WaitNotPresent(css(`tr[data-grant="`+g.ID+`"]`)),
				chromedp.Click(css("#origins button.forget")),
				chromedp.WaitNotPresent(css("#origins button.forget"))))
			_, ok := e.Grants().Get(g.ID)
			assert.False(t, ok, "the grant survived Revoke")
			_, ok = e.Decisions().Get("https://portal.example.uz")
			assert.False(t, ok, "the decision survived Forget")
		})
	}
}

// TestBrowserDashboardLockAll: a company key unlocked by its password (in
// the dialog) signs without asking again; "Lock all tokens now" forgets
// it, and the next signature asks for the password again.
func TestBrowserDashboardLockAll(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	ks, password := eimzoKeys(t, f)
	keys, err := ks.Keys(context.Background())
	require.NoError(t, err)
	var company hsm.KeyInfo
	for _, k := range keys {
		if k.Certificate != nil && strings.Contains(k.URI, "company") {
			company = k
		}
	}
	require.NotEmpty(t, company.URI, "the company key")
	digest := sha256.Sum256([]byte("hisob-faktura"))
	sign := func(ctx context.Context) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := ks.Sign(ctx, company.URI, digest[:], crypto.SHA256)
			done <- err
		}()
		return done
	}
	done := sign(context.Background())
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(f.url(t)),
		chromedp.SendKeys(css("#pin"), password), press("#submit-pin"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`))))
	require.NoError(t, wait(t, done), "first signature")
	require.NoError(t, wait(t, sign(context.Background())), "the unlocked key signs without asking")
	require.Empty(t, f.opened, "a password was asked for an unlocked key")

	u := f.srv.EnableDashboard(Dashboard{Keys: ks})
	var notice string
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(u), chromedp.Click(css("#lock-all")),
		chromedp.WaitVisible(css("#notice")), text("#notice", &notice)), "log: %s", f.logs.String())
	assert.Contains(t, notice, "All tokens are locked", "log: %s", f.logs.String())
	ctx, cancel := context.WithCancel(context.Background())
	done = sign(ctx)
	opened := f.url(t) // the password is asked again
	assert.Contains(t, opened, "/q/", "a password dialog")
	cancel()
	assert.ErrorIs(t, wait(t, done), hsm.ErrCancelled, "signature after Lock all")
}

// TestBrowserDialogLayout: the consent dialog for a digest-only signature
// with the E-IMZO company key, at both window sizes and in Russian: no
// sideways scroll, the key named by its owner, organisation, PINFL and
// issuer (not its URI), one sentence saying what happens, the digest
// shown as a digest, the page's claims in their own box.
func TestBrowserDialogLayout(t *testing.T) {
	f := newFixture(t, time.Minute)
	ks, _ := eimzoKeys(t, f)
	keys, err := ks.Keys(context.Background())
	require.NoError(t, err)
	var company hsm.KeyInfo
	for _, k := range keys {
		if k.Certificate != nil {
			company = k
		}
	}
	sum := sha256.Sum256([]byte("hisob-faktura"))
	q := consent.Question{ID: "layout", Request: consent.Request{Kind: consent.Sign, Plugin: "eimzo",
		Origin: "https://portal.example.uz", Summary: "Hisob-faktura №17 " + strings.Repeat("uzun-matn-", 30),
		Documents: []consent.Document{{Name: strings.Repeat("hujjat-", 20) + ".pdf", SHA256: sum[:]}},
		Evidence:  map[string]string{"eimzo.apikey": strings.Repeat("86F0C8A5E8D5E1B2", 12)},
		KeyURI:    company.URI, Key: &company}}
	for _, lang := range []string{"en", "ru"} {
		tab := tabIn(t, lang)
		for _, w := range windows {
			t.Run(w.name+"-"+lang, func(t *testing.T) {
				res := f.confirm(q)
				var what, key, docs string
				require.NoError(t, chromedp.Do(tab, emulate(w),
					chromedp.Navigate(f.url(t)), chromedp.WaitVisible(css(`body[data-armed="yes"]`)),
					text("#what", &what), text("#key", &key), text("#documents", &docs)))
				noSidewaysScroll(t, tab, "dialog")
				screenshot(t, tab, "dialog-"+w.name+"-"+lang+".png")
				assert.Equal(t, lang, eval[string](t, tab, `document.documentElement.lang`), "page language")
				want := map[string][]string{
					"en": {"Sign 1 document given only by its digest for portal.example.uz", "PINFL", "Issued by", "not given (digest only)", "ends in 10 days"},
					"ru": {"Подписать 1 документ, переданный только хешем, для portal.example.uz", "ПИНФЛ", "Выдан", "не передан (только хеш)", "через 10 дней"},
				}[lang]
				page := what + "\n" + key + "\n" + docs
				for _, s := range want {
					assert.Contains(t, page, s)
				}
				for _, s := range []string{"KARIMOVA DILNOZA RUSTAMOVNA", `"SIGNET TEST" MCHJ`, "42507880230011", "Signet Test Intermediate CA",
					"DS305123456_company.pfx"} {
					assert.Contains(t, key, s, "key")
				}
				assert.NotContains(t, key, "file:", "the key's URI outside its technical details")
				assert.NotContains(t, docs, "0 bytes", "a digest-only document shown as empty")
				require.NoError(t, chromedp.Do(tab, press("#deny"), chromedp.WaitVisible(css(`body[data-state="answered"]`))))
				require.NoError(t, wait(t, res).err)
			})
		}
	}
}

// tabIn returns a tab of a browser that asks for pages in lang (its
// Accept-Language); English uses the shared browser.
func tabIn(t *testing.T, lang string) context.Context {
	t.Helper()
	if lang == "en" {
		return newTab(t)
	}
	browser, cancel, err := launch(needChromium(t), chromedp.Flag("accept-lang", lang))
	require.NoError(t, err, "start chromium")
	t.Cleanup(cancel)
	return tabOf(t, browser)
}

// screenshotDir is where screenshot saves: $CONSENTUI_SCREENSHOT_DIR, or
// the test's temporary directory.
func screenshotDir(t *testing.T) string {
	if dir := os.Getenv("CONSENTUI_SCREENSHOT_DIR"); dir != "" {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		return dir
	}
	return t.TempDir()
}
