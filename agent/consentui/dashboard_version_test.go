package consentui

import (
	"bufio"
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/grants"
)

var versionRE = regexp.MustCompile(`data-version="([0-9a-f]*)"`)

// TestDashboardChangeBeforeStreamConnects: a change made after the page was
// rendered but before its event stream connected is reported at once (the
// page names the state it shows); a stream for the current state waits.
func TestDashboardChangeBeforeStreamConnects(t *testing.T) {
	f := newFixture(t, time.Minute)
	e, err := consent.NewEngine(consent.EngineConfig{})
	require.NoError(t, err)
	u := f.srv.EnableDashboard(Dashboard{Engine: e})

	_, body, _ := getPage(t, http.DefaultClient, u)
	m := versionRE.FindStringSubmatch(body)
	require.NotNil(t, m, "the dashboard names the state it shows")
	require.Len(t, m[1], 64)

	// Nothing changed: the stream says hello and then only pings.
	assert.Equal(t, "", firstEvent(t, u+"/events?v="+m[1], 300*time.Millisecond))

	// A grant added between the render and the stream's connection.
	_, err = e.Grants().Add(grants.Grant{Origin: "https://other.example", KeyURI: "pkcs11:token=T;id=%01",
		Operation: "sign", Uses: 2, Expires: time.Now().Add(time.Minute)})
	require.NoError(t, err)
	assert.Equal(t, "changed", firstEvent(t, u+"/events?v="+m[1], 5*time.Second))
}

// firstEvent connects to an event stream and returns the first event after
// "hello" other than "ping", or "" when none came within wait.
func firstEvent(t *testing.T, u string, wait time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		ev, ok := strings.CutPrefix(sc.Text(), "event: ")
		if ok && ev != "hello" && ev != "ping" {
			return ev
		}
	}
	return ""
}
