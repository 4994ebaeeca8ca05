package consentui

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
	if err := chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		chromedp.WaitVisible(css("#choices")),
		text("#title", &title), text("#choices", &choices), text("#claims", &docs),
	); err != nil {
		t.Fatal(err)
	}
	if want := "https://portal.example asks to sign with a key you pick"; title != want {
		t.Errorf("title %q; want %q", title, want)
	}
	for _, want := range []string{"Alice signing", "Alice company", "CN=Alice Example,O=Test Org", "CN=Alice at Example LLC,O=Test Org",
		"ECDSA 256", "pkcs11:token=Card;id=%02", " UTC to "} {
		if !strings.Contains(choices, want) {
			t.Errorf("choices %q lack %q", choices, want)
		}
	}
	if !strings.Contains(docs, "contract.pdf") {
		t.Errorf("documents %q", docs)
	}
	if n := eval[int](t, tab, `document.querySelectorAll('input[name="key"]').length`); n != 2 {
		t.Fatalf("%d radio buttons; want 2", n)
	}
	if n := eval[int](t, tab, `document.querySelectorAll('input[name="key"]:checked').length`); n != 0 {
		t.Errorf("a key is preselected")
	}
	if n := eval[int](t, tab, `document.querySelectorAll("#key").length`); n != 0 {
		t.Errorf("a single-key section is shown for a choice")
	}
	if !eval[bool](t, tab, `document.querySelector("#approve").disabled`) {
		t.Fatal("Allow is enabled before a key is picked")
	}
	if err := chromedp.Do(tab, chromedp.Click(css("#key-1")), chromedp.WaitVisible(css(`body[data-armed="yes"]`))); err != nil {
		t.Fatal(err)
	}
	if eval[bool](t, tab, `document.querySelector("#approve").disabled`) {
		t.Fatal("Allow is still disabled after a key was picked")
	}
	if err := chromedp.Do(tab,
		press("#approve"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	); err != nil {
		t.Fatal(err)
	}
	r := wait(t, res)
	if r.err != nil || !r.a.Allow || r.a.Remember || r.a.KeyURI != q.Request.Choices[1].URI {
		t.Fatalf("answer %+v, %v; want Allow with the second key", r.a, r.err)
	}
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
		if err := chromedp.Do(tab, chromedp.Navigate(f.url(t)), chromedp.WaitVisible(css("#choices")),
			chromedp.WaitVisible(css(`body[data-armed="yes"]`))); err != nil {
			t.Fatal(err)
		}
		if !eval[bool](t, tab, `document.querySelector("#always").disabled && document.querySelector("#approve").disabled`) {
			t.Fatal("Always / Allow once enabled before a key is picked")
		}
		if eval[bool](t, tab, `document.querySelector("#deny").disabled || document.querySelector("#never").disabled`) {
			t.Fatal("Deny / Never disabled")
		}
		if err := chromedp.Do(tab,
			chromedp.Click(css("#key-0")),
			press("#always"),
			chromedp.WaitVisible(css(`body[data-state="answered"]`)),
		); err != nil {
			t.Fatal(err)
		}
		r := wait(t, res)
		if r.err != nil || !r.a.Allow || !r.a.Remember || r.a.KeyURI != q.Request.Choices[0].URI {
			t.Fatalf("answer %+v, %v; want Always with the first key", r.a, r.err)
		}
	})
	t.Run("deny without a pick", func(t *testing.T) {
		tab := newTab(t)
		f := newFixture(t, time.Minute)
		q := chooseQuestion(t)
		q.FirstUse = true
		res := f.confirm(q)
		if err := chromedp.Do(tab,
			chromedp.Navigate(f.url(t)),
			chromedp.WaitVisible(css("#choices")),
			press("#deny"),
			chromedp.WaitVisible(css(`body[data-state="answered"]`)),
		); err != nil {
			t.Fatal(err)
		}
		if r := wait(t, res); r.err != nil || r.a.Allow || r.a.Remember || r.a.KeyURI != "" {
			t.Fatalf("answer %+v, %v; want a plain deny", r.a, r.err)
		}
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
		if resp := post(t, u+"/answer", form, same); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("key %q: status %d", key, resp.StatusCode)
		}
		_, body, _ := sess.get(t, http.DefaultClient)
		if !strings.Contains(body, "Pick the key to sign with") || !strings.Contains(body, `id="answer"`) {
			t.Fatalf("key %q: the question is not open with a notice:\n%s", key, body)
		}
	}
	_, _, csrf := sess.get(t, http.DefaultClient)
	if resp := post(t, u+"/answer", url.Values{"csrf": {csrf}, "action": {"grant"}, "key": {"0"}}, same); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("grant on a choice: status %d; want 400", resp.StatusCode)
	}
	select {
	case r := <-res:
		t.Fatalf("answered without a valid pick: %+v", r)
	default:
	}
	if resp := post(t, u+"/answer", url.Values{"csrf": {csrf}, "action": {"approve"}, "key": {"0"}}, same); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("valid pick: status %d", resp.StatusCode)
	}
	if r := wait(t, res); r.err != nil || !r.a.Allow || r.a.KeyURI != q.Request.Choices[0].URI {
		t.Fatalf("answer %+v, %v; want the first key", r.a, r.err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	const origin = "https://my.gov.example"
	req := consent.Request{Kind: consent.Sign, Plugin: "eimzo", Origin: origin, Summary: "create_pkcs7: contract",
		Choices: []hsm.KeyInfo{{URI: k1.URI}, {URI: "file:///nowhere.pfx#x"}, {URI: k2.URI}}}
	var out consent.Outcome
	done := make(chan error, 1)
	go func() { done <- e.Ask(consent.WithOutcome(context.Background(), &out), req) }()
	var title string
	if err := chromedp.Do(tab,
		chromedp.Navigate(f.url(t)),
		chromedp.WaitVisible(css("#choices")),
		text("#title", &title),
	); err != nil {
		t.Fatal(err)
	}
	if n := eval[int](t, tab, `document.querySelectorAll('input[name="key"]').length`); n != 2 {
		t.Fatalf("%d keys offered; want the 2 the key stores know", n)
	}
	if err := chromedp.Do(tab,
		chromedp.Click(css("#key-1")),
		press("#approve"), // "Allow once"
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, done); err != nil {
		t.Fatalf("choice: %v", err)
	}
	if out.KeyURI != k2.URI || out.GrantID == "" {
		t.Fatalf("outcome %+v; want the second key and a grant", out)
	}
	if !strings.Contains(title, origin+" wants to use Signet") {
		t.Errorf("first-use title %q", title)
	}
	s := consent.Request{Kind: consent.Sign, Plugin: "eimzo", Origin: origin, KeyURI: out.KeyURI, GrantID: out.GrantID}
	if err := e.Ask(context.Background(), s); err != nil {
		t.Fatalf("signature with the choice's grant: %v", err)
	}
	select {
	case u := <-f.opened:
		t.Errorf("a second dialog was opened (%s)", u)
	default:
	}
}
