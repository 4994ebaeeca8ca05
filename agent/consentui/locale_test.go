package consentui

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/sdk/x500"
)

// pluralSuffix matches a plural form at the end of a key.
var pluralSuffix = regexp.MustCompile(`\.(one|few|many|other)$`)

// catalogueKeys is every key of every language: plain keys as they are,
// plural keys by their stem (without the form).
func catalogueKeys() (plain, plural map[string]bool) {
	plain, plural = map[string]bool{}, map[string]bool{}
	for _, m := range catalogues {
		for k := range m {
			if stem := pluralSuffix.ReplaceAllString(k, ""); stem != k {
				plural[stem] = true
			} else {
				plain[k] = true
			}
		}
	}
	return plain, plural
}

// TestCatalogueComplete: each language has every key (and, for a plural
// key, exactly the plural forms of that language); each message takes the
// same arguments in every language, so no language prints %!(EXTRA …) or
// %!s(MISSING).
func TestCatalogueComplete(t *testing.T) {
	plain, plural := catalogueKeys()
	require.Contains(t, plain, "dash.lockAll", "the catalogue")
	for _, lang := range []string{"en", "ru", "uk", "uz"} {
		m, ok := catalogues[lang]
		require.True(t, ok, "no catalogue for %s", lang)
		forms, ok := pluralForms[lang]
		require.True(t, ok, "no plural forms for %s", lang)
		for k := range plain {
			assert.NotEmpty(t, m[k], "%s: missing %q", lang, k)
		}
		for stem := range plural {
			for _, form := range forms {
				assert.NotEmpty(t, m[stem+"."+form], "%s: missing %q", lang, stem+"."+form)
			}
		}
		for k := range m {
			if stem := pluralSuffix.ReplaceAllString(k, ""); stem != k {
				assert.Contains(t, forms, strings.TrimPrefix(k, stem+"."), "%s: %q is not a plural form of the language", lang, k)
			}
		}
		for k, en := range catalogues[defaultLang] {
			if other, ok := m[k]; ok {
				assert.Equal(t, verbs(en), verbs(other), "%s: %q takes other arguments than in English", lang, k)
			}
		}
	}
}

// verbs lists a message's fmt verbs by the argument each one takes.
func verbs(s string) map[int]string {
	out := map[int]string{}
	next := 1
	for _, m := range regexp.MustCompile(`%(\[(\d+)\])?([a-z])`).FindAllStringSubmatch(s, -1) {
		n := next
		if m[2] != "" {
			fmt.Sscan(m[2], &n)
		}
		out[n] = m[3]
		next = n + 1
	}
	return out
}

// TestCatalogueCoversKinds: every attribute kind sdk/x500 can report for
// a certificate the pages show is labelled in the catalogue.
func TestCatalogueCoversKinds(t *testing.T) {
	for kind := range idKinds {
		assert.Contains(t, catalogues[defaultLang], "attr."+kind, "no label for the identifier kind %q", kind)
	}
	fs, err := x500.Fields(mustName(t, "CN=A,O=B,1.2.860.3.16.1.2=1,1.2.860.3.16.1.1=2,1.2.643.100.3=3"))
	require.NoError(t, err)
	for _, f := range fs {
		assert.Contains(t, catalogues[defaultLang], "attr."+f.Kind, "no label for %s", f.Label)
	}
}

func mustName(t *testing.T, s string) []byte {
	t.Helper()
	n, err := x500.Parse(s)
	require.NoError(t, err)
	der, err := n.Marshal()
	require.NoError(t, err)
	return der
}

// TestPickLang: the browser's preferred supported language wins, by
// weight and then by order; unsupported or malformed entries are skipped;
// English otherwise.
func TestPickLang(t *testing.T) {
	for h, want := range map[string]string{
		"":                                    "en",
		"uk-UA,uk;q=0.9,en-US;q=0.8,en;q=0.7": "uk",
		"ru":                                  "ru",
		"uz-Latn-UZ":                          "uz",
		"de-DE,de;q=0.9,ru;q=0.5,en;q=0.4":    "ru",
		"en;q=0.5,uz;q=0.8":                   "uz",
		"fr,de":                               "en",
		"ru;q=0,uk;q=0.1":                     "uk",
		"ru;q=abc,uk;q=0.2":                   "uk",
		"*":                                   "en",
		strings.Repeat("xx,", 400) + "ru":     "en", // past the bound
	} {
		assert.Equal(t, want, pickLang(h), "Accept-Language %q", h)
	}
}

// TestPluralForms: the CLDR integer rules of each language.
func TestPluralForms(t *testing.T) {
	for _, c := range []struct {
		lang string
		n    int
		want string
	}{
		{"en", 1, "one"}, {"en", 0, "other"}, {"en", 2, "other"},
		{"ru", 1, "one"}, {"ru", 21, "one"}, {"ru", 11, "many"}, {"ru", 2, "few"}, {"ru", 24, "few"}, {"ru", 12, "many"},
		{"ru", 5, "many"}, {"ru", 0, "many"}, {"uk", 101, "one"}, {"uk", 113, "many"}, {"uz", 1, "other"},
	} {
		assert.Equal(t, c.want, pluralForm(c.lang, c.n), "%s %d", c.lang, c.n)
	}
	l := &locale{lang: "ru"}
	assert.Equal(t, "Осталось 2 попытки.", l.N("pin.triesLeft", 2))
	assert.Equal(t, "Подписать 5 документов общим размером 10.0 КБ для portal.example.uz.",
		what(l, consent.Request{Kind: consent.Sign, Origin: "https://portal.example.uz", Documents: fiveDocs(2048)}))
}

func fiveDocs(size int64) []consent.Document {
	var docs []consent.Document
	for i := 0; i < 5; i++ {
		docs = append(docs, consent.Document{Size: size, SHA256: make([]byte, 32)})
	}
	return docs
}

// TestWhatSentence: the one sentence says what happens, from the checked
// facts: the host, the number and size of documents; a digest-only
// request as such.
func TestWhatSentence(t *testing.T) {
	l := &locale{lang: "en"}
	digest := func() []byte { b := make([]byte, 32); b[0] = 1; return b }
	for _, c := range []struct {
		req  consent.Request
		want string
	}{
		{consent.Request{Kind: consent.Sign, Origin: "https://portal.example.uz",
			Documents: []consent.Document{{Size: 10 * 1024, SHA256: digest()}}}, "Sign 1 document of 10.0 KB for portal.example.uz."},
		{consent.Request{Kind: consent.Sign, Origin: "https://portal.example.uz:8443", Documents: fiveDocs(2048)},
			"Sign 5 documents of 10.0 KB in all for portal.example.uz:8443."},
		{consent.Request{Kind: consent.Sign, Origin: "https://portal.example.uz", Documents: []consent.Document{{SHA256: digest()}}},
			"Sign 1 document given only by its digest for portal.example.uz: Signet does not see the document itself."},
		{consent.Request{Kind: consent.Sign, Caller: "signet-cli (pid 42)",
			Documents: []consent.Document{{SHA256: digest()}, {Size: 5, SHA256: digest()}}},
			"Sign 2 documents for signet-cli (pid 42) (1 given only by their digests)."},
		{consent.Request{Kind: consent.Keygen, Origin: "https://ca.example.uz"}, "Create a key for ca.example.uz."},
	} {
		assert.Equal(t, c.want, what(l, c.req))
	}
}

// TestPagesInBrowserLanguage: the dialog, the "already used" page and the
// dashboard are served in the Accept-Language's language.
func TestPagesInBrowserLanguage(t *testing.T) {
	f := newFixture(t, time.Minute)
	e, err := consent.NewEngine(consent.EngineConfig{})
	require.NoError(t, err)
	dash := f.srv.EnableDashboard(Dashboard{Engine: e})
	for lang, want := range map[string][]string{
		"en": {"Checked by Signet", "Web sites", "This link was already used"},
		"ru": {"Проверено Signet", "Веб-сайты", "Эта ссылка уже использована"},
		"uk": {"Перевірено Signet", "Вебсайти", "Це посилання вже використано"},
		"uz": {"Signet tekshirgan", "Veb-saytlar", "Bu havola allaqachon ishlatilgan"},
	} {
		t.Run(lang, func(t *testing.T) {
			f.confirm(signQuestion(t)) // left pending; Close cancels it
			link := f.url(t)
			get := func(u string) string {
				req, err := http.NewRequest(http.MethodGet, u, nil)
				require.NoError(t, err)
				req.Header.Set("Accept-Language", lang+"-XX,"+lang+";q=0.9")
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				return string(b)
			}
			page := get(link)
			assert.Contains(t, page, `<html lang="`+lang+`">`)
			assert.Contains(t, page, want[0], "dialog")
			assert.Contains(t, get(dash), want[1], "dashboard")
			assert.Contains(t, get(link), want[2], "used link")
		})
	}
}
