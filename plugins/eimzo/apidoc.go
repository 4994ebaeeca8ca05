package eimzo

import (
	"html/template"
	"net/http"
)

// pluginDescriptions are the localized plugin descriptions apidoc lists
// (ru, uz).
var pluginDescriptions = map[string][2]string{
	"":       {"Основные функции", "Asosiy funksiyalar"},
	"pfx":    {"Плагин для работы с файлами хранилища ключей формата PFX", "PFX formatidagi kalitlar ombori fayllari bilan ishlash uchun plagin"},
	"pkcs7":  {"Плагин для работы с форматом PKCS#7/CMS", "PKCS#7/CMS formati bilan ishlash uchun plagin"},
	"x509":   {"Плагин для работы с сертификатами X.509", "X.509 sertifikatlari bilan ishlash uchun plagin"},
	"pkcs10": {"Плагин для генерации ключевой пары и формирования запроса на сертификат формата PKCS#10", "Kalit juftligini yaratish va PKCS#10 formatidagi sertifikat so'rovini shakllantirish uchun plagin"},
	"idcard": {"Плагин для работы с ID-картой E-IMZO (токены PKCS#11 в Signet)", "E-IMZO ID-karta bilan ishlash uchun plagin (Signet: PKCS#11 tokenlar)"},
	"baikey": {"Плагин для работы с BAIK-токеном (токены PKCS#11 в Signet)", "BAIK-token bilan ishlash uchun plagin (Signet: PKCS#11 tokenlar)"},
	"uzgrd":  {"Плагин для работы с токеном UZGUARD (токены PKCS#11 в Signet)", "UZGUARD token bilan ishlash uchun plagin (Signet: PKCS#11 tokenlar)"},
	"ckc":    {"Плагин для работы с криптографическими контейнерами ключей (токены PKCS#11)", "Kripto kalit konteynerlari bilan ishlash uchun plagin (PKCS#11 tokenlar)"},
	"app":    {"Плагин для работы с настройками приложения", "E-IMZO ilova sozlamalari bilan ishlash uchun plagin"},
}

type apidocArg struct {
	Name        string `json:"name"`
	Optional    bool   `json:"optional"`
	Description string `json:"description"`
}

type apidocFunction struct {
	Plugin      string      `json:"plugin"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Arguments   []apidocArg `json:"arguments"`
}

type apidocPlugin struct {
	Name        string           `json:"name"`
	Description string           `json:"description"`
	Functions   []apidocFunction `json:"functions"`
}

// apidoc describes every implemented, listed function, grouped by plugin
// (E-IMZO's apidoc shape: a bare JSON array). Hidden (legacy) functions
// and functions without a description are left out, as E-IMZO does.
func apidoc(lang string) []apidocPlugin {
	out := []apidocPlugin{} // a JSON array even when empty, never null
	index := map[string]int{}
	for _, f := range functions() {
		if f.Hidden || f.Description == "" || f.Plugin == "" {
			continue
		}
		i, ok := index[f.Plugin]
		if !ok {
			d := pluginDescriptions[f.Plugin]
			desc := d[0]
			if lang == "uz" && d[1] != "" {
				desc = d[1]
			}
			out = append(out, apidocPlugin{Name: f.Plugin, Description: desc})
			i = len(out) - 1
			index[f.Plugin] = i
		}
		af := apidocFunction{Plugin: f.Plugin, Name: f.Name, Description: f.Description, Arguments: []apidocArg{}}
		for _, a := range f.Args {
			af.Arguments = append(af.Arguments, apidocArg(a))
		}
		out[i].Functions = append(out[i].Functions, af)
	}
	return out
}

var apidocTemplate = template.Must(template.New("apidoc").Parse(`<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><title>Signet — E-IMZO API</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}code{background:#f3f3f3;padding:0 .2em}td,th{border-bottom:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}</style>
</head><body>
<h1>E-IMZO API (Signet)</h1>
<p>Signet отвечает на запросы E-IMZO по WebSocket: <code>wss://127.0.0.1:64443/service/cryptapi</code> (страницы https) и
<code>ws://127.0.0.1:64646/service/cryptapi</code> (остальные). Один запрос JSON
<code>{"plugin": "…", "name": "…", "arguments": ["…"]}</code> на соединение; ответ — объект JSON с полем <code>success</code>.
Каждое использование ключа подтверждается в окне Signet; пароли и PIN-коды вводятся только там.</p>
{{range .}}<h2 id="{{.Name}}">{{.Name}}</h2><p>{{.Description}}</p>
<table><tr><th>Функция</th><th>Аргументы</th><th>Описание</th></tr>
{{range .Functions}}<tr><td><code>{{.Name}}</code></td><td>{{range .Arguments}}<code>{{.Name}}</code>{{if .Optional}} (необязательный){{end}}: {{.Description}}<br>{{end}}</td><td>{{.Description}}</td></tr>
{{end}}</table>
{{end}}</body></html>
`))

// apidocPage serves /apidoc.html.
func (s *Server) apidocPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := apidocTemplate.Execute(w, apidoc("ru")); err != nil {
		s.log.Warn("apidoc page", "err", err)
	}
}

var statusTemplate = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8"><title>Signet — E-IMZO</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto">
<h1>Модуль E-IMZO-v{{.Major}}.{{.Minor}}.{{.Patch}} (Signet) установлен и работает</h1>
<p>Браузер успешно настроен: это соединение доверяет сертификату Signet.</p>
<p>E-IMZO moduli (Signet) o'rnatilgan va ishlamoqda. Brauzer muvaffaqiyatli sozlangan.</p>
<p><a href="/apidoc.html">Документация API</a></p>
</body></html>
`))

// statusPage serves /: the page people open to check the module and
// the browser's trust in its certificate.
func (s *Server) statusPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = statusTemplate.Execute(w, struct{ Major, Minor, Patch string }{VersionMajor, VersionMinor, VersionPatch})
}
