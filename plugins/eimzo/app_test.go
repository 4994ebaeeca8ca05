package eimzo_test

import (
	"runtime"
	"testing"

	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/stretchr/testify/assert"
)

func TestAppChangeUILang(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	url := endpoint(h, "ws")
	const other = "https://other.example"
	unknownKey := fn("pkcs7", "create_pkcs7", b64([]byte("x")), "00112233445566778899aabbccddeeff")

	r := mustFail(t, "ru default", call(t, h, url, testOrigin, unknownKey), -1010)
	assert.Equal(t, "Ключ по идентификатору не найден", r, "default reason")
	mustOK(t, "uz", call(t, h, url, testOrigin, fn("app", "change_ui_lang", "uz")))
	r = mustFail(t, "uz", call(t, h, url, testOrigin, unknownKey), -1010)
	assert.Equal(t, "Identifikator bo'yicha kalit topilmadi", r, "uz reason")
	// Per domain: another page still gets Russian.
	r = mustFail(t, "other domain", call(t, h, url, other, unknownKey), -1010)
	assert.Equal(t, "Ключ по идентификатору не найден", r, "other domain reason")
	// An invalid code is -1005, in the domain's language, and changes
	// nothing.
	r = mustFail(t, "en", call(t, h, url, testOrigin, fn("app", "change_ui_lang", "en")), -1005)
	assert.Contains(t, r, "til kodi: en", "-1005 reason")
	r = mustFail(t, "still uz", call(t, h, url, testOrigin, unknownKey), -1010)
	assert.Contains(t, r, "kalit topilmadi", "after en")
	mustOK(t, "RU", call(t, h, url, testOrigin, fn("app", "change_ui_lang", "RU")))
	r = mustFail(t, "ru again", call(t, h, url, testOrigin, unknownKey), -1010)
	assert.Equal(t, "Ключ по идентификатору не найден", r, "ru again")
	r = mustFail(t, "ru -1005", call(t, h, url, testOrigin, fn("app", "change_ui_lang", "")), -1005)
	assert.Contains(t, r, "Неверный код языка", "ru -1005")
	mustFail(t, "no argument", call(t, h, url, testOrigin, fn("app", "change_ui_lang")), 0)
	mustFail(t, "no origin", call(t, h, url, "", fn("app", "change_ui_lang", "uz")), -1021)
}

func TestAppHarmlessFunctions(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	url := endpoint(h, "ws")
	r := mustOK(t, "get_jvm_version", call(t, h, url, testOrigin, fn("app", "get_jvm_version")))
	assert.Equal(t, runtime.Version(), r["version"], "get_jvm_version %v", r)
	assert.Contains(t, r["vendor"], "no JVM", "get_jvm_version %v", r)
	r = mustOK(t, "show_menu", call(t, h, url, testOrigin, fn("app", "show_menu")))
	assert.Len(t, r, 2, "show_menu %v, want only success and status", r)

	mustFail(t, "show_menu with an argument", call(t, h, url, testOrigin, fn("app", "show_menu", "x")), 0)
}
