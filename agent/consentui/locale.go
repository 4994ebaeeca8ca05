package consentui

// The pages speak the person's language: the browser's Accept-Language
// picks one of the catalogues (messages.go), English when none fits. Every
// word of the dialog and the dashboard comes from there, through a locale.

import (
	"fmt"
	"strconv"
	"strings"
)

// defaultLang is the language of a browser that asks for none we have.
const defaultLang = "en"

// maxAcceptLanguage bounds how much of the header is read.
const maxAcceptLanguage = 512

// locale renders messages in one language; templates call T and N.
type locale struct{ lang string }

// localeFor picks the catalogue for an Accept-Language header: the
// supported language with the highest weight, earlier entries first on a
// tie, English when none is supported.
func localeFor(acceptLanguage string) *locale {
	return &locale{lang: pickLang(acceptLanguage)}
}

func pickLang(h string) string {
	if len(h) > maxAcceptLanguage {
		h = h[:maxAcceptLanguage]
	}
	best, bestQ := defaultLang, -1.0
	for i, part := range strings.Split(h, ",") {
		if i == 32 {
			break
		}
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if _, ok := catalogues[base]; !ok {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		if q > bestQ && q > 0 {
			best, bestQ = base, q
		}
	}
	return best
}

// Lang is the page's language tag.
func (l *locale) Lang() string { return l.lang }

// T is the message key in l's language, formatted with args (fmt verbs,
// %[n]s where a language orders them differently). A key missing from a
// catalogue falls back to English (the catalogue test keeps that from
// happening), and an unknown key to itself.
func (l *locale) T(key string, args ...any) string {
	s, ok := catalogues[l.lang][key]
	if !ok {
		if s, ok = catalogues[defaultLang][key]; !ok {
			s = key
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// N is the plural form of key for n ("key.one", "key.few", …, the forms
// of l's language), formatted with n and then args.
func (l *locale) N(key string, n int, args ...any) string {
	return l.T(key+"."+pluralForm(l.lang, n), append([]any{n}, args...)...)
}

// pluralForms are the plural categories each language's messages have.
var pluralForms = map[string][]string{
	"en": {"one", "other"},
	"ru": {"one", "few", "many"},
	"uk": {"one", "few", "many"},
	"uz": {"other"},
}

// pluralForm is n's CLDR plural category in lang (integers only).
func pluralForm(lang string, n int) string {
	if n < 0 {
		n = -n
	}
	switch lang {
	case "ru", "uk":
		switch {
		case n%10 == 1 && n%100 != 11:
			return "one"
		case n%10 >= 2 && n%10 <= 4 && (n%100 < 12 || n%100 > 14):
			return "few"
		}
		return "many"
	case "uz":
		return "other"
	}
	if n == 1 {
		return "one"
	}
	return "other"
}
