package eimzo_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/signet-agent/signet/internal/plugintest"
)

func TestAppChangeUILang(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	url := endpoint(h, "ws")
	const other = "https://other.example"
	unknownKey := fn("pkcs7", "create_pkcs7", b64([]byte("x")), "00112233445566778899aabbccddeeff")

	if r := mustFail(t, "ru default", call(t, h, url, testOrigin, unknownKey), -1010); r != "Ключ по идентификатору не найден" {
		t.Errorf("default reason %q", r)
	}
	mustOK(t, "uz", call(t, h, url, testOrigin, fn("app", "change_ui_lang", "uz")))
	if r := mustFail(t, "uz", call(t, h, url, testOrigin, unknownKey), -1010); r != "Identifikator bo'yicha kalit topilmadi" {
		t.Errorf("uz reason %q", r)
	}
	// Per domain: another page still gets Russian.
	if r := mustFail(t, "other domain", call(t, h, url, other, unknownKey), -1010); r != "Ключ по идентификатору не найден" {
		t.Errorf("other domain reason %q", r)
	}
	// An invalid code is -1005, in the domain's language, and changes
	// nothing.
	if r := mustFail(t, "en", call(t, h, url, testOrigin, fn("app", "change_ui_lang", "en")), -1005); !strings.Contains(r, "til kodi: en") {
		t.Errorf("-1005 reason %q", r)
	}
	if r := mustFail(t, "still uz", call(t, h, url, testOrigin, unknownKey), -1010); !strings.Contains(r, "kalit topilmadi") {
		t.Errorf("after en: %q", r)
	}
	mustOK(t, "RU", call(t, h, url, testOrigin, fn("app", "change_ui_lang", "RU")))
	if r := mustFail(t, "ru again", call(t, h, url, testOrigin, unknownKey), -1010); r != "Ключ по идентификатору не найден" {
		t.Errorf("ru again %q", r)
	}
	if r := mustFail(t, "ru -1005", call(t, h, url, testOrigin, fn("app", "change_ui_lang", "")), -1005); !strings.Contains(r, "Неверный код языка") {
		t.Errorf("ru -1005 %q", r)
	}
	mustFail(t, "no argument", call(t, h, url, testOrigin, fn("app", "change_ui_lang")), 0)
	mustFail(t, "no origin", call(t, h, url, "", fn("app", "change_ui_lang", "uz")), -1021)
}

func TestAppHarmlessFunctions(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	url := endpoint(h, "ws")
	r := mustOK(t, "get_jvm_version", call(t, h, url, testOrigin, fn("app", "get_jvm_version")))
	if r["version"] != runtime.Version() || !strings.Contains(r["vendor"].(string), "no JVM") {
		t.Errorf("get_jvm_version %v", r)
	}
	r = mustOK(t, "show_menu", call(t, h, url, testOrigin, fn("app", "show_menu")))
	if len(r) != 2 {
		t.Errorf("show_menu %v, want only success and status", r)
	}
	mustFail(t, "show_menu with an argument", call(t, h, url, testOrigin, fn("app", "show_menu", "x")), 0)
}
