package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
)

// fakeOpener is an xdg-open that records what the agent gives it — its own
// command line as /proc shows it to every local user, the mode of the file
// it is given and of that file's directory, and a copy of the file — and
// exits. The agent finds it first on PATH.
const fakeOpener = `#!/bin/sh
set -e
n=$(date +%s%N)
tr '\0' '\n' < /proc/$$/cmdline > "$SIGNET_TEST_OPENED/$n.cmdline"
stat -c %a "$1" > "$SIGNET_TEST_OPENED/$n.mode"
stat -c %a "$(dirname "$1")" > "$SIGNET_TEST_OPENED/$n.dirmode"
cp "$1" "$SIGNET_TEST_OPENED/$n.html"
printf '%s' "$1" > "$SIGNET_TEST_OPENED/$n.path"
`

// openedDialog is one call of the fake opener.
type openedDialog struct {
	cmdline, mode, dirMode, path, link string
}

var dialogHref = regexp.MustCompile(`href="([^"]+)"`)

// openedDialogs reads the fake opener's records, oldest first.
func openedDialogs(t *testing.T, dir string) []openedDialog {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.path"))
	require.NoError(t, err)
	sort.Strings(paths)
	var out []openedDialog
	for _, p := range paths {
		base := strings.TrimSuffix(p, ".path")
		read := func(ext string) string {
			b, err := os.ReadFile(base + ext)
			require.NoError(t, err)
			return strings.TrimSpace(string(b))
		}
		d := openedDialog{cmdline: read(".cmdline"), mode: read(".mode"), dirMode: read(".dirmode"), path: read(".path")}
		m := dialogHref.FindStringSubmatch(read(".html"))
		require.NotNil(t, m, "no link in the redirect file")
		d.link = m[1]
		out = append(out, d)
	}
	return out
}

// TestAttackDialogLinkNotOnCommandLine runs the real agent with the
// example plugin and a policy that asks the person. The agent used to hand
// the dialog's URL with its secret to xdg-open, where any local user reads
// it in /proc/PID/cmdline and answers the dialog first. Now xdg-open gets
// the path of a 0600 redirect file in a 0700 directory, which another user
// (nobody) cannot read; the link in it works once — the person's load
// answers the dialog, and a replay of the link is refused.
func TestAttackDialogLinkNotOnCommandLine(t *testing.T) {
	attacker := nobody(t)
	dir := t.TempDir()
	fakeBin := filepath.Join(dir, "fakebin")
	opened := filepath.Join(dir, "opened")
	require.NoError(t, os.MkdirAll(fakeBin, 0o755))
	require.NoError(t, os.MkdirAll(opened, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(fakeBin, "xdg-open"), []byte(fakeOpener), 0o755))

	pinFile := filepath.Join(dir, "pin")
	require.NoError(t, os.WriteFile(pinFile, []byte(softhsmtest.DefaultUserPIN+"\n"), 0o600))
	cfg := newAgentConfig(dir)
	cfg.Plugins = []pluginConf{{Name: "example", Path: filepath.Join(binDir, "signet-plugin-example"), Listen: []listenConf{anyPort}}}
	// No unattended rule: every operation asks the person in the dialog.
	cfg.Policy.Unattended.PINSources = []pinSource{{Token: "pkcs11:token=" + tokenLabel, File: pinFile}}
	cfgPath := writeConfig(t, dir, cfg)
	a := launchAgent(t, dir, cfgPath, []string{"PATH=" + fakeBin + ":" + os.Getenv("PATH"), "SIGNET_TEST_OPENED=" + opened})
	c := a.client()
	addr := exampleAddr(t, a.plugin("example"))

	// The person answers every dialog the agent opens, from its redirect
	// file, the way the browser does: load the link once, keep the cookie,
	// approve. Each dialog's facts are checked as it comes.
	answered := map[string]bool{}
	approveAll := func() {
		for _, d := range openedDialogs(t, opened) {
			if answered[d.link] {
				continue
			}
			answered[d.link] = true
			checkOpenedDialog(t, attacker, c, d)
		}
	}
	type result struct {
		reply signReply
		err   error
	}
	digest := sha256.Sum256([]byte("e2e dialog"))
	keys := make(chan map[string]string, 1)
	go func() {
		resp, err := c.Get("https://" + addr + "/keys")
		if err != nil {
			keys <- nil
			return
		}
		defer resp.Body.Close()
		var list []struct{ URI, Label string }
		_ = json.NewDecoder(resp.Body).Decode(&list)
		m := map[string]string{}
		for _, k := range list {
			if strings.Contains(k.URI, "token="+tokenLabel) {
				m[k.Label] = k.URI
			}
		}
		keys <- m
	}()
	var keyURI string
	deadline := time.Now().Add(60 * time.Second)
	for keyURI == "" {
		approveAll()
		select {
		case m := <-keys:
			require.NotEmpty(t, m, "no keys listed")
			for _, uri := range m {
				if strings.Contains(uri, "ecdsa") {
					keyURI = uri
				}
			}
			require.NotEmpty(t, keyURI, "no ECDSA key in %v", m)
		case <-time.After(50 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "listing the keys did not finish")
	}
	done := make(chan result, 1)
	go func() {
		r, err := signDigest(c, addr, keyURI, digest[:], "dialog-e2e-1")
		done <- result{r, err}
	}()
	var r result
	for got := false; !got; {
		approveAll()
		select {
		case r = <-done:
			got = true
		case <-time.After(50 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline.Add(60*time.Second)), "the signature did not finish")
	}
	require.NoError(t, r.err)
	require.Equal(t, http.StatusOK, r.reply.Status, "sign: %s", r.reply.Error)
	assert.NotEmpty(t, r.reply.Signature)
	assert.NotEmpty(t, answered, "no dialog was opened")
	assert.NotContains(t, a.log.String(), "open the URL by hand", "the agent could not run the opener")
}

// checkOpenedDialog checks one opened dialog and answers it as the person:
// nothing secret on the opener's command line, a private redirect file that
// the attacker cannot read, a link that works once.
func checkOpenedDialog(t *testing.T, attacker otherUser, c *http.Client, d openedDialog) {
	t.Helper()
	u, err := url.Parse(d.link)
	require.NoError(t, err)
	key := u.Query().Get("k")
	require.Len(t, key, 32, "the link %s has no key", d.link)
	assert.NotContains(t, d.cmdline, key, "the dialog's key is on the opener's command line")
	assert.NotContains(t, d.cmdline, "http", "a URL is on the opener's command line")
	assert.Contains(t, d.cmdline, d.path)
	assert.Equal(t, "600", d.mode, "redirect file mode")
	assert.Equal(t, "700", d.dirMode, "redirect directory mode")
	if _, err := os.Stat(d.path); err == nil {
		out, err := asOtherUser(t, attacker, "cat", d.path)
		assert.Error(t, err, "another user read the redirect file")
		assert.NotContains(t, string(out), key, "another user read the dialog's key")
	}

	// The person's browser loads the link: the page and a session cookie.
	resp, err := c.Get(d.link)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "first load of the link")
	var cookie string
	for _, ck := range resp.Cookies() {
		if ck.Name == "signet_dialog" {
			cookie = ck.Name + "=" + ck.Value
			assert.True(t, ck.HttpOnly && ck.Secure && ck.SameSite == http.SameSiteStrictMode, "cookie flags")
		}
	}
	require.NotEmpty(t, cookie, "no session cookie")
	csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindSubmatch(body)
	require.NotNil(t, csrf, "no form in the dialog")

	// Anyone who replays the link now is refused, and cannot answer.
	resp, err = c.Get(d.link)
	require.NoError(t, err)
	replay, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "replayed link")
	assert.Contains(t, string(replay), "This link was already used")
	page := u.Scheme + "://" + u.Host + u.Path
	form := url.Values{"csrf": {string(csrf[1])}, "action": {"approve"}}
	req, _ := http.NewRequest("POST", page+"/answer", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	noRedirect := *c
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = noRedirect.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "an answer without the session cookie")

	// The person approves.
	req, _ = http.NewRequest("POST", page+"/answer", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	req.Header.Set("Cookie", cookie)
	resp, err = noRedirect.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "the person's answer")
}
