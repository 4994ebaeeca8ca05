package eimzo_test

import (
	"net/http"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/signet-agent/signet/sdk/plugintest"
)

func TestMain(m *testing.M) { plugintest.Main(m) }

const pkg = "github.com/signet-agent/signet/plugins/eimzo/cmd/signet-plugin-eimzo"

func TestSmokeVersion(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	d := websocket.Dialer{TLSClientConfig: h.TLSConfig()}
	for _, u := range []string{"wss://" + h.Addr("wss"), "ws://" + h.Addr("ws")} {
		c, _, err := d.Dial(u+"/service/cryptapi", http.Header{"Origin": {"https://portal.example"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WriteMessage(websocket.TextMessage, []byte(`{"name":"version"}`)); err != nil {
			t.Fatal(err)
		}
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s", msg)
		_, _, err = c.ReadMessage()
		if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Fatalf("close: %v", err)
		}
		c.Close()
	}
}
