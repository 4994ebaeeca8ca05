package eimzo

// The transport limits against a Server in the test process (real sockets,
// real WebSocket clients): connections per origin and in all, the frame
// budget, the small message limit before the host accepted the origin, and
// the deadline of one message. The origin policy is fuzz_test.go's fake:
// it allows every origin, or none.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/cms"
)

// limitsServer serves a Server with limits l and an origin policy that
// allows every origin (or none); it returns the Server and its endpoint.
func limitsServer(t *testing.T, l Limits, allowOrigins bool) (*Server, string) {
	t.Helper()
	s := NewServer(Config{Keys: refusingKeys{}, Consent: fuzzConsent{allowOrigin: allowOrigins}, Limits: l})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, "ws" + strings.TrimPrefix(ts.URL, "http") + "/service/cryptapi"
}

// dialKeep opens a ?keepConnection socket from origin.
func dialKeep(t *testing.T, url, origin string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url+"?keepConnection", http.Header{"Origin": {origin}})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// send sends frame and reads the reply's status; a close instead of a
// reply is returned as the error (a *websocket.CloseError).
func send(t *testing.T, c *websocket.Conn, frame string) (int, error) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		return 0, err
	}
	_, data, err := c.ReadMessage()
	if err != nil {
		return 0, err
	}
	var r struct{ Status int }
	require.NoError(t, json.Unmarshal(data, &r), "%s", data)
	return r.Status, nil
}

// closeCode reads until the server's close frame and returns its code.
func closeCode(t *testing.T, c *websocket.Conn) int {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce)
		return ce.Code
	}
}

const (
	versionCall = `{"name":"version"}`
	// gatedCall is a function the origin policy gates (gateAsk): the host
	// accepting it makes the origin allowed.
	gatedCall = `{"plugin":"app","name":"change_ui_lang","arguments":["ru"]}`
)

// padded is versionCall padded with JSON white space to n bytes.
func padded(n int) string { return versionCall + strings.Repeat(" ", n-len(versionCall)) }

func TestLimitsConnectionsPerOrigin(t *testing.T) {
	_, url := limitsServer(t, Limits{MaxConnsPerOrigin: 2}, true)
	for range 2 {
		c := dialKeep(t, url, "https://crowd.example")
		status, err := send(t, c, versionCall)
		require.NoError(t, err)
		require.Equal(t, StatusOK, status)
	}
	third := dialKeep(t, url, "https://crowd.example")
	assert.Equal(t, websocket.CloseTryAgainLater, closeCode(t, third), "a third connection of one origin")

	other := dialKeep(t, url, "https://other.example")
	status, err := send(t, other, versionCall)
	require.NoError(t, err)
	assert.Equal(t, StatusOK, status, "another origin still connects")
}

func TestLimitsConnectionsGlobalAndStrangers(t *testing.T) {
	// 4 connections in all, of which 2 (half) for origins the host has not
	// accepted yet.
	_, url := limitsServer(t, Limits{MaxConns: 4}, true)
	known := dialKeep(t, url, "https://known.example")
	status, err := send(t, known, gatedCall)
	require.NoError(t, err)
	require.Equal(t, StatusOK, status)
	// known's first connection counts as a stranger's (it was not allowed
	// when it connected); one stranger slot is left.
	s2 := dialKeep(t, url, "https://stranger2.example")
	_, err = send(t, s2, versionCall)
	require.NoError(t, err)
	s3 := dialKeep(t, url, "https://stranger3.example")
	assert.Equal(t, websocket.CloseTryAgainLater, closeCode(t, s3), "strangers have used their half")

	k2 := dialKeep(t, url, "https://known.example")
	_, err = send(t, k2, versionCall)
	require.NoError(t, err, "an allowed origin connects while strangers are refused")
	k3 := dialKeep(t, url, "https://known.example")
	_, err = send(t, k3, versionCall)
	require.NoError(t, err)
	k4 := dialKeep(t, url, "https://known.example")
	assert.Equal(t, websocket.CloseTryAgainLater, closeCode(t, k4), "all 4 connections are open")
}

func TestLimitsSmallFrameBeforeAllowed(t *testing.T) {
	l := Limits{MaxFrame: 64 << 10, MaxFrameBeforeAllowed: 1 << 10}
	_, url := limitsServer(t, l, true)
	c := dialKeep(t, url, "https://new.example")
	status, err := send(t, c, padded(1<<10))
	require.NoError(t, err)
	require.Equal(t, StatusOK, status, "a message at the small limit")
	_, err = send(t, c, padded(2<<10))
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce, "a message above it from an origin not yet allowed")
	assert.Equal(t, websocket.CloseMessageTooBig, ce.Code)

	// The host accepts a call from the origin: its next messages may be
	// large, on the same kept connection and on new ones.
	c = dialKeep(t, url, "https://new.example")
	status, err = send(t, c, gatedCall)
	require.NoError(t, err)
	require.Equal(t, StatusOK, status)
	status, err = send(t, c, padded(32<<10))
	require.NoError(t, err)
	assert.Equal(t, StatusOK, status)
	c2 := dialKeep(t, url, "https://new.example")
	status, err = send(t, c2, padded(32<<10))
	require.NoError(t, err)
	assert.Equal(t, StatusOK, status)
	_, err = send(t, c2, padded(65<<10))
	require.ErrorAs(t, err, &ce, "above the large limit")
	assert.Equal(t, websocket.CloseMessageTooBig, ce.Code)
}

func TestLimitsSmallFrameWhenRefused(t *testing.T) {
	_, url := limitsServer(t, Limits{MaxFrame: 64 << 10, MaxFrameBeforeAllowed: 1 << 10}, false)
	c := dialKeep(t, url, "https://refused.example")
	status, err := send(t, c, gatedCall)
	require.NoError(t, err)
	require.Equal(t, StatusDomainNotAllowed, status)
	_, err = send(t, c, padded(2<<10))
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce, "a refused origin keeps the small limit")
	assert.Equal(t, websocket.CloseMessageTooBig, ce.Code)
}

// startMessage opens a message of c and writes n bytes of it as
// fragments, without finishing it.
func startMessage(t *testing.T, c *websocket.Conn, n int) {
	t.Helper()
	w, err := c.NextWriter(websocket.TextMessage)
	require.NoError(t, err)
	_, err = w.Write([]byte(padded(n + 1<<10))[:n])
	require.NoError(t, err)
	// The writer sends full buffers as fragments; the rest stays
	// unsent, and the message unfinished.
}

func TestLimitsFrameBudget(t *testing.T) {
	l := Limits{MaxFrame: 256 << 10, FrameBudget: 256 << 10, BudgetWait: 200 * time.Millisecond, MaxFrameBeforeAllowed: 8 << 10}
	s, url := limitsServer(t, l, true)
	// Two allowed origins.
	a := dialKeep(t, url, "https://a.example")
	_, err := send(t, a, gatedCall)
	require.NoError(t, err)
	b := dialKeep(t, url, "https://b.example")
	_, err = send(t, b, gatedCall)
	require.NoError(t, err)

	// a holds an unfinished message of 160 KiB: its 256 KiB buffer is the
	// whole budget (its first 4 KiB are not counted).
	startMessage(t, a, 160<<10)
	require.Eventually(t, func() bool { all, _ := s.budget.inUse(); return all == 256<<10-minFrameBuffer }, 10*time.Second, 10*time.Millisecond)

	// b cannot get budget for its message: it waits, then is closed with
	// 1013.
	_, err = send(t, b, padded(8<<10))
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, websocket.CloseTryAgainLater, ce.Code)

	// a goes away: its budget is back, and b's origin is served again.
	a.Close()
	require.Eventually(t, func() bool { all, _ := s.budget.inUse(); return all == 0 }, 10*time.Second, 10*time.Millisecond)
	b = dialKeep(t, url, "https://b.example")
	status, err := send(t, b, padded(8<<10))
	require.NoError(t, err)
	assert.Equal(t, StatusOK, status)
}

func TestLimitsStrangersBudget(t *testing.T) {
	// Strangers share a quarter of the budget: 64 KiB of 256 KiB.
	l := Limits{MaxFrame: 256 << 10, FrameBudget: 256 << 10, BudgetWait: 200 * time.Millisecond, MaxFrameBeforeAllowed: 64 << 10}
	s, url := limitsServer(t, l, true)
	first := dialKeep(t, url, "https://stranger1.example")
	startMessage(t, first, 40<<10)
	require.Eventually(t, func() bool { _, st := s.budget.inUse(); return st == 64<<10-minFrameBuffer }, 10*time.Second, 10*time.Millisecond)
	second := dialKeep(t, url, "https://stranger2.example")
	status, err := send(t, second, versionCall)
	require.NoError(t, err, "a small first call needs no budget")
	require.Equal(t, StatusOK, status)
	_, err = send(t, second, padded(16<<10))
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce, "the strangers' share is used up")
	assert.Equal(t, websocket.CloseTryAgainLater, ce.Code)

	known := dialKeep(t, url, "https://known.example")
	_, err = send(t, known, gatedCall)
	require.NoError(t, err)
	status, err = send(t, known, padded(100<<10))
	require.NoError(t, err, "an allowed origin still gets budget")
	assert.Equal(t, StatusOK, status)
}

func TestLimitsFrameTimeout(t *testing.T) {
	l := Limits{FrameTimeout: 300 * time.Millisecond}
	s, url := limitsServer(t, l, true)
	c := dialKeep(t, url, "https://slow.example")
	startMessage(t, c, 8<<10) // and never finished
	assert.Equal(t, websocket.ClosePolicyViolation, closeCode(t, c), "a message that does not arrive within frame_timeout")
	require.Eventually(t, func() bool { all, _ := s.budget.inUse(); return all == 0 }, 10*time.Second, 10*time.Millisecond)

	// The deadline is per message: an idle kept connection is not cut by it.
	c = dialKeep(t, url, "https://slow.example")
	_, err := send(t, c, versionCall)
	require.NoError(t, err)
	time.Sleep(2 * l.FrameTimeout)
	status, err := send(t, c, versionCall)
	require.NoError(t, err)
	assert.Equal(t, StatusOK, status)
}

func TestAllowedOriginsExpire(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newAllowedOrigins(time.Hour, func() time.Time { return now })
	assert.False(t, a.allowed("https://a.example"))
	a.allow("https://a.example")
	a.allow("")
	assert.True(t, a.allowed("https://a.example"))
	assert.False(t, a.allowed(""), "no origin is never allowed")
	now = now.Add(time.Hour + time.Second)
	assert.False(t, a.allowed("https://a.example"), "after the TTL")
}

func TestBudgetWaitsForRelease(t *testing.T) {
	b := newBudget(100, 25)
	h1 := b.newHold(false)
	require.NoError(t, h1.grow(context.Background(), 90, time.Second))
	h2 := b.newHold(false)
	done := make(chan error, 1)
	go func() { done <- h2.grow(context.Background(), 50, time.Minute) }()
	h1.release()
	require.NoError(t, <-done, "a waiting hold gets the released bytes")
	h2.release()

	s := b.newHold(true)
	assert.ErrorIs(t, s.grow(context.Background(), 26, time.Millisecond), ErrBusy, "beyond the strangers' share")
	all, st := b.inUse()
	assert.Zero(t, all)
	assert.Zero(t, st)
}

func TestLimitsFromOptions(t *testing.T) {
	opts := map[string]string{
		OptionMaxConnections: "100", OptionMaxConnectionsPerOrigin: "8", OptionMaxFrame: "8MiB",
		OptionMaxFrameBeforeAllowed: "65536", OptionFrameBudget: "1GiB", OptionFrameTimeout: "10s",
	}
	l, err := limitsFromOptions(func(k string) string { return opts[k] })
	require.NoError(t, err)
	assert.Equal(t, Limits{MaxConns: 100, MaxConnsPerOrigin: 8, MaxFrame: 8 << 20, MaxFrameBeforeAllowed: 64 << 10,
		FrameBudget: 1 << 30, FrameTimeout: 10 * time.Second}, l)

	for k, v := range map[string]string{
		OptionMaxConnections: "0", OptionMaxConnectionsPerOrigin: "many", OptionMaxFrame: "128MiB",
		OptionMaxFrameBeforeAllowed: "1TiB", OptionFrameBudget: "-1", OptionFrameTimeout: "soon",
	} {
		_, err := limitsFromOptions(func(name string) string {
			if name == k {
				return v
			}
			return ""
		})
		assert.ErrorContains(t, err, k, "%s=%s", k, v)
	}

	d := Limits{MaxFrame: 8 << 20, MaxFrameBeforeAllowed: 16 << 20, FrameBudget: 1 << 20}.withDefaults()
	assert.Equal(t, int64(8<<20), d.MaxFrameBeforeAllowed, "the small limit is at most the large one")
	assert.Equal(t, int64(8<<20), d.FrameBudget, "the budget holds one largest message")
}

func TestLimitsReplyTimeout(t *testing.T) {
	// A client that sends a request with a large reply and never reads it:
	// get_pkcs7_attached_info echoes a 12 MiB document (documentBase64): its
	// 16 MiB reply is far more than the socket buffers take while the peer
	// reads nothing (the receive buffer does not grow without reads).
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "REPLY TEST"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	msg, err := cms.Sign(make([]byte, 12<<20), key, cert, nil)
	require.NoError(t, err)
	frame := `{"plugin":"pkcs7","name":"get_pkcs7_attached_info","arguments":["` + base64.StdEncoding.EncodeToString(msg) + `",""]}`

	s, url := limitsServer(t, Limits{ReplyTimeout: 300 * time.Millisecond}, true)
	c := dialKeep(t, url, "https://reader.example")
	_, err = send(t, c, gatedCall)
	require.NoError(t, err)
	require.NoError(t, c.WriteMessage(websocket.TextMessage, []byte(frame)))
	// The request's budget is held while the reply is written, and given
	// back when the write times out although the client never reads.
	// (Generous bounds: with the race detector on a busy machine the
	// request takes seconds before its reply is written.)
	require.Eventually(t, func() bool { all, _ := s.budget.inUse(); return all > 0 }, 3*time.Minute, 10*time.Millisecond)
	require.Eventually(t, func() bool { all, _ := s.budget.inUse(); return all == 0 }, 3*time.Minute, 10*time.Millisecond)
}
