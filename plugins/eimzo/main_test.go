package eimzo_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/signet-agent/signet/internal/plugintest"
)

func TestMain(m *testing.M) { plugintest.Main(m) }

// pkg is the plugin binary under test.
const pkg = "github.com/signet-agent/signet/plugins/eimzo/cmd/signet-plugin-eimzo"

// testOrigin is the Origin the tests' pages claim.
const testOrigin = "https://portal.example"

// endpoint returns the WebSocket URL of listener ("wss" or "ws") of h.
func endpoint(h *plugintest.Host, listener string) string {
	return listener + "://" + h.Addr(listener) + "/service/cryptapi"
}

// call sends one request over a new connection the way the official
// e-imzo.js does (one text frame, read one reply) and checks that the
// server then closes with 1000. origin "" sends no Origin header. req is
// marshalled unless it is a string or []byte (sent as is).
func call(t testing.TB, h *plugintest.Host, url, origin string, req any) map[string]any {
	t.Helper()
	raw := rawCall(t, h, url, origin, req)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("reply is not a JSON object: %v: %s", err, raw)
	}
	return out
}

// rawCall is call returning the reply's bytes.
func rawCall(t testing.TB, h *plugintest.Host, url, origin string, req any) []byte {
	t.Helper()
	var frame []byte
	switch r := req.(type) {
	case string:
		frame = []byte(r)
	case []byte:
		frame = r
	default:
		var err error
		if frame, err = json.Marshal(req); err != nil {
			t.Fatal(err)
		}
	}
	hdr := http.Header{}
	if origin != "" {
		hdr.Set("Origin", origin)
	}
	d := websocket.Dialer{TLSClientConfig: h.TLSConfig(), HandshakeTimeout: 10 * time.Second}
	c, _, err := d.Dial(url, hdr)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, frame); err != nil {
		t.Fatalf("write: %v", err)
	}
	_, reply, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("after the reply: %v, want close 1000", err)
	}
	return reply
}

func TestVersionBothListeners(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	for _, l := range []string{"wss", "ws"} {
		got := call(t, h, endpoint(h, l), testOrigin, map[string]any{"name": "version"})
		if got["success"] != true || got["major"] != "6" || got["status"] != float64(1) {
			t.Errorf("%s: version reply %v", l, got)
		}
	}
}
