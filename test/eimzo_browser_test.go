package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/signet-agent/signet/agent/localca"
	"github.com/signet-agent/signet/agent/trust"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A real browser talks to the real E-IMZO plugin: headless Chromium loads a
// page from a test origin whose script opens the WebSocket exactly as the
// official e-imzo.js does (new WebSocket(url); send the JSON request on
// open; JSON.parse the first message; socket.close(); an error when the
// close code is not 1000) and calls version and apikey. An http page uses
// ws://, an https page wss://; for wss the browser trusts the agent's local
// CA through an NSS database in a temporary HOME (what `signet trust
// install` writes), never through --ignore-certificate-errors.

// eimzoPage is the test page. callFunction follows e-imzo.js's
// CAPIWS.callFunction; the page records every reply with the close code
// its socket ended with.
const eimzoPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>E-IMZO test page</title></head>
<body>
<script>
function callFunction(url, funcDef) {
  return new Promise(function (resolve) {
    var result = {};
    var socket;
    try {
      socket = new WebSocket(url);
    } catch (e) {
      resolve({exception: String(e)});
      return;
    }
    socket.onerror = function () { result.error = true; };
    socket.onclose = function (e) {
      result.code = e.code;
      result.ok = e.code === 1000; // e-imzo.js ≥ 2023: any other code is an error
      resolve(result);
    };
    socket.onmessage = function (event) {
      result.data = JSON.parse(event.data);
      socket.close();
    };
    socket.onopen = function () {
      socket.send(JSON.stringify(funcDef));
    };
  });
}
async function run() {
  var params = new URLSearchParams(location.search);
  var url = params.get("ws");
  var keys = JSON.parse(params.get("keys"));
  var out = {origin: location.origin};
  out.version = await callFunction(url, {name: "version"});
  out.apikey = await callFunction(url, {name: "apikey", arguments: ["localhost", keys["localhost"], "127.0.0.1", keys["127.0.0.1"]]});
  window.eimzoResults = JSON.stringify(out);
  document.body.setAttribute("data-done", "1");
}
run();
</script>
</body></html>`

// pageResults is what the page records.
type pageResults struct {
	Origin  string     `json:"origin"`
	Version pageResult `json:"version"`
	APIKey  pageResult `json:"apikey"`
}

type pageResult struct {
	Data      map[string]any `json:"data"`
	Code      int            `json:"code"`
	OK        bool           `json:"ok"`
	Error     bool           `json:"error"`
	Exception string         `json:"exception"`
}

func chromiumBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		require.Fail(t, "chromium not found; in CI `make deps` must install Debian's chromium package")
	}
	t.Skip("chromium not installed (apt-get install chromium, or make deps): E-IMZO browser test skipped")
	return ""
}

// startChromium starts a headless Chromium with HOME=home (its NSS
// database is home/.pki/nssdb) and a fresh profile.
func startChromium(t *testing.T, path, home string, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("HOME=" + home),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("password-store", "basic"),
	}
	opts = append(opts, extra...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	require.NoError(t, chromedp.Do(bctx), "start chromium")
	return bctx
}

// servePage serves eimzoPage on 127.0.0.1 over http, or over https with a
// certificate from ca; it returns the page's origin.
func servePage(t *testing.T, ca *localca.CA) string {
	t.Helper()
	return serveHTML(t, ca, eimzoPage)
}

// serveHTML serves html at / over http, or https with a certificate of ca.
func serveHTML(t *testing.T, ca *localca.CA, html string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, html)
	}), ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if ca != nil {
		scheme = "https"
		srv.TLSConfig, err = ca.TLSConfig([]string{"127.0.0.1", "localhost"})
		require.NoError(t, err)
		go srv.ServeTLS(ln, "", "")
	} else {
		go srv.Serve(ln)
	}
	t.Cleanup(func() { srv.Close() })
	return scheme + "://" + ln.Addr().String()
}

// runPage loads the page from origin in a new tab, telling it to call
// endpoint, and returns what it recorded.
func runPage(t *testing.T, browser context.Context, origin, endpoint string, keys map[string]string) pageResults {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	tab, cancel2 := context.WithTimeout(tab, 60*time.Second)
	defer cancel2()
	k, _ := json.Marshal(keys)
	u := origin + "/?ws=" + url.QueryEscape(endpoint) + "&keys=" + url.QueryEscape(string(k))
	err := chromedp.Do(tab,
		chromedp.Navigate(u),
		chromedp.WaitVisible(chromedp.CSS(`body[data-done="1"]`)),
	)
	require.NoError(t, err, "page %s", u)
	raw, err := chromedp.Run(tab, chromedp.Evaluate[string](`window.eimzoResults`))
	require.NoError(t, err, "page results")
	var res pageResults
	require.NoError(t, json.Unmarshal([]byte(raw), &res), "page results %q", raw)
	return res
}

// TestEIMZOBrowser: from an http page over ws:// and from an https page
// over wss:// (the local CA trusted through NSS), version and apikey
// succeed, every socket ends with close 1000, and the plugin saw the page's
// Origin (apikey echoes it). The same https page in a browser that does not
// trust the local CA cannot connect (close 1006), which shows the trust
// was real.
func TestEIMZOBrowser(t *testing.T) {
	chromium := chromiumBinary(t)
	if _, err := exec.LookPath("certutil"); err != nil {
		if os.Getenv("CI") != "" {
			require.Fail(t, "certutil not found (libnss3-tools)")
		}
		t.Skip("certutil not installed (libnss3-tools): E-IMZO browser test skipped")
	}
	keys := publishedAPIKeys(t)
	require.NotNil(t, keys, "testdata/eimzo/apikeys.json missing")
	a := startEIMZOAgent(t, eimzoSetup{})

	// The web site's own CA, for the https page.
	siteCA, err := localca.Open(filepath.Join(t.TempDir(), "site-ca"), nil, localca.Options{})
	require.NoError(t, err)
	home := nssHome(t, siteCA.Certificate(), a.CA)
	browser := startChromium(t, chromium, home)

	httpOrigin := servePage(t, nil)
	httpsOrigin := servePage(t, siteCA)
	for _, tc := range []struct {
		name, origin, endpoint string
	}{
		{"http page, ws", httpOrigin, a.WS},
		{"https page, wss", httpsOrigin, a.WSS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runPage(t, browser, tc.origin, tc.endpoint, keys)
			require.Equal(t, tc.origin, res.Origin, "page origin")
			for name, r := range map[string]pageResult{"version": res.Version, "apikey": res.APIKey} {
				assert.Equal(t, 1000, r.Code, "%s: socket close code (%+v)", name, r)
				assert.True(t, r.OK, "%s: socket ended with %+v; want close 1000", name, r)
				assert.False(t, r.Error, "%s: socket ended with an error: %+v", name, r)
				assert.Empty(t, r.Exception, "%s: socket exception", name)
				assert.Equal(t, true, r.Data["success"], "%s reply %v", name, r.Data)
				assert.Equal(t, float64(1), r.Data["status"], "%s reply %v", name, r.Data)
			}
			assert.Equal(t, "6", res.Version.Data["major"], "version reply %v", res.Version.Data)
			assert.Equal(t, tc.origin, res.APIKey.Data["message"], "apikey message: the plugin did not see the page's Origin")
		})
	}

	t.Run("https page, wss, CA not trusted", func(t *testing.T) {
		// This browser trusts the site's CA (the page loads) but not the
		// agent's.
		bare := startChromium(t, chromium, nssHome(t, siteCA.Certificate(), nil))
		res := runPage(t, bare, httpsOrigin, a.WSS, keys)
		assert.Equal(t, 1006, res.Version.Code, "without trust the browser connected: %+v", res.Version)
		assert.Nil(t, res.Version.Data, "without trust the browser got a reply")
	})
}

// nssHome returns a HOME whose NSS database (~/.pki/nssdb, Chromium's)
// trusts the web site's CA and, when not nil, the agent's local CA,
// installed by the agent's own trust code (agent/trust), as `signet trust
// install` does.
func nssHome(t *testing.T, site, agentCA *x509.Certificate) string {
	t.Helper()
	home := t.TempDir()
	if agentCA != nil {
		for _, st := range trust.NSSDatabases(home) {
			require.NoError(t, st.Install(agentCA), "trust the agent's CA in %s", st.Name())
		}
	}
	db := filepath.Join(home, ".pki", "nssdb")
	require.NoError(t, os.MkdirAll(db, 0o700))
	if _, err := os.Stat(filepath.Join(db, "cert9.db")); err != nil {
		out, err := exec.Command("certutil", "-N", "-d", "sql:"+db, "--empty-password").CombinedOutput()
		require.NoError(t, err, "certutil -N: %s", out)
	}
	pemFile := filepath.Join(t.TempDir(), "site-ca.pem")
	require.NoError(t, os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: site.Raw}), 0o600))
	out, err := exec.Command("certutil", "-A", "-d", "sql:"+db, "-n", "E-IMZO test site CA", "-t", "C,,", "-i", pemFile).CombinedOutput()
	require.NoError(t, err, "certutil -A: %s", out)
	return home
}
