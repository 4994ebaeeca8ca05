package consentui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
)

// spoof is what an attacking page writes wherever it can, to pass for
// something Signet checked.
const spoof = "Origin: https://gov.uz — verified"

// spoofingRequest is a signature request from evil.example whose every
// page-controlled field claims to be something else.
func spoofingRequest(t *testing.T) consent.Request {
	sum := sha256.Sum256([]byte("the bytes really signed"))
	return consent.Request{
		Kind:        consent.Sign,
		Plugin:      "example",
		Origin:      "https://evil.example",
		Summary:     spoof,
		SummaryHTML: "<p><b>" + spoof + "</b></p>",
		Documents:   []consent.Document{{Name: spoof + ".pdf", Size: 2048, SHA256: sum[:], ContentType: "application/pdf"}},
		Evidence:    map[string]string{"note": spoof},
		KeyURI:      "pkcs11:token=T;id=%01",
		Key: &hsm.KeyInfo{URI: "pkcs11:token=T;id=%01", Label: "signing key", Algorithm: hsm.ECDSA, Bits: 256,
			Certificate: testCert(t, "Alice Example")},
	}
}

// pageSections reads the text of the verified section, the claims box and
// the rest of the page outside the claims box.
func pageSections(t *testing.T, tab context.Context) (verified, claims, outside string) {
	t.Helper()
	verified = eval[string](t, tab, `document.querySelector("#verified").innerText`)
	claims = eval[string](t, tab, `document.querySelector("#claims").innerText`)
	outside = eval[string](t, tab, `(function () {
		var b = document.body.cloneNode(true);
		var c = b.querySelector("#claims");
		c.parentNode.removeChild(c);
		return b.textContent + " " + document.title;
	})()`)
	return
}

// TestAttackSpoofedSummaryOnlyInClaims: a page put "Origin: … verified" in
// its summary, which the dialog showed as the operation's description.
// Now whatever the page wrote (summary, HTML summary, document name,
// evidence) appears only in the box labelled "The page says", and the facts
// Signet established (web site, plugin, document size and SHA-256, key and
// certificate) only in the "Checked by Signet" section.
func TestAttackSpoofedSummaryOnlyInClaims(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	req := spoofingRequest(t)
	res := f.confirm(consent.Question{ID: "spoof", Request: req})
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(f.url(t)), chromedp.WaitVisible(css("#claims"))))
	verified, claims, outside := pageSections(t, tab)

	assert.NotContains(t, outside, "gov.uz", "the page's claim shows outside the claims box")
	assert.NotContains(t, verified, "gov.uz")
	for _, want := range []string{"The page says", "not checked", spoof, spoof + ".pdf", "application/pdf"} {
		assert.Contains(t, claims, want)
	}
	assert.Equal(t, 1, eval[int](t, tab, `document.querySelectorAll("#claims #summary-html b").length`), "the HTML summary is outside the claims box")
	sum := hex.EncodeToString(req.Documents[0].SHA256)
	for _, want := range []string{"Checked by Signet", "https://evil.example", "example", "Sign 1 document of 2.0 KB for evil.example.",
		sum, "2.0 KB (2048 bytes)", "Alice Example", "Test Org"} {
		assert.Contains(t, verified, want)
	}
	assert.Contains(t, eval[string](t, tab, `document.querySelector("#verified").textContent`), "signing key",
		"the key's label in the verified section's technical details")
	assert.NotContains(t, claims, sum, "a verified fact inside the claims box")
	assert.NotContains(t, claims, "evil.example", "a verified fact inside the claims box")
	// The two sections look different (not only their headings).
	assert.NotEqual(t,
		eval[string](t, tab, `getComputedStyle(document.querySelector("#verified")).backgroundColor`),
		eval[string](t, tab, `getComputedStyle(document.querySelector("#claims")).backgroundColor`))
	assert.Equal(t, "dashed", eval[string](t, tab, `getComputedStyle(document.querySelector("#claims")).borderTopStyle`))

	screenshot(t, tab, "dialog.png")
	require.NoError(t, chromedp.Do(tab, press("#deny")))
	require.NoError(t, wait(t, res).err)
}

// TestAttackSpoofedSummaryInPINDialog: the PIN dialog that a request
// causes keeps the same separation.
func TestAttackSpoofedSummaryInPINDialog(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	ctx := consent.WithRequest(context.Background(), spoofingRequest(t))
	res := f.pin(ctx, pinRequest())
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(f.url(t)), chromedp.WaitVisible(css("#pin"))))
	verified, claims, outside := pageSections(t, tab)
	screenshot(t, tab, "pin.png")
	assert.NotContains(t, outside, "gov.uz")
	assert.Contains(t, claims, spoof)
	assert.Contains(t, verified, "https://evil.example")
	require.NoError(t, chromedp.Do(tab, press("#cancel")))
	wait(t, res)
}

// TestDigestOnlyDocumentSize: a document given only by its digest (the
// example plugin signs digests) shows "not given", not "0 bytes"; an empty
// document still shows 0 bytes.
func TestDigestOnlyDocumentSize(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	empty := sha256.Sum256(nil)
	assert.Equal(t, "not given (digest only)", docSize(&locale{lang: "en"}, consent.Document{SHA256: sum[:]}))
	assert.Equal(t, "0 bytes", docSize(&locale{lang: "en"}, consent.Document{SHA256: empty[:]}))
	assert.Equal(t, "12 bytes", docSize(&locale{lang: "en"}, consent.Document{Size: 12, SHA256: sum[:]}))
}

// screenshot saves the whole page, at the tab's window size, as name in
// screenshotDir, and logs the path for a person to look at.
func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	var png []byte
	require.NoError(t, chromedp.Do(tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var err error
		png, err = chromedp.FullScreenshot(100)(ctx, tg)
		return err
	})))
	path := filepath.Join(screenshotDir(t), name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
}
