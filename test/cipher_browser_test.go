package e2e

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/localca"
)

// cipherPage signs a document the way portals call the Cipher agent:
// fetch() to https://local.cipher.kiev.ua:PORT/api/v1 with JSON bodies
// (CORS preflights for PUT, DELETE and application/json), then leaves one
// ticket open for the test to probe.
const cipherPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>Cipher test page</title></head>
<body>
<script>
async function call(base, method, path, body, type) {
  var init = {method: method, headers: {}};
  if (type) { init.headers["Content-Type"] = type; }
  if (body !== undefined) { init.body = body; }
  try {
    var r = await fetch(base + path, init);
    var text = await r.text();
    var json = null;
    try { json = JSON.parse(text); } catch (e) {}
    return {status: r.status, json: json};
  } catch (e) {
    return {status: 0, error: String(e)};
  }
}
async function run() {
  var p = new URLSearchParams(location.search);
  var base = p.get("api");
  var out = {origin: location.origin};
  out.status = await call(base, "GET", "/status");
  var t = await call(base, "POST", "/ticket", "", "text/plain");
  out.ticket = t;
  var id = t.json && t.json.ticketUuid;
  out.data = await call(base, "POST", "/ticket/" + id + "/data", new TextEncoder().encode("browser document"), "application/octet-stream");
  out.option = await call(base, "PUT", "/ticket/" + id + "/option", JSON.stringify({caId: "signet", signatureType: "detached", embedSignatureTs: "false"}), "application/json");
  out.keyStore = await call(base, "PUT", "/ticket/" + id + "/keyStore", JSON.stringify({keyStorePath: p.get("ks")}), "application/json");
  out.creator = await call(base, "POST", "/ticket/" + id + "/ds/creator", JSON.stringify({keyStorePassword: ""}), "application/json");
  out.signature = await call(base, "GET", "/ticket/" + id + "/ds/base64Data");
  out.deleted = await call(base, "DELETE", "/ticket/" + id);
  var kept = await call(base, "POST", "/ticket", "", "text/plain");
  out.kept = kept.json && kept.json.ticketUuid;
  window.cipherResults = JSON.stringify(out);
  document.body.setAttribute("data-done", "1");
}
run();
</script>
</body></html>`

type cipherCall struct {
	Status int            `json:"status"`
	JSON   map[string]any `json:"json"`
	Error  string         `json:"error"`
}

type cipherPageResults struct {
	Origin    string     `json:"origin"`
	Status    cipherCall `json:"status"`
	Ticket    cipherCall `json:"ticket"`
	Data      cipherCall `json:"data"`
	Option    cipherCall `json:"option"`
	KeyStore  cipherCall `json:"keyStore"`
	Creator   cipherCall `json:"creator"`
	Signature cipherCall `json:"signature"`
	Deleted   cipherCall `json:"deleted"`
	Kept      string     `json:"kept"`
}

// TestCipherBrowser: an https page in headless Chromium (the agent's CA
// trusted through NSS, local.cipher.kiev.ua resolved to loopback) signs
// with fetch() and CORS preflights; OpenSSL verifies the signature; the
// ticket the page left open is refused to any other origin.
func TestCipherBrowser(t *testing.T) {
	chromium := chromiumBinary(t)
	if _, err := exec.LookPath("certutil"); err != nil {
		require.Empty(t, os.Getenv("CI"), "certutil not found (libnss3-tools)")
		t.Skip("certutil not installed (libnss3-tools): Cipher browser test skipped")
	}
	a := startCipherAgent(t)
	pemData, err := os.ReadFile(filepath.Join(a.dir, "data", "ca", "ca.crt"))
	require.NoError(t, err)
	blk, _ := pem.Decode(pemData)
	require.NotNil(t, blk)
	agentCA, err := x509.ParseCertificate(blk.Bytes)
	require.NoError(t, err)

	siteCA, err := localca.Open(filepath.Join(t.TempDir(), "site-ca"), nil, localca.Options{})
	require.NoError(t, err)
	browser := startChromium(t, chromium, nssHome(t, siteCA.Certificate(), agentCA),
		chromedp.Flag("host-resolver-rules", "MAP "+cipherPortalName+" 127.0.0.1"))
	origin := serveHTML(t, siteCA, cipherPage)

	_, port, _ := net.SplitHostPort(a.addr)
	api := "https://" + cipherPortalName + ":" + port + "/api/v1"
	ks := "pkcs11:token=" + tokenLabel + ";object=rsa2048"
	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	tab, cancel2 := context.WithTimeout(tab, 90*time.Second)
	defer cancel2()
	u := origin + "/?api=" + url.QueryEscape(api) + "&ks=" + url.QueryEscape(ks)
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS(`body[data-done="1"]`))), "page %s", u)
	raw, err := chromedp.Run(tab, chromedp.Evaluate[string](`window.cipherResults`))
	require.NoError(t, err)
	var res cipherPageResults
	require.NoError(t, json.Unmarshal([]byte(raw), &res), "%s", raw)

	for name, c := range map[string]cipherCall{"status": res.Status, "ticket": res.Ticket, "data": res.Data, "option": res.Option,
		"keyStore": res.KeyStore, "creator": res.Creator, "signature": res.Signature, "deleted": res.Deleted} {
		assert.Equal(t, http.StatusOK, c.Status, "%s: %+v", name, c)
	}
	b64, _ := res.Signature.JSON["base64Data"].(string)
	sig, err := base64.StdEncoding.DecodeString(b64)
	require.NoError(t, err)
	opensslCipherVerify(t, sig, []byte("browser document"), true)

	require.NotEmpty(t, res.Kept)
	for _, other := range []string{"", "https://evil.example"} {
		st, body := a.call(t, other, "GET", "/ticket/"+res.Kept+"/ds/creator", "", nil)
		assert.Equal(t, http.StatusBadRequest, st, "origin %q: %s", other, body)
	}
	st, _ := a.call(t, res.Origin, "DELETE", "/ticket/"+res.Kept, "", nil)
	assert.Equal(t, http.StatusOK, st, "the page's own origin owns the ticket")
}
