package eimzo_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	require.NoError(t, json.Unmarshal(raw, &out), "reply is not a JSON object: %s", raw)
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
		frame, err = json.Marshal(req)
		require.NoError(t, err)
	}
	hdr := http.Header{}
	if origin != "" {
		hdr.Set("Origin", origin)
	}
	d := websocket.Dialer{TLSClientConfig: h.TLSConfig(), HandshakeTimeout: 10 * time.Second}
	c, _, err := d.Dial(url, hdr)
	require.NoError(t, err, "dial %s", url)
	defer c.Close()
	require.NoError(t, c.WriteMessage(websocket.TextMessage, frame), "write")
	_, reply, err := c.ReadMessage()
	require.NoError(t, err, "read reply")
	_, _, err = c.ReadMessage()
	require.True(t, websocket.IsCloseError(err, websocket.CloseNormalClosure), "after the reply: %v, want close 1000", err)
	return reply
}

func TestVersionBothListeners(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	for _, l := range []string{"wss", "ws"} {
		got := call(t, h, endpoint(h, l), testOrigin, map[string]any{"name": "version"})
		assert.Equal(t, true, got["success"], "%s: version reply %v", l, got)
		assert.Equal(t, "6", got["major"], "%s: version reply %v", l, got)
		assert.Equal(t, float64(1), got["status"], "%s: version reply %v", l, got)

	}
}
