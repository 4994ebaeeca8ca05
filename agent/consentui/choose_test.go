package consentui

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pfx"
)

// chooseQuestion asks the person to pick one of two keys for a signature
// (sdk Consent.ChooseKey: E-IMZO's "ckc").
func chooseQuestion(t *testing.T) consent.Question {
	q := signQuestion(t)
	q.Request.KeyURI, q.Request.Key = "", nil
	q.Request.Choices = []hsm.KeyInfo{
		{URI: "pkcs11:token=Card;id=%01", Label: "Alice signing", Algorithm: hsm.ECDSA, Bits: 256, HasPrivateKey: true,
			Certificate: testCert(t, "Alice Example")},
		{URI: "pkcs11:token=Card;id=%02", Label: "Alice company", Algorithm: hsm.ECDSA, Bits: 256, HasPrivateKey: true,
			Certificate: testCert(t, "Alice at Example LLC")},
	}
	return q
}

// The dialog lists the keys as radio buttons, none picked; Allow is
// disabled until the person picks one; the answer names the picked key.
func TestBrowserChooseKey(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	q := chooseQuestion(t)
	res := f.confirm(q)
	var title, choices, docs string
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		chromedp.WaitVisible(css("#choices")),
		text("#title", &title), text("#choices", &choices), text("#claims", &docs),
	))
	assert.Equal(t, "https://portal.example asks to sign with a key you pick", title)
	for _, want := range []string{"Alice Example", "Alice at Example LLC", "Test Org", "token Card", " to "} {
		assert.Contains(t, choices, want, "choices")
	}
	// The technical details are folded away, but there.
	details := eval[string](t, tab, `document.querySelector("#choices").textContent`)
	for _, want := range []string{"Alice signing", "Alice company", "ECDSA 256", "pkcs11:token=Card;id=%02"} {
		assert.Contains(t, details, want, "choices' technical details")
	}
	assert.Contains(t, docs, "contract.pdf", "documents")
	require.Equal(t, 2, eval[int](t, tab, `document.querySelectorAll('input[name="key"]').length`), "radio buttons")
	assert.Zero(t, eval[int](t, tab, `document.querySelectorAll('input[name="key"]:checked').length`), "a key is preselected")
	assert.Zero(t, eval[int](t, tab, `document.querySelectorAll("#key").length`), "a single-key section is shown for a choice")
	require.True(t, eval[bool](t, tab, `document.querySelector("#approve").disabled`), "Allow is enabled before a key is picked")
	require.NoError(t, chromedp.Do(tab, chromedp.Click(css("#key-1")), chromedp.WaitVisible(css(`body[data-armed="yes"]`))))
	require.False(t, eval[bool](t, tab, `document.querySelector("#approve").disabled`), "Allow is still disabled after a key was picked")
	require.NoError(t, chromedp.Do(tab,
		press("#approve"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	))
	r := wait(t, res)
	require.NoError(t, r.err)
	require.Equal(t, consent.Answer{Allow: true, KeyURI: q.Request.Choices[1].URI}, r.a, "want Allow with the second key")
}

// A first-use origin gets Allow once / Always / Deny / Never next to the
// keys; Always waits for a key; Deny needs none.
func TestBrowserChooseKeyFirstUse(t *testing.T) {
	t.Run("always", func(t *testing.T) {
		tab := newTab(t)
		f := newFixture(t, time.Minute)
		q := chooseQuestion(t)
		q.FirstUse = true
		res := f.confirm(q)
		require.NoError(t, chromedp.Do(tab, chromedp.Navigate(f.url(t)), chromedp.WaitVisible(css("#choices")),
			chromedp.WaitVisible(css(`body[data-armed="yes"]`))))
		require.True(t, eval[bool](t, tab, `document.querySelector("#always").disabled`), "Always enabled before a key is picked")
		require.True(t, eval[bool](t, tab, `document.querySelector("#approve").disabled`), "Allow once enabled before a key is picked")
		require.False(t, eval[bool](t, tab, `document.querySelector("#deny").disabled`), "Deny disabled")
		require.False(t, eval[bool](t, tab, `document.querySelector("#never").disabled`), "Never disabled")
		require.NoError(t, chromedp.Do(tab,
			chromedp.Click(css("#key-0")),
			press("#always"),
			chromedp.WaitVisible(css(`body[data-state="answered"]`)),
		))
		r := wait(t, res)
		require.NoError(t, r.err)
		require.Equal(t, consent.Answer{Allow: true, Remember: true, KeyURI: q.Request.Choices[0].URI}, r.a, "want Always with the first key")
	})
	t.Run("deny without a pick", func(t *testing.T) {
		tab := newTab(t)
		f := newFixture(t, time.Minute)
		q := chooseQuestion(t)
		q.FirstUse = true
		res := f.confirm(q)
		require.NoError(t, chromedp.Do(tab,
			chromedp.Navigate(f.url(t)),
			chromedp.WaitVisible(css("#choices")),
			press("#deny"),
			chromedp.WaitVisible(css(`body[data-state="answered"]`)),
		))
		r := wait(t, res)
		require.NoError(t, r.err)
		require.Equal(t, consent.Answer{}, r.a, "want a plain deny")
	})
}

// The server does not rely on the page: an Allow without a valid pick
// leaves the question open with a notice; a grant cannot be accepted for
// a choice; a valid pick answers.
func TestChooseKeyNeedsPick(t *testing.T) {
	f := newFixture(t, time.Minute)
	q := chooseQuestion(t)
	res := f.confirm(q)
	sess := openLink(t, http.DefaultClient, f.url(t))
	u := sess.page
	same := sess.hdr(map[string]string{"Sec-Fetch-Site": "same-origin"})
	for _, key := range []string{"", "2", "-1", "x", "01x"} {
		_, _, csrf := sess.get(t, http.DefaultClient)
		form := url.Values{"csrf": {csrf}, "action": {"approve"}}
		if key != "" {
			form.Set("key", key)
		}
		require.Equal(t, http.StatusSeeOther, post(t, u+"/answer", form, same).StatusCode, "key %q", key)
		_, body, _ := sess.get(t, http.DefaultClient)
		require.Contains(t, body, "Pick the key to sign with", "key %q: the question is not open with a notice", key)
		require.Contains(t, body, `id="answer"`, "key %q: the question is not open with a notice", key)
	}
	_, _, csrf := sess.get(t, http.DefaultClient)
	resp := post(t, u+"/answer", url.Values{"csrf": {csrf}, "action": {"grant"}, "key": {"0"}}, same)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "grant on a choice")
	select {
	case r := <-res:
		require.FailNow(t, "answered without a valid pick", "%+v", r)
	default:
	}
	resp = post(t, u+"/answer", url.Values{"csrf": {csrf}, "action": {"approve"}, "key": {"0"}}, same)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "valid pick")
	r := wait(t, res)
	require.NoError(t, r.err)
	require.True(t, r.a.Allow, "answer %+v", r.a)
	require.Equal(t, q.Request.Choices[0].URI, r.a.KeyURI, "want the first key")
}

// TestBrowserEngineChooseKey: the real consent engine puts a key choice
// from a first-use origin through the dialog (keys looked up in real PFX
// key stores); the person picks the second key and allows once; the
// signature presenting the choice's grant needs no second dialog.
func TestBrowserEngineChooseKey(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	b1, k1, _ := pfxStore(t, f, "one")
	b2, k2, _ := pfxStore(t, f, "two")
	lookup := func(ctx context.Context, uri string) (hsm.KeyInfo, error) {
		for _, b := range []*pfx.Backend{b1, b2} {
			keys, err := b.Keys(ctx)
			if err != nil {
				return hsm.KeyInfo{}, err
			}
			for _, k := range keys {
				if k.URI == uri {
					return k, nil
				}
			}
		}
		return hsm.KeyInfo{}, hsm.ErrKeyNotFound
	}
	e, err := consent.NewEngine(consent.EngineConfig{Prompter: f.srv, KeyInfo: lookup})
	require.NoError(t, err)
	const origin = "https://my.gov.example"
	req := consent.Request{Kind: consent.Sign, Plugin: "eimzo", Origin: origin, Summary: "create_pkcs7: contract",
		Choices: []hsm.KeyInfo{{URI: k1.URI}, {URI: "file:///nowhere.pfx#x"}, {URI: k2.URI}}}
	var out consent.Outcome
	done := make(chan error, 1)
	go func() { done <- e.Ask(consent.WithOutcome(context.Background(), &out), req) }()
	var title string
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		chromedp.WaitVisible(css("#choices")),
		text("#title", &title),
	))
	require.Equal(t, 2, eval[int](t, tab, `document.querySelectorAll('input[name="key"]').length`), "keys offered: the 2 the key stores know")
	require.NoError(t, chromedp.Do(tab,
		chromedp.Click(css("#key-1")),
		press("#approve"), // "Allow once"
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	))
	require.NoError(t, wait(t, done), "choice")
	require.Equal(t, k2.URI, out.KeyURI, "want the second key")
	require.NotEmpty(t, out.GrantID, "want a grant")
	assert.Contains(t, title, origin+" wants to use Signet", "first-use title")
	s := consent.Request{Kind: consent.Sign, Plugin: "eimzo", Origin: origin, KeyURI: out.KeyURI, GrantID: out.GrantID}
	require.NoError(t, e.Ask(context.Background(), s), "signature with the choice's grant")
	select {
	case u := <-f.opened:
		assert.Fail(t, "a second dialog was opened", u)
	default:
	}
}
