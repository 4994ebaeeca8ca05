package eimzo_test

// Transport tests: the real plugin process (plugintest.Start) behind both
// listeners, driven by a real WebSocket client over real sockets and TLS
// from the host's local CA. They check what the official e-imzo.js relies
// on (one reply, then close 1000) and what E-IMZO does for everything
// else: ?keepConnection, close 1009 for
// oversize frames, ignored binary frames, the "function not found" reply
// for anything malformed, the preflight, the HTML pages, and the Origin as
// the caller's identity all the way into the host's consent system.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/signet-agent/signet/plugins/eimzo"
)

// notFound is E-IMZO's reason for status 0.
const notFound = "Функция не найдена или версия E-IMZO устарела. Обновите E-IMZO."

// gatedRequest is a non-main function that does not use the key store, so
// the dispatcher asks the host's origin policy before running it.
const gatedRequest = `{"plugin":"app","name":"change_ui_lang","arguments":["ru"]}`

// requireFunction skips the test when plugin.name is not implemented
// (apidoc lists what exists).
func requireFunction(t *testing.T, h *plugintest.Host, plugin, name string) {
	t.Helper()
	raw := rawCall(t, h, endpoint(h, "ws"), testOrigin, `{"name":"apidoc"}`)
	var doc []struct {
		Functions []struct{ Plugin, Name string }
	}
	require.NoError(t, json.Unmarshal(raw, &doc), "apidoc: %.200s", raw)
	for _, p := range doc {
		for _, f := range p.Functions {
			if f.Plugin == plugin && f.Name == name {
				return
			}
		}
	}
	t.Skipf("%s.%s is not implemented yet", plugin, name)
}

// waitLimit bounds every wait on the plugin, so that a broken plugin fails
// the test instead of hanging it; it is not a timing assertion.
const waitLimit = 30 * time.Second

// dial opens a WebSocket to url, sending origin as the Origin header ("" sends none).
func dial(t testing.TB, h *plugintest.Host, url, origin string) *websocket.Conn {
	t.Helper()
	hdr := http.Header{}
	if origin != "" {
		hdr.Set("Origin", origin)
	}
	d := websocket.Dialer{TLSClientConfig: h.TLSConfig(), HandshakeTimeout: 10 * time.Second}
	c, resp, err := d.Dial(url, hdr)
	require.NoError(t, err, "dial %s", url)
	resp.Body.Close()
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(waitLimit))
	return c
}

// readReply reads one text frame and decodes it as a JSON object.
func readReply(t testing.TB, c *websocket.Conn) map[string]any {
	t.Helper()
	mt, data, err := c.ReadMessage()
	require.NoError(t, err, "read reply")
	require.Equal(t, websocket.TextMessage, mt, "reply frame type")
	var out map[string]any
	require.NoError(t, json.Unmarshal(data, &out), "reply is not a JSON object: %.200s", data)
	return out
}

// expectClose reads the next frame and checks that it is a close frame
// of code (and text, unless text is "*").
func expectClose(t testing.TB, c *websocket.Conn, code int, text string) {
	t.Helper()
	mt, data, err := c.ReadMessage()
	require.Error(t, err, "want close %d, got frame type %d: %.200s", code, mt, data)
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce, "want close %d", code)
	require.Equal(t, code, ce.Code, "close code (text %q)", ce.Text)
	if text != "*" {
		require.Equal(t, text, ce.Text, "close text")
	}
}

// send writes one text frame.
func send(t testing.TB, c *websocket.Conn, frame string) {
	t.Helper()
	require.NoError(t, c.WriteMessage(websocket.TextMessage, []byte(frame)), "write")
}

// checkStatus fails unless reply has success == (status == 1) and status.
func checkStatus(t testing.TB, reply map[string]any, status int) {
	t.Helper()
	require.Equal(t, status == eimzo.StatusOK, reply["success"], "reply %v, want status %d", reply, status)
	require.Equal(t, float64(status), reply["status"], "reply %v", reply)
}

// writeDeclaredFrame writes, below the WebSocket library, the header of one
// masked text frame declaring size payload bytes, followed by the first
// len(prefix) of them — a client announcing a huge frame without the test
// holding it in memory.
func writeDeclaredFrame(t testing.TB, c *websocket.Conn, size uint64, prefix []byte) {
	t.Helper()
	hdr := []byte{0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint64(hdr[2:], size)
	var mask [4]byte
	_, err := rand.Read(mask[:])
	require.NoError(t, err)
	hdr = append(hdr, mask[:]...)
	body := make([]byte, len(prefix))
	for i, b := range prefix {
		body[i] = b ^ mask[i%4]
	}
	_, err = c.NetConn().Write(append(hdr, body...))
	require.NoError(t, err, "write frame header")
}

// switchAsker is the host's consent system for one plugin process whose
// decision the test changes between requests, and which records what the
// host asked. It is a real consent.Asker: the host calls it exactly as it
// calls the agent's Engine.
type switchAsker struct {
	decide atomic.Pointer[consent.AskerFunc]

	mu   sync.Mutex
	reqs []consent.Request
}

func newSwitchAsker() *switchAsker {
	a := &switchAsker{}
	a.set(consent.AllowAll.Ask)
	return a
}

// set makes f decide from now on.
func (a *switchAsker) set(f consent.AskerFunc) { a.decide.Store(&f) }

func (a *switchAsker) Ask(ctx context.Context, req consent.Request) error {
	a.mu.Lock()
	a.reqs = append(a.reqs, req)
	a.mu.Unlock()
	return (*a.decide.Load())(ctx, req)
}

// take returns and forgets the recorded requests.
func (a *switchAsker) take() []consent.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.reqs
	a.reqs = nil
	return r
}

// cancelAll answers every question as a person closing the dialog would.
var cancelAll = consent.AskerFunc(func(context.Context, consent.Request) error {
	return fmt.Errorf("dialog closed: %w", hsm.ErrCancelled)
})

func TestTransportListeners(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	for _, l := range []string{"wss", "ws"} {
		t.Run(l, func(t *testing.T) {
			c := dial(t, h, endpoint(h, l), testOrigin)
			send(t, c, `{"name":"version"}`)
			got := readReply(t, c)
			checkStatus(t, got, eimzo.StatusOK)
			assert.Equal(t, eimzo.VersionMajor, got["major"], "version %v", got)
			assert.Equal(t, eimzo.VersionMinor, got["minor"], "version %v", got)
			assert.Equal(t, eimzo.VersionPatch, got["patch"], "version %v", got)
			assert.Equal(t, eimzo.VersionEdition, got["edition"], "version %v", got)
			expectClose(t, c, websocket.CloseNormalClosure, "Done")
		})
	}
	t.Run("wss needs the host CA", func(t *testing.T) {
		// Trusting nothing but an unrelated pool: the certificate is the
		// host CA's, so verification must fail.
		d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: nil, MinVersion: tls.VersionTLS12}, HandshakeTimeout: 10 * time.Second}
		c, _, err := d.Dial(endpoint(h, "wss"), nil)
		if c != nil {
			c.Close()
		}
		require.Error(t, err, "wss handshake succeeded without trusting the host CA")
	})
}

func TestTransportOneRequestPerConnection(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	url := endpoint(h, "ws")

	// A second request on the same socket is not answered: the reply to
	// the first is followed by close 1000 "Done".
	c := dial(t, h, url, testOrigin)
	send(t, c, `{"name":"version"}`)
	send(t, c, `{"name":"version"}`)
	checkStatus(t, readReply(t, c), eimzo.StatusOK)
	expectClose(t, c, websocket.CloseNormalClosure, "Done")

	// Failure replies close the same way (e-imzo.js reports any other
	// code as an error, hiding the reason).
	c = dial(t, h, url, testOrigin)
	send(t, c, `{"name":"nosuch"}`)
	checkStatus(t, readReply(t, c), eimzo.StatusNotFound)
	expectClose(t, c, websocket.CloseNormalClosure, "Done")

	// Binary frames are ignored: the text frame after one is the request.
	c = dial(t, h, url, testOrigin)
	require.NoError(t, c.WriteMessage(websocket.BinaryMessage, []byte(`{"name":"nosuch"}`)))
	send(t, c, `{"name":"version"}`)
	checkStatus(t, readReply(t, c), eimzo.StatusOK)
	expectClose(t, c, websocket.CloseNormalClosure, "Done")
}

func TestTransportKeepConnection(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	for _, l := range []string{"wss", "ws"} {
		t.Run(l, func(t *testing.T) {
			c := dial(t, h, endpoint(h, l)+"?keepConnection", testOrigin)
			for i, req := range []struct {
				frame  string
				status int
			}{
				{`{"name":"version"}`, eimzo.StatusOK},
				{`garbage`, eimzo.StatusNotFound},
				{`{"name":"apikey","arguments":["localhost","00"]}`, eimzo.StatusBadAPIKey},
				{`{"name":"version"}`, eimzo.StatusOK},
			} {
				send(t, c, req.frame)
				got := readReply(t, c)
				require.Equal(t, float64(req.status), got["status"], "request %d %s: reply %v", i, req.frame, got)
			}
			// Requests sent back to back are answered one by one, in order.
			for _, f := range []string{`{"name":"nosuch"}`, `{"name":"version"}`, `garbage`} {
				send(t, c, f)
			}
			for i, want := range []int{eimzo.StatusNotFound, eimzo.StatusOK, eimzo.StatusNotFound} {
				got := readReply(t, c)
				require.Equal(t, float64(want), got["status"], "pipelined reply %d: %v", i, got)
			}
			// The client ends the session; the server answers its close.
			require.NoError(t, c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")))
			expectClose(t, c, websocket.CloseNormalClosure, "*")
		})
	}
}

func TestTransportOversizeFrame(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	for _, l := range []string{"wss", "ws"} {
		// One frame that declares MaxFrame+1 bytes: refused at its header.
		t.Run(l+"/declared", func(t *testing.T) {
			c := dial(t, h, endpoint(h, l), testOrigin)
			writeDeclaredFrame(t, c, eimzo.MaxFrame+1, []byte(`{"name":"version","arguments":["`))
			expectClose(t, c, websocket.CloseMessageTooBig, "*")
		})
	}
	// A message of MaxFrame+1 bytes sent in fragments, as a browser sends
	// a large one: refused when the total passes the limit. The test
	// streams it from a small buffer.
	t.Run("ws/fragmented", func(t *testing.T) {
		c := dial(t, h, endpoint(h, "ws"), testOrigin)
		w, err := c.NextWriter(websocket.TextMessage)
		require.NoError(t, err)
		chunk := []byte(strings.Repeat("A", 64<<10))
		_, err = io.WriteString(w, `{"name":"version","arguments":["`)
		require.NoError(t, err)
		var writeErr error
		for left := eimzo.MaxFrame + 1 - 32; left > 0 && writeErr == nil; {
			n := min(left, len(chunk))
			_, writeErr = w.Write(chunk[:n])
			left -= n
		}
		if writeErr == nil {
			writeErr = w.Close()
		}
		// The server may close before the client has written everything;
		// what matters is the close code the client then reads.
		if writeErr != nil {
			t.Logf("write stopped early: %v", writeErr)
		}
		expectClose(t, c, websocket.CloseMessageTooBig, "*")
	})
	// A large frame under the limit is served normally once the host has
	// accepted the origin.
	t.Run("ws/1MiB", func(t *testing.T) {
		call(t, h, endpoint(h, "ws"), testOrigin, gatedRequest)
		c := dial(t, h, endpoint(h, "ws"), testOrigin)
		send(t, c, `{"name":"nosuch","arguments":["`+strings.Repeat("A", 1<<20)+`"]}`)
		checkStatus(t, readReply(t, c), eimzo.StatusNotFound)
		expectClose(t, c, websocket.CloseNormalClosure, "Done")
	})
}

func TestTransportMalformedRequests(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	url := endpoint(h, "ws")
	frames := []string{
		``,
		`garbage`,
		`null`,
		`{}`,
		`[]`,
		`[{"name":"version"}]`,
		`"version"`,
		`42`,
		`{"name":`,
		`{"name":1}`,
		`{"name":"version","plugin":7}`,
		`{"name":"version","arguments":"x"}`,
		`{"name":"version","arguments":[1]}`,
		`{"name":"version","arguments":[null,{}]}`,
		`{"name":"version","arguments":{"a":"b"}}`,
		`{"name":"version"} {"name":"version"}`,
		`{"name":"version"}}`,
		`{"name":"version"}]`,
		`{"name":"version"} trailing`,
		`{"name":"nosuch"}`,
		`{"plugin":"nosuch","name":"version"}`,
		`{"plugin":"pfx","name":"version"}`,
		`{"name":"VERSION"}`,
		`{"name":"version","arguments":["extra"]}`,
		`{"name":"apidoc","arguments":[""]}`,
		`{"name":"apikey"}`,
		`{"name":"apikey","arguments":["localhost"]}`,
		`{"name":"apikey","arguments":["a","b","c"]}`,
		`{"name":"version","arguments":[` + strings.TrimSuffix(strings.Repeat(`"",`, eimzo.MaxArguments+1), ",") + `]}`,
		"{\"name\":\"\xff\xfe\"}",
		"\x00\x01\x02",
		strings.Repeat("[", 100000),
		`{"name":"` + strings.Repeat("x", 100000) + `"}`,
	}
	for i, f := range frames {
		c := dial(t, h, url, testOrigin)
		send(t, c, f)
		got := readReply(t, c)
		assert.Equal(t, false, got["success"], "frame %d %.60q: reply %v", i, f, got)
		assert.Equal(t, float64(eimzo.StatusNotFound), got["status"], "frame %d %.60q: reply %v", i, f, got)
		assert.Equal(t, notFound, got["reason"], "frame %d %.60q", i, f)
		expectClose(t, c, websocket.CloseNormalClosure, "Done")
	}
	// The plugin is still serving.
	got := call(t, h, url, testOrigin, map[string]any{"name": "version"})
	checkStatus(t, got, eimzo.StatusOK)
}

func TestTransportPreflight(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	hc := h.HTTPClient()
	for _, base := range []string{"https://" + h.Addr("wss"), "http://" + h.Addr("ws")} {
		for _, path := range []string{"/service/cryptapi", "/", "/anything"} {
			req, err := http.NewRequest(http.MethodOptions, base+path, nil)
			require.NoError(t, err)
			req.Header.Set("Origin", testOrigin)
			req.Header.Set("Access-Control-Request-Method", "GET")
			req.Header.Set("Access-Control-Request-Private-Network", "true")
			resp, err := hc.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, 2, resp.StatusCode/100, "OPTIONS %s%s: status %d", base, path, resp.StatusCode)
			for k, want := range map[string]string{
				"Access-Control-Allow-Private-Network": "true",
				"Access-Control-Allow-Origin":          testOrigin,
				"Access-Control-Allow-Methods":         "GET, POST, OPTIONS",
				"Access-Control-Allow-Headers":         "*",
			} {
				assert.Equal(t, want, resp.Header.Get(k), "OPTIONS %s%s: %s", base, path, k)
			}
		}
	}
}

func TestTransportPages(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	hc := h.HTTPClient()
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := hc.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	// The functions apidoc reports over the WebSocket.
	raw := rawCall(t, h, endpoint(h, "ws"), testOrigin, `{"name":"apidoc"}`)
	var doc []struct {
		Name      string
		Functions []struct{ Name string }
	}
	require.NoError(t, json.Unmarshal(raw, &doc), "apidoc: %.200s", raw)
	for _, base := range []string{"https://" + h.Addr("wss"), "http://" + h.Addr("ws")} {
		code, body := get(base + "/")
		assert.Equal(t, http.StatusOK, code, "GET %s/", base)
		assert.Contains(t, body, "установлен и работает", "GET %s/", base)
		assert.Contains(t, body, `href="/apidoc.html"`, "GET %s/", base)
		code, body = get(base + "/apidoc.html")
		assert.Equal(t, http.StatusOK, code, "GET %s/apidoc.html", base)
		for _, p := range doc {
			assert.Contains(t, body, `id="`+p.Name+`"`, "apidoc.html does not list plugin %s", p.Name)
			for _, f := range p.Functions {
				assert.Contains(t, body, "<code>"+f.Name+"</code>", "apidoc.html does not list %s.%s", p.Name, f.Name)
			}
		}
		code, body = get(base + "/no/such/page")
		assert.Equal(t, http.StatusNotFound, code, "GET %s/no/such/page", base)
		assert.Equal(t, "404 - Not Found", body, "GET %s/no/such/page", base)
		code, _ = get(base + "/service/cryptapi")
		assert.Equal(t, http.StatusBadRequest, code, "plain GET %s/service/cryptapi", base)
		for _, path := range []string{"/", "/apidoc.html"} {
			resp, err := hc.Head(base + path)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, "HEAD %s%s", base, path)
			resp, err = hc.Post(base+path, "text/plain", strings.NewReader("x"))
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "POST %s%s", base, path)
		}
	}
}

func TestTransportOrigin(t *testing.T) {
	asker := newSwitchAsker()
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: asker})
	requireFunction(t, h, "app", "change_ui_lang")
	url := endpoint(h, "ws")

	// Main functions never ask and work without an Origin.
	checkStatus(t, call(t, h, url, "", map[string]any{"name": "version"}), eimzo.StatusOK)
	got := call(t, h, url, "", `{"name":"apikey","arguments":["localhost","00"]}`)
	assert.Equal(t, float64(eimzo.StatusBadAPIKey), got["status"], "apikey without Origin: %v", got)
	raw := rawCall(t, h, url, "", `{"name":"apidoc"}`)
	assert.True(t, strings.HasPrefix(string(raw), "["), "apidoc without Origin: %.200s", raw)
	assert.Empty(t, asker.take(), "main functions asked the host")

	for _, tc := range []struct {
		header         string // Origin header sent; "" none
		origin, domain string // what the host sees, the E-IMZO domain; "" none
	}{
		{"", "", ""},
		{"localhost", "", ""},    // no scheme: unparsable
		{"https://", "", ""},     // no host
		{"null", "null", "null"}, // opaque origin (sandboxed frame)
		{"file://", "null", "null"},
		{"file:///home/user/demo.html", "null", "null"},
		{"chrome-extension://abcdef", "null", "null"},
		{"https://portal.example", "https://portal.example", "portal.example"},
		{"HTTPS://Portal.Example:8443", "https://portal.example:8443", "portal.example"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", "127.0.0.1"},
		{"http://[::1]:8080", "http://[::1]:8080", "::1"},
		{"FILE:///C:/demo.html", "null", "null"},
		{"https://" + strings.Repeat("a", 245) + ".example", "https://" + strings.Repeat("a", 245) + ".example", strings.Repeat("a", 245) + ".example"},
		{"https://" + strings.Repeat("a", 246) + ".example", "", ""}, // longer than a DNS name
		{"https://" + strings.Repeat("a", 20000) + ".example", "", ""},
	} {
		t.Run(fmt.Sprintf("%.40s", tc.header), func(t *testing.T) {
			// Allowed: the host saw the origin; without one, -1021 and no
			// question at all.
			asker.set(consent.AllowAll.Ask)
			got := call(t, h, url, tc.header, gatedRequest)
			reqs := asker.take()
			if tc.domain == "" {
				assert.Equal(t, float64(eimzo.StatusNoDomain), got["status"], "reply %v, want -1021", got)
				assert.Equal(t, "Не удалось идентифицировать домен.", got["reason"])
				assert.Empty(t, reqs, "host asked for a caller without a domain")
				return
			}
			checkStatus(t, got, eimzo.StatusOK)
			if assert.Len(t, reqs, 1, "host asked %+v, want one origin question for %q", reqs, tc.origin) {
				assert.Equal(t, tc.origin, reqs[0].Origin)
				assert.Equal(t, consent.Origin, reqs[0].Kind)
				assert.Contains(t, reqs[0].Summary, tc.domain)
				assert.Equal(t, "app.change_ui_lang", reqs[0].Evidence["eimzo_function"])
			}
			// A key-store function: the host's own calls carry the origin.
			checkStatus(t, call(t, h, url, tc.header, `{"plugin":"pfx","name":"list_all_certificates"}`), eimzo.StatusOK)
			reqs = asker.take()
			assert.NotEmpty(t, reqs, "listing keys asked the host nothing")
			for _, r := range reqs {
				assert.Equal(t, tc.origin, r.Origin, "listing keys: host asked %+v", r)
				assert.Equal(t, "pfx.list_all_certificates", r.Evidence["eimzo_function"], "listing keys: host asked %+v", r)
			}
			// Refused by the origin policy: -1022 naming the domain.
			asker.set(consent.DenyAll.Ask)
			got = call(t, h, url, tc.header, gatedRequest)
			want := fmt.Sprintf("API-key для домена %s недействителен.", tc.domain)
			assert.Equal(t, float64(eimzo.StatusDomainNotAllowed), got["status"], "denied: reply %v, want -1022", got)
			assert.Equal(t, want, got["reason"], "denied")
			reqs = asker.take()
			if assert.Len(t, reqs, 1, "host asked %+v", reqs) {
				assert.Equal(t, tc.origin, reqs[0].Origin)
			}
		})
	}
}

func TestTransportDisconnectWithdrawsConsent(t *testing.T) {
	asked := make(chan consent.Request, 1)
	withdrawn := make(chan error, 1)
	blocking := consent.AskerFunc(func(ctx context.Context, req consent.Request) error {
		asked <- req
		<-ctx.Done() // the person never answers
		withdrawn <- ctx.Err()
		return fmt.Errorf("question withdrawn: %w", hsm.ErrCancelled)
	})
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: blocking})
	requireFunction(t, h, "app", "change_ui_lang")
	for _, tc := range []struct {
		name, listener, query, request string
		more                           []string // frames sent while the question is open
	}{
		{"wss", "wss", "", gatedRequest, nil},
		{"ws", "ws", "", gatedRequest, nil},
		// A key-store call: the host asks about listing the keys.
		{"key store", "ws", "", `{"plugin":"pfx","name":"list_all_certificates"}`, nil},
		// Frames after the first request are ignored, and must not stop
		// the server from noticing that the client went away.
		{"more frames", "ws", "", gatedRequest, []string{`{"name":"version"}`, `{"name":"version"}`, `garbage`}},
		// A request pipelined behind the pending one.
		{"keepConnection pipelined", "ws", "?keepConnection", gatedRequest, []string{`{"name":"version"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, h, endpoint(h, tc.listener)+tc.query, testOrigin)
			send(t, c, tc.request)
			select {
			case req := <-asked:
				assert.Equal(t, testOrigin, req.Origin, "question origin")
			case <-time.After(waitLimit):
				require.FailNow(t, "the host was never asked")
			}
			for _, f := range tc.more {
				send(t, c, f)
			}
			c.Close() // the page goes away while the dialog is open
			select {
			case err := <-withdrawn:
				assert.Error(t, err, "question ended without a context error")
			case <-time.After(waitLimit):
				require.FailNow(t, "the pending question was not withdrawn when the client disconnected")
			}
		})
	}
}

func TestTransportCancelledConsent(t *testing.T) {
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: cancelAll})
	requireFunction(t, h, "app", "change_ui_lang")
	got := call(t, h, endpoint(h, "ws"), testOrigin, gatedRequest)
	assert.Equal(t, float64(eimzo.StatusPasswordCancel), got["status"], "cancelled: %v, want -5000", got)
	assert.Equal(t, "Ввод пароля отменен", got["reason"], "cancelled")
}

func TestTransportBoundedEcho(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	// apikey quotes the domain in its -1020 reason; a 1 MiB "domain" is
	// not sent back whole.
	domain := strings.Repeat("д", 512<<10)
	call(t, h, endpoint(h, "ws"), testOrigin, gatedRequest) // the 1 MiB limit before
	raw := rawCall(t, h, endpoint(h, "ws"), testOrigin, map[string]any{"name": "apikey", "arguments": []string{domain, "00"}})
	var got map[string]any
	require.NoError(t, json.Unmarshal(raw, &got))
	reason, _ := got["reason"].(string)
	assert.Equal(t, float64(eimzo.StatusBadAPIKey), got["status"], "reply of %d bytes", len(raw))
	assert.True(t, strings.HasPrefix(reason, "API-key для домена дд"), "reason %.80q", reason)
	assert.LessOrEqual(t, len(reason), eimzo.MaxReason+len("…"), "reason of %d bytes", len(reason))
}
