package cipher_test

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/plugintest"
)

var update = flag.Bool("update", false, "rewrite the golden transcripts")

// step is one request of a transcript; {T} in path is the ticket of the
// transcript, {V} a ticket holding a detached signature of other data.
type step struct {
	api         string // which client: "page", "other", "local", "denied"
	method      string
	path        string
	contentType string
	body        string
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
var (
	portRE   = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	timeRE   = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	serialRE = regexp.MustCompile(`"serialNumber":\{"value":"[0-9A-F]+"\}`)
)

// TestGoldenErrors replays every error status of the API against real
// plugin processes and compares status and body with
// testdata/golden/errors.txt (go test -run TestGoldenErrors -update).
func TestGoldenErrors(t *testing.T) {
	// A TSA address nobody listens on: CAdES-T signing fails (500).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadTSA := "http://" + l.Addr().String() + "/tsa"
	require.NoError(t, l.Close())
	opts := map[string]string{"max_tickets": "4", "max_data": "16", "max_access_uses": "10", "tsa_url": deadTSA}
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: plugintest.PickKey(plugintest.KeyRSA), Options: opts})
	denied := plugintest.Start(t, pkg, &plugintest.Config{Consent: plugintest.DenyAll()})
	clients := map[string]api{
		"page":   {t: t, h: h, origin: portal},
		"other":  {t: t, h: h, origin: "https://other.example"},
		"local":  {t: t, h: h},
		"denied": {t: t, h: denied, origin: portal},
	}
	page := clients["page"]
	ticket := page.newTicket([]byte("data"))
	page.must("PUT", "/ticket/"+ticket+"/option", "", map[string]string{"signatureType": "detached"})
	// {V}: a detached signature of "data" with the data "atad".
	v := page.newTicket([]byte("data"))
	page.must("PUT", "/ticket/"+v+"/option", "", map[string]string{"signatureType": "detached"})
	page.must("POST", "/ticket/"+v+"/ds/creator", "text/plain", "")
	sig := page.signature(v)
	page.must("POST", "/ticket/"+v+"/ds/data", "application/octet-stream", sig)
	page.must("POST", "/ticket/"+v+"/data", "application/octet-stream", "atad")
	page.must("POST", "/ticket/"+v+"/ds/verifier", "text/plain", "")

	steps := []step{
		{"page", "GET", "/nothing/here", "", ""},
		{"page", "POST", "/ticket/00000000-0000-4000-8000-000000000000/data", "application/octet-stream", "x"},
		{"other", "GET", "/ticket/{T}/ds/creator", "", ""},
		{"local", "DELETE", "/ticket/{T}", "", ""},
		{"page", "PUT", "/ticket/{T}/option", "application/json", `{"signatureKind":"detached"}`},
		{"page", "PUT", "/ticket/{T}/option", "application/json", `{"signatureType":"enveloping"}`},
		{"page", "PUT", "/ticket/{T}/option", "application/json", `{"cadesType":"CAdESXLong"}`},
		{"page", "PUT", "/ticket/{T}/option", "application/json", `{"cadesType":"CADES_X_LONG"}`},
		{"page", "PUT", "/ticket/{T}/option", "application/json", `{"embedSignatureTs":"yes"}`},
		{"page", "PUT", "/ticket/{T}/option", "application/json", `{"asicForm":"ASIC_E"}`},
		{"page", "PUT", "/ticket/{T}/option", "application/json", `[1,2]`},
		{"page", "POST", "/ticket/{T}/data", "application/octet-stream", "seventeen bytes!!"},
		{"page", "POST", "/ticket/{T}/data", "application/json", `{"base64Data":"***"}`},
		{"page", "POST", "/ticket/{T}/data", "image/png", "x"},
		{"page", "GET", "/ticket/{T}/ds/base64Data", "", ""},
		{"page", "POST", "/ticket/{T}/ds/creator", "application/json", `{"accessTokenUuid":"00000000-0000-4000-8000-000000000000"}`},
		{"page", "PUT", "/ticket/{T}/keyStore", "application/json", `{"keyStorePath":"/no/such/key.pfx"}`},
		{"page", "PUT", "/ticket/{T}/keyStore", "application/json", `{"base64Data":"MIIB"}`},
		{"page", "POST", "/accessToken", "application/json", `{"accessTimesNumber":0}`},
		{"page", "POST", "/accessToken", "application/json", `{"accessTimesNumber":"abc"}`},
		{"page", "POST", "/accessToken", "application/json", `{"accessTimesNumber":11}`},
		{"page", "POST", "/accessToken", "application/json", `{"accessTimesNumber":2.5}`},
		{"page", "POST", "/accessToken", "application/json", `{}`},
		{"page", "POST", "/accessToken", "application/json", `not json`},
		{"denied", "POST", "/accessToken", "application/json", `{"accessTimesNumber":3}`},
		{"page", "POST", "/language/de", "text/plain", ""},
		{"page", "GET", "/ticket/{V}/ds/verifier", "", ""},
		{"page", "PUT", "/ticket/{T}/option", "application/json", `{"cadesType":"CAdEST","signatureType":"detached"}`},
		{"page", "POST", "/ticket/{T}/ds/creator", "text/plain", ""},
		{"page", "GET", "/ticket/{T}/ds/base64Data", "", ""},
		{"page", "POST", "/ticket", "text/plain", ""},
		{"page", "POST", "/ticket", "text/plain", ""},
		{"page", "POST", "/ticket", "text/plain", ""},
	}
	var out strings.Builder
	for _, s := range steps {
		path := strings.NewReplacer("{T}", ticket, "{V}", v).Replace(s.path)
		var body any
		if s.body != "" || s.method != "GET" {
			body = s.body
		}
		r := clients[s.api].do(s.method, path, s.contentType, body)
		got := uuidRE.ReplaceAllString(string(r.body), "UUID")
		got = portRE.ReplaceAllString(got, "127.0.0.1:PORT")
		got = timeRE.ReplaceAllString(got, "TIME")
		got = serialRE.ReplaceAllString(got, `"serialNumber":{"value":"SERIAL"}`)
		fmt.Fprintf(&out, "%s %s %s %s\n%s\n→ %d %s\n", s.api, s.method, s.path, s.contentType, s.body, r.status, strings.TrimSpace(got))
	}
	file := filepath.Join("testdata", "golden", "errors.txt")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
		require.NoError(t, os.WriteFile(file, []byte(out.String()), 0o644))
	}
	want, err := os.ReadFile(file)
	require.NoError(t, err, "run with -update to create it")
	assert.Equal(t, string(want), out.String())
}
