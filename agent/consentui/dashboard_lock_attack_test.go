package consentui

import (
	"context"
	"crypto"
	"crypto/sha256"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/internal/softhsmtest"
)

// TestAttackDashboardLockForged: "Lock all tokens now" changes state, so
// it has the protection of every dashboard POST. A cross-site page, a
// foreign origin, a form without the dashboard's CSRF token, a GET, or a
// guessed dashboard token does not lock anything (the unlocked PFX key
// keeps signing without a password); the dashboard's own form does.
func TestAttackDashboardLockForged(t *testing.T) {
	f := newFixture(t, time.Minute)
	key, cert := testKeyCert(t, "Alice PFX")
	path := filepath.Join(t.TempDir(), "alice.pfx")
	require.NoError(t, softhsmtest.WritePFX(path, key, cert, nil, "pw", softhsmtest.Modern))
	var asked atomic.Int32
	ks, err := pfx.Open(pfx.Config{Files: []string{path}, MaxAttempts: 1,
		PasswordPrompt: func(context.Context, hsm.PINRequest) (hsm.PINResponse, error) {
			asked.Add(1)
			return hsm.PINResponse{PIN: []byte("pw")}, nil
		}})
	require.NoError(t, err)
	t.Cleanup(func() { ks.Close() })
	keys, err := ks.Keys(context.Background())
	require.NoError(t, err)
	require.Len(t, keys, 1)
	digest := sha256.Sum256([]byte("x"))
	sign := func() {
		_, err := ks.Sign(context.Background(), keys[0].URI, digest[:], crypto.SHA256)
		require.NoError(t, err)
	}
	sign()
	require.EqualValues(t, 1, asked.Load(), "password prompts to unlock")

	u := f.srv.EnableDashboard(Dashboard{Keys: ks})
	resp, body, csrf := getPage(t, http.DefaultClient, u)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `action="/d/`, "the lock form")
	require.NotEmpty(t, csrf)
	bogus := f.srv.URL() + "/d/" + strings.Repeat("0", 32)
	own := map[string]string{"Origin": f.srv.URL()}
	for name, tc := range map[string]struct {
		target string
		form   url.Values
		hdr    map[string]string
		code   int
	}{
		"cross-site":     {u + "/lock", url.Values{"csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		"foreign origin": {u + "/lock", url.Values{"csrf": {csrf}}, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		"no origin":      {u + "/lock", url.Values{"csrf": {csrf}}, nil, http.StatusForbidden},
		"no csrf":        {u + "/lock", url.Values{}, own, http.StatusForbidden},
		"wrong csrf":     {u + "/lock", url.Values{"csrf": {strings.Repeat("a", 32)}}, own, http.StatusForbidden},
		"guessed token":  {bogus + "/lock", url.Values{"csrf": {csrf}}, own, http.StatusNotFound},
	} {
		assert.Equal(t, tc.code, post(t, tc.target, tc.form, tc.hdr).StatusCode, name)
	}
	resp, err = http.Get(u + "/lock")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "GET /lock")
	sign()
	assert.EqualValues(t, 1, asked.Load(), "a refused request locked the key")

	resp = post(t, u+"/lock", url.Values{"csrf": {csrf}}, own)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "same-origin lock")
	assert.Contains(t, resp.Header.Get("Location"), "done=locked")
	sign()
	assert.EqualValues(t, 2, asked.Load(), "the key was not locked: no password asked after Lock all")
}

// TestAttackDashboardQueryBounded: the journal filter and page come from
// the URL; oversized or unknown values are ignored, never echoed as
// markup, and the page still renders.
func TestAttackDashboardQueryBounded(t *testing.T) {
	jq := parseJournalQuery(url.Values{"origin": {strings.Repeat("a", maxFilterLen+1)}, "op": {strings.Repeat("b", 65)},
		"result": {"<script>"}, "page": {"999999999"}})
	assert.Equal(t, journalQuery{page: 1}, jq, "out-of-range filter values")
	jq = parseJournalQuery(url.Values{"origin": {" https://a.example "}, "op": {"sign"}, "result": {"error"}, "page": {"3"}})
	assert.Equal(t, journalQuery{origin: "https://a.example", op: "sign", result: "error", page: 3}, jq)
	assert.Equal(t, "/d/T?op=sign&origin=https%3A%2F%2Fa.example&page=2&result=error#journal", jq.url("T", 2))
}
