package consentui

import (
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// dialogSession is a dialog opened the way a browser opens it: its
// single-use link loaded once, the session cookie kept for the page, its
// event stream and its answers.
type dialogSession struct {
	page   string // scheme://host:port/q/ID
	cookie string // "signet_dialog=…", for a Cookie header
	csrf   string
	body   string
	resp   *http.Response
}

// openLink loads a dialog's link with c and keeps what a browser keeps.
func openLink(t *testing.T, c *http.Client, link string) dialogSession {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	resp, body, csrf := getPage(t, c, link)
	require.Equal(t, http.StatusOK, resp.StatusCode, "first load of the dialog link")
	var cookie string
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	require.NotEmpty(t, cookie, "the link was not swapped for a session cookie")
	u.RawQuery = ""
	return dialogSession{page: u.String(), cookie: cookie, csrf: csrf, body: body, resp: resp}
}

// hdr is extra plus the session cookie.
func (s dialogSession) hdr(extra map[string]string) map[string]string {
	h := map[string]string{"Cookie": s.cookie}
	maps.Copy(h, extra)
	return h
}

// get loads the dialog page again with the session cookie.
func (s dialogSession) get(t *testing.T, c *http.Client) (*http.Response, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", s.page, nil)
	require.NoError(t, err)
	req.Header.Set("Cookie", s.cookie)
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	csrf := ""
	if m := csrfRE.FindSubmatch(b); m != nil {
		csrf = string(m[1])
	}
	return resp, string(b), csrf
}

// answer POSTs form to the dialog as its own page does.
func (s dialogSession) answer(t *testing.T, form url.Values) *http.Response {
	t.Helper()
	if form.Get("csrf") == "" {
		form.Set("csrf", s.csrf)
	}
	return post(t, s.page+"/answer", form, s.hdr(map[string]string{"Origin": strings.SplitN(s.page, "/q/", 2)[0]}))
}

// press clicks the button sel once it is enabled: the dialog's buttons
// stay disabled for a moment after the page appears (static/app.js).
func press(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.WaitEnabled(css(sel)), chromedp.Click(css(sel)))
}
