package consentui

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Attacks on the dialog by another local user or by a page that times a
// question to land under the person's cursor. Each test reproduces the
// attack and asserts it is refused.

// recordingOpener is an Opener whose handler command is recorded instead of
// run: the test sees exactly the command line other users could read.
type recordingOpener struct {
	mu   sync.Mutex
	runs [][]string // name, args...
	dir  string
}

func newRecordingOpener(t *testing.T) *recordingOpener {
	return &recordingOpener{dir: t.TempDir()}
}

func (r *recordingOpener) opener() Opener {
	return Opener{Dir: r.dir, Start: func(name string, args ...string) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.runs = append(r.runs, append([]string{name}, args...))
		return nil
	}}
}

func (r *recordingOpener) last(t *testing.T) []string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotEmpty(t, r.runs, "the browser was never opened")
	return r.runs[len(r.runs)-1]
}

var hrefRE = regexp.MustCompile(`href="([^"]+)"`)

// linkIn reads the dialog link out of a redirect file.
func linkIn(t *testing.T, file string) string {
	t.Helper()
	page, err := os.ReadFile(file)
	require.NoError(t, err)
	m := hrefRE.FindSubmatch(page)
	require.NotNil(t, m, "no link in the redirect page:\n%s", page)
	return string(m[1])
}

// TestAttackLinkNotOnCommandLine: the dialog's link (its secret) was given
// to xdg-open as an argument, readable by every local user in
// /proc/PID/cmdline. Now the command line carries only the path of a 0600
// redirect file in a fresh 0700 directory; the file holds the link and is
// removed after Keep.
func TestAttackLinkNotOnCommandLine(t *testing.T) {
	rec := newRecordingOpener(t)
	op := rec.opener()
	op.Keep = 50 * time.Millisecond
	var mu sync.Mutex
	var shown []string
	srv, err := New(Config{InsecurePlainHTTP: true, Timeout: time.Minute,
		Open: func(u string) error {
			err := op.Open(u)
			mu.Lock()
			shown = append(shown, u)
			mu.Unlock()
			return err
		}})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := srv.Confirm(ctx, signQuestion(t)); done <- err }()

	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(shown) == 1 }, 10*time.Second, 5*time.Millisecond)
	mu.Lock()
	link := shown[0]
	mu.Unlock()
	key := linkKey(t, link)
	argv := rec.last(t)
	cmdline := strings.Join(argv, " ")
	assert.NotContains(t, cmdline, key, "the link's key is on the opener's command line")
	assert.NotContains(t, cmdline, "http", "a URL is on the opener's command line")
	file := argv[len(argv)-1]
	require.True(t, filepath.IsAbs(file), "the opener is given %q, not a file path", file)
	require.Equal(t, rec.dir, filepath.Dir(filepath.Dir(file)), "redirect file outside the configured directory")

	fi, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "redirect file mode")
	di, err := os.Stat(filepath.Dir(file))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm(), "redirect directory mode")
	assert.Equal(t, link, linkIn(t, file), "the redirect file leads to the dialog link")

	// Removed after Keep (the link is single-use anyway).
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Dir(file))
		return os.IsNotExist(err)
	}, 10*time.Second, 10*time.Millisecond, "redirect file left behind")
	cancel()
	<-done
}

// linkKey is the 128-bit key of a dialog link.
func linkKey(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	key := u.Query().Get("k")
	require.Len(t, key, 32, "link %s has no 128-bit key", link)
	return key
}

// TestAttackReplayedLinkRefused: another local user who learns a dialog's
// link (from a command line, a log, the history) loads it after the person
// did, and answers the dialog. Now the link works once: its first load
// swaps it for an HttpOnly, Secure, SameSite=Strict cookie scoped to the
// dialog's path; a second load by anyone gets "this link was already used";
// the page, its events and its answers refuse a request without the cookie.
func TestAttackReplayedLinkRefused(t *testing.T) {
	f := newFixture(t, time.Minute)
	res := f.confirm(signQuestion(t))
	link := f.url(t)
	victim := openLink(t, http.DefaultClient, link)

	var ck *http.Cookie
	for _, c := range victim.resp.Cookies() {
		if c.Name == sessionCookie {
			ck = c
		}
	}
	require.NotNil(t, ck)
	assert.True(t, ck.HttpOnly, "cookie not HttpOnly")
	assert.True(t, ck.Secure, "cookie not Secure")
	assert.Equal(t, http.SameSiteStrictMode, ck.SameSite, "cookie SameSite")
	id := strings.TrimPrefix(victim.page, f.srv.URL()+"/q/")
	assert.Equal(t, "/q/"+id, ck.Path, "cookie path")
	assert.Positive(t, ck.MaxAge, "cookie lifetime")
	assert.Len(t, ck.Value, 32)
	assert.NotContains(t, ck.Value, linkKey(t, link), "the cookie is the link's key")

	// The attacker replays the link: refused with a clear page, no cookie.
	resp, body, csrf := getPage(t, http.DefaultClient, link)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, body, "This link was already used")
	assert.NotContains(t, body, "portal.example", "the used-link page shows the question")
	assert.Empty(t, csrf)
	assert.Empty(t, resp.Cookies(), "a replayed link set a cookie")
	// Nor does the victim's own browser get the page from the link again.
	resp, _, _ = victim.get(t, http.DefaultClient)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the cookie holder lost the page")
	req, _ := http.NewRequest("GET", link, nil)
	req.Header.Set("Cookie", victim.cookie)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a used link loaded again by its first browser")

	// Without the cookie: the page, the event stream, an answer (with the
	// CSRF token the attacker might have) are all refused.
	for _, target := range []string{victim.page, victim.page + "/events"} {
		resp, body, _ := getPage(t, http.DefaultClient, target)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "GET %s without the cookie", target)
		assert.NotContains(t, body, "portal.example")
	}
	for _, bad := range []string{"", sessionCookie + "=" + strings.Repeat("0", 32), sessionCookie + "=" + linkKey(t, link)} {
		hdr := map[string]string{"Origin": f.srv.URL()}
		if bad != "" {
			hdr["Cookie"] = bad
		}
		resp := post(t, victim.page+"/answer", url.Values{"csrf": {victim.csrf}, "action": {"approve"}}, hdr)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "answer with cookie %q", bad)
	}
	select {
	case r := <-res:
		require.FailNow(t, "the attacker answered the dialog", "%+v", r)
	default:
	}
	// A wrong key does not burn anything either: the person's session works.
	resp = victim.answer(t, url.Values{"action": {"deny"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	r := wait(t, res)
	assert.NoError(t, r.err)
	assert.False(t, r.a.Allow)
}

// TestAttackAnsweredStreamGetsNoQuestion: an event stream opened on a
// dialog that is already answered (kept viewable for minutes) used to be
// handed every new question, and the browser was then never opened for
// it — whoever held that stream got the question. Now the stream of a
// finished dialog ends with its final state, and the new question opens its
// own window.
func TestAttackAnsweredStreamGetsNoQuestion(t *testing.T) {
	f := newFixture(t, time.Minute)
	res := f.confirm(signQuestion(t))
	first := openLink(t, http.DefaultClient, f.url(t))
	require.Equal(t, http.StatusSeeOther, first.answer(t, url.Values{"action": {"deny"}}).StatusCode)
	require.NoError(t, wait(t, res).err)

	req, _ := http.NewRequest("GET", first.page+"/events", nil)
	req.Header.Set("Cookie", first.cookie)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// The first event is the final state.
	rd := bufio.NewReader(resp.Body)
	line, err := rd.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "event: state\n", line)
	line, err = rd.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "data: answered\n", line)

	// A new question arrives while that stream is connected.
	q := signQuestion(t)
	q.ID = "q2"
	res2 := f.confirm(q)
	link2 := f.url(t) // opened in its own window
	rest, err := io.ReadAll(rd)
	require.NoError(t, err, "the finished dialog's stream did not end")
	assert.NotContains(t, string(rest), "next", "the stream was handed a question")
	assert.NotContains(t, string(rest), "/q/", "the stream was handed a question")
	assert.Equal(t, "\n", string(rest), "anything after the final state")

	second := openLink(t, http.DefaultClient, link2)
	require.NotEqual(t, first.page, second.page)
	require.Equal(t, http.StatusSeeOther, second.answer(t, url.Values{"action": {"approve"}}).StatusCode)
	r := wait(t, res2)
	require.NoError(t, r.err)
	assert.True(t, r.a.Allow)
}

// TestAttackBrowserOldTabNotMovedToNewQuestion: in a real browser, a tab
// whose question was answered stays where it is when the next question (a
// key use) arrives: it is not navigated into it, so a second click of a
// double click cannot approve it; the new question opens its own window.
func TestAttackBrowserOldTabNotMovedToNewQuestion(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	res := f.confirm(signQuestion(t))
	link := f.url(t)
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(link),
		press("#deny"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
		chromedp.WaitNotPresent(css("#answer")), // reloaded after the POST
	))
	require.NoError(t, wait(t, res).err)
	path := eval[string](t, tab, `location.pathname`)

	q := signQuestion(t)
	q.ID = "q2"
	res2 := f.confirm(q)
	link2 := f.url(t) // the new question opened its own window
	assert.NotContains(t, link2, path)
	// The old tab still shows the answered dialog.
	assert.Equal(t, path, eval[string](t, tab, `location.pathname`))
	assert.Equal(t, "answered", eval[string](t, tab, `document.body.getAttribute("data-state")`))
	assert.Zero(t, eval[int](t, tab, `document.querySelectorAll("#approve").length`))
	select {
	case r := <-res2:
		require.FailNow(t, "the new question was answered from the old tab", "%+v", r)
	default:
	}
}

// TestAttackBrowserEarlyClickIgnored: a question that appears under the
// cursor (right after another answer, or when the window comes to the
// front) must not take a click meant for something else. The buttons are
// disabled when the page loads, a click then does nothing, and they are
// enabled about a second later; they are disabled again when the window
// regains focus or becomes visible.
func TestAttackBrowserEarlyClickIgnored(t *testing.T) {
	tab := newTab(t)
	f := newFixture(t, time.Minute)
	res := f.confirm(signQuestion(t))
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(f.url(t))))
	// At once: disabled, and both a real mouse click and a scripted click
	// do nothing.
	assert.True(t, eval[bool](t, tab, `document.querySelector("#approve").disabled`), "Approve enabled at load")
	assert.True(t, eval[bool](t, tab, `document.querySelector("#deny").disabled`), "Deny enabled at load")
	require.NoError(t, chromedp.Do(tab, chromedp.Click(css("#approve"))))
	eval[bool](t, tab, `document.querySelector("#approve").click(), true`)
	// Then armed.
	require.NoError(t, chromedp.Do(tab, chromedp.WaitVisible(css(`body[data-armed="yes"]`)), chromedp.WaitEnabled(css("#approve"))))
	// A round trip through the server: nothing was posted.
	resp, _, _ := getPage(t, http.DefaultClient, f.srv.URL()+"/static/app.js")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	select {
	case r := <-res:
		require.FailNow(t, "an early click answered the dialog", "%+v", r)
	default:
	}
	assert.NotContains(t, f.logs.String(), "consent dialog answered")
	assert.Equal(t, "pending", eval[string](t, tab, `document.body.getAttribute("data-state")`))

	// Regaining focus or visibility disarms again.
	for _, ev := range []string{`window.dispatchEvent(new Event("focus"))`, `document.dispatchEvent(new Event("visibilitychange"))`} {
		assert.True(t, eval[bool](t, tab, ev+`, document.querySelector("#approve").disabled`), "%s left Approve enabled", ev)
		require.NoError(t, chromedp.Do(tab, chromedp.WaitEnabled(css("#approve"))))
	}
	require.NoError(t, chromedp.Do(tab, press("#approve"), chromedp.WaitVisible(css(`body[data-state="answered"]`))))
	r := wait(t, res)
	require.NoError(t, r.err)
	assert.True(t, r.a.Allow)
}

// TestAttackButtonsDisabledInServedHTML: the buttons are disabled in the
// HTML itself, so they are inert before the script has run.
func TestAttackButtonsDisabledInServedHTML(t *testing.T) {
	f := newFixture(t, time.Minute)
	q := signQuestion(t)
	q.FirstUse = true
	res := f.confirm(q)
	s := openLink(t, http.DefaultClient, f.url(t))
	buttons := regexp.MustCompile(`<button[^>]*>`).FindAllString(s.body, -1)
	require.Len(t, buttons, 4)
	for _, b := range buttons {
		assert.Contains(t, b, " disabled", "button served enabled: %s", b)
	}
	s.answer(t, url.Values{"action": {"deny"}})
	require.NoError(t, wait(t, res).err)
}

// TestAttackPINNotOfferedForSaving: the browser must not offer to save the
// PIN in its password manager. The PIN input is autocomplete=one-time-code
// (a field password managers skip), in an autocomplete=off form, carries
// the ignore attributes of the common password managers, and is not named
// like a password.
func TestAttackPINNotOfferedForSaving(t *testing.T) {
	f := newFixture(t, time.Minute)
	res := f.pin(context.Background(), pinRequest())
	s := openLink(t, http.DefaultClient, f.url(t))
	form := regexp.MustCompile(`<form[^>]*id="answer"[^>]*>`).FindString(s.body)
	require.NotEmpty(t, form)
	assert.Contains(t, form, `autocomplete="off"`)
	input := regexp.MustCompile(`<input[^>]*id="pin"[^>]*>`).FindString(s.body)
	require.NotEmpty(t, input, "no PIN input")
	for _, want := range []string{`autocomplete="one-time-code"`, `data-lpignore="true"`, `data-1p-ignore="true"`,
		`data-bwignore="true"`, `data-form-type="other"`, `name="pin"`} {
		assert.Contains(t, input, want)
	}
	assert.NotRegexp(t, `name="[^"]*(?i:password|passwd|pass)[^"]*"`, input)
	assert.NotRegexp(t, `autocomplete="(on|current-password|new-password|password)"`, input)
	s.answer(t, url.Values{"action": {"cancel"}})
	wait(t, res)
}

// TestBrowserThroughRedirectFile: the person's real path — the handler
// opens the redirect file, which moves to the link; the SameSite=Strict
// session cookie then carries the page's event stream and its answer, and
// the key is gone from the address bar.
func TestBrowserThroughRedirectFile(t *testing.T) {
	tab := newTab(t)
	rec := newRecordingOpener(t)
	srv, err := New(Config{InsecurePlainHTTP: true, Timeout: time.Minute, Open: rec.opener().Open})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	res := make(chan confirmResult, 1)
	go func() {
		a, err := srv.Confirm(context.Background(), signQuestion(t))
		res <- confirmResult{a, err}
	}()
	var argv []string
	require.Eventually(t, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.runs) == 0 {
			return false
		}
		argv = rec.runs[0]
		return true
	}, 10*time.Second, 5*time.Millisecond)
	file := argv[len(argv)-1]
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate("file://"+file),
		chromedp.WaitVisible(css("#approve")),
	))
	assert.Equal(t, "", eval[string](t, tab, `location.search`), "the link's key stays in the address bar")
	assert.True(t, strings.HasPrefix(eval[string](t, tab, `location.href`), srv.URL()+"/q/"))
	require.NoError(t, chromedp.Do(tab,
		press("#approve"),
		chromedp.WaitVisible(css(`body[data-state="answered"]`)),
		chromedp.WaitNotPresent(css("#answer")), // the page reloaded with its cookie after the POST
	))
	r := wait(t, res)
	require.NoError(t, r.err)
	assert.True(t, r.a.Allow)
	// The file's link, loaded again (by the person's browser or anyone),
	// gets the used-link page.
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate("file://"+file), chromedp.WaitVisible(css("#used"))))
}

// TestOpenerSweepsLeftovers: a redirect file left by a process that exited
// before removing it (`signet dashboard`) goes at the next Open; a fresh
// one and a symbolic link's target stay.
func TestOpenerSweepsLeftovers(t *testing.T) {
	rec := newRecordingOpener(t)
	old := filepath.Join(rec.dir, openPrefix+"old")
	fresh := filepath.Join(rec.dir, openPrefix+"fresh")
	target := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(target, "keep"), []byte("x"), 0o600))
	for _, d := range []string{old, fresh} {
		require.NoError(t, os.Mkdir(d, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(d, "dialog.html"), []byte("x"), 0o600))
	}
	link := filepath.Join(rec.dir, openPrefix+"link")
	require.NoError(t, os.Symlink(target, link))
	past := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(old, past, past))
	require.NoError(t, os.Chtimes(target, past, past))

	require.NoError(t, rec.opener().Open("http://127.0.0.1:1/q/x?k=y"))
	assert.NoDirExists(t, old)
	assert.DirExists(t, fresh)
	assert.FileExists(t, filepath.Join(target, "keep"))
}
