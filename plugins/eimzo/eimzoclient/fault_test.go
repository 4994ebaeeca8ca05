package eimzoclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Faults the real plugin never produces (a close code other than 1000, no
// close at all, a huge reply, a close instead of a reply, a reply that
// never comes) are played by a small in-process WebSocket server.

// fakeServer answers every connection with behave.
func fakeServer(t *testing.T, behave func(c *websocket.Conn)) string {
	t.Helper()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
		behave(c)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/service/cryptapi"
}

func closeWith(c *websocket.Conn, code int, text string) {
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	// Wait for the client's answer.
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
	}
}

const okReply = `{"success":true,"status":1,"major":"6","minor":"4","patch":"7","edition":"Standard"}`

func TestCloseCodes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		behave   func(c *websocket.Conn)
		strict   bool
		wantCode int
		wantErr  int // close code of the *CloseError, 0 for none
	}{
		{"1000", func(c *websocket.Conn) {
			c.WriteMessage(websocket.TextMessage, []byte(okReply))
			closeWith(c, 1000, "Done")
		}, true, 1000, 0},
		{"1011 strict", func(c *websocket.Conn) {
			c.WriteMessage(websocket.TextMessage, []byte(okReply))
			closeWith(c, 1011, "oops")
		}, true, 1011, 1011},
		{"1011 lenient", func(c *websocket.Conn) {
			c.WriteMessage(websocket.TextMessage, []byte(okReply))
			closeWith(c, 1011, "oops")
		}, false, 1011, 0},
		{"dropped strict", func(c *websocket.Conn) {
			c.WriteMessage(websocket.TextMessage, []byte(okReply))
			c.UnderlyingConn().Close()
		}, true, 1006, 1006},
		{"no close strict", func(c *websocket.Conn) {
			c.WriteMessage(websocket.TextMessage, []byte(okReply))
			time.Sleep(2 * time.Second)
		}, true, 0, 1006},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{URL: fakeServer(t, tt.behave), StrictClose: tt.strict, CloseTimeout: 500 * time.Millisecond}
			r, err := c.Call(ctx, Request{Name: "version"})
			require.NotNil(t, r, "no reply (err %v)", err)
			require.True(t, r.Success, "reply %+v, %v; want success", r, err)
			require.Equal(t, tt.wantCode, r.CloseCode, "reply %+v, %v; close code", r, err)
			if tt.wantErr == 0 {
				assert.NoError(t, err)
			} else {
				var ce *CloseError
				if assert.ErrorAs(t, err, &ce, "want *CloseError %d", tt.wantErr) {
					assert.Equal(t, tt.wantErr, ce.Code, "CloseError code")
				}
			}
		})
	}
}

func TestCloseInsteadOfReply(t *testing.T) {
	c := &Client{URL: fakeServer(t, func(c *websocket.Conn) { closeWith(c, 1009, "too big") })}
	r, err := c.Call(context.Background(), Request{Name: "version"})
	require.Nil(t, r, "want no reply")
	var ce *CloseError
	require.ErrorAs(t, err, &ce, "want *CloseError 1009")
	require.Equal(t, 1009, ce.Code, "CloseError code")
}

func TestReplyTooLarge(t *testing.T) {
	big := `{"success":true,"pad":"` + strings.Repeat("x", 4096) + `"}`
	c := &Client{MaxReply: 1024, URL: fakeServer(t, func(c *websocket.Conn) {
		c.WriteMessage(websocket.TextMessage, []byte(big))
		closeWith(c, 1000, "")
	})}
	_, err := c.Call(context.Background(), Request{Name: "version"})
	require.ErrorIs(t, err, ErrReplyTooLarge)
	_, err = c.Send(context.Background(), make([]byte, MaxRequest+1))
	require.ErrorIs(t, err, ErrRequestTooLarge)
}

// TestContextEndsWait: a reply that never comes (the person has not
// answered) is waited for until the context ends, not cut short.
func TestContextEndsWait(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	c := &Client{URL: fakeServer(t, func(*websocket.Conn) { <-release })}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Call(ctx, Request{Name: "version"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestBinaryFramesSkipped(t *testing.T) {
	c := &Client{StrictClose: true, URL: fakeServer(t, func(c *websocket.Conn) {
		c.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
		c.WriteMessage(websocket.TextMessage, []byte(okReply))
		closeWith(c, 1000, "Done")
	})}
	v, err := c.Version(context.Background())
	require.NoError(t, err)
	require.Equal(t, "4", v.Minor, "%+v", v)
}

func TestRequestEncoding(t *testing.T) {
	for _, tt := range []struct {
		req  Request
		want string
	}{
		{Request{Name: "version"}, `{"name":"version"}`},
		{Request{Plugin: "pfx", Name: "list_all_certificates"}, `{"plugin":"pfx","name":"list_all_certificates"}`},
		{Request{Plugin: "pkcs7", Name: "create_pkcs7", Arguments: []string{"aGk=", "ckc", "no"}},
			`{"plugin":"pkcs7","name":"create_pkcs7","arguments":["aGk=","ckc","no"]}`},
	} {
		got, _ := json.Marshal(tt.req)
		assert.Equal(t, tt.want, string(got), "%s", tt.req)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		in        string
		success   bool
		status    int
		hasStatus bool
		reason    string
		array     bool
		err       bool
	}{
		{`{"success":true,"status":1,"keyId":"ab"}`, true, 1, true, "", false, false},
		{`{"success":true,"keyId":"ab"}`, true, 1, false, "", false, false}, // E-IMZO < 6: no status
		{`{"success":false,"status":-5000,"reason":"Ввод пароля отменен"}`, false, -5000, true, "Ввод пароля отменен", false, false},
		{`{"success":false,"reason":"x"}`, false, 0, false, "x", false, false},
		{`{"success":"false","status":"-1010","reason":"r"}`, false, -1010, true, "r", false, false},
		{`{"success":false,"className":"java.lang.NullPointerException"}`, false, 0, false, "java.lang.NullPointerException", false, false},
		{`{"status":1,"unknown":{"a":[1]}}`, true, 1, true, "", false, false},
		{` [{"name":"main"}] `, true, 1, false, "", true, false},
		{`{"success":1}`, false, 0, false, "", false, true},
		{`{"success":true,"status":1.5}`, true, 0, false, "", false, true},
		{`"string"`, false, 0, false, "", false, true},
		{`null`, false, 0, false, "", false, true},
		{`[1,`, false, 0, false, "", false, true},
	}
	for _, tt := range tests {
		r, err := decode([]byte(tt.in))
		if tt.err {
			assert.ErrorIs(t, err, ErrMalformedReply, "%s", tt.in)
			continue
		}
		if !assert.NoError(t, err, "%s", tt.in) {
			continue
		}
		assert.Equal(t, tt.success, r.Success, "%s: Success", tt.in)
		assert.Equal(t, tt.status, r.Status, "%s: Status", tt.in)
		assert.Equal(t, tt.hasStatus, r.HasStatus, "%s: HasStatus", tt.in)
		assert.Equal(t, tt.reason, r.Reason, "%s: Reason", tt.in)
		assert.Equal(t, tt.array, r.Array != nil, "%s: Array set", tt.in)
		assert.Equal(t, tt.success, r.Err() == nil, "%s: Err() = %v", tt.in, r.Err())
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{okReply, `[]`, `{"success":"true","status":"1"}`, `{"success":false,"status":-1022,"reason":"r"}`, `{`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decode(data)
		require.False(t, r == nil && err == nil, "nil reply without an error")
		if r != nil && err == nil && r.Success {
			require.NoError(t, r.Err(), "success reply with an error")
		}
	})
}

func TestWithKeepConnection(t *testing.T) {
	for in, want := range map[string]string{
		"ws://127.0.0.1:1/service/cryptapi":                "ws://127.0.0.1:1/service/cryptapi?keepConnection",
		"ws://127.0.0.1:1/service/cryptapi?a=b":            "ws://127.0.0.1:1/service/cryptapi?a=b&keepConnection",
		"ws://127.0.0.1:1/service/cryptapi?keepConnection": "ws://127.0.0.1:1/service/cryptapi?keepConnection",
	} {
		got, err := withKeepConnection(in)
		assert.NoError(t, err, "%s", in)
		assert.Equal(t, want, got, "%s", in)
	}
}
