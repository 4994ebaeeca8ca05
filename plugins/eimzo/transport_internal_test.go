package eimzo

// The transport under the race detector: the plugin process that
// transport_test.go drives is built without -race, so this test serves a
// Server in the test process (real sockets, real WebSocket clients) with
// many clients at once. The key store refuses everything and the origin
// policy allows (fuzz_test.go's fault-injection seam): what is under test
// is the Server's own shared state — per-domain language, API keys,
// connections — not the host.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
)

func TestTransportConcurrentClients(t *testing.T) {
	s := NewServer(Config{Keys: refusingKeys{}, Consent: fuzzConsent{allowOrigin: true}})
	ts := httptest.NewServer(s)
	defer ts.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/service/cryptapi"

	const clients, rounds = 12, 5
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			origin := fmt.Sprintf("https://site%d.example", i)
			keep := i%2 == 0
			if err := concurrentClient(url, origin, keep, rounds); err != nil {
				errs <- fmt.Errorf("client %d (keep %v): %w", i, keep, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}

}

// concurrentClient switches its domain between Uzbek and Russian and
// checks that its own replies follow, whatever the other clients do.
func concurrentClient(url, origin string, keep bool, rounds int) error {
	var conn *websocket.Conn
	roundTrip := func(frame string) (map[string]any, error) {
		if conn == nil {
			u := url
			if keep {
				u += "?keepConnection"
			}
			c, _, err := websocket.DefaultDialer.Dial(u, http.Header{"Origin": {origin}})
			if err != nil {
				return nil, err
			}
			conn = c
		}
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		if err := conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			return nil, err
		}
		_, data, err := conn.ReadMessage()
		if err != nil {
			return nil, err
		}
		if !keep {
			_, _, err := conn.ReadMessage()
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				return nil, fmt.Errorf("after the reply: %v, want close 1000", err)
			}
			conn.Close()
			conn = nil
		}
		var out map[string]any
		return out, json.Unmarshal(data, &out)
	}
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for r := range rounds {
		lang := []string{"uz", "ru"}[r%2]
		li := []int{1, 0}[r%2] // index of lang in reasons (ru, uz)
		want := reasons[StatusNotFound][li]
		for _, step := range []struct {
			frame  string
			status int
			reason string
		}{
			{`{"plugin":"app","name":"change_ui_lang","arguments":["` + lang + `"]}`, StatusOK, ""},
			{`{"name":"no_such_function"}`, StatusNotFound, want},
			{`{"name":"apikey","arguments":["localhost","00"]}`, StatusBadAPIKey, fmt.Sprintf(reasons[StatusBadAPIKey][li], "localhost")},
			{`{"name":"version"}`, StatusOK, ""},
			{`{"plugin":"pfx","name":"list_all_certificates"}`, StatusDomainNotAllowed, fmt.Sprintf(reasons[StatusDomainNotAllowed][li], strings.TrimPrefix(origin, "https://"))},
		} {
			got, err := roundTrip(step.frame)
			if err != nil {
				return fmt.Errorf("%s: %w", step.frame, err)
			}
			if got["status"] != float64(step.status) || (step.reason != "" && got["reason"] != step.reason) {
				return fmt.Errorf("%s in %s: %v, want status %d %q", step.frame, lang, got, step.status, step.reason)
			}
		}
	}
	return nil
}
