package sdk

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One HTTPServer serves its handler on every listener it names.
func TestServeHTTPSeveralListeners(t *testing.T) {
	h := plainHost("a", "b")
	ctx, stop := context.WithCancel(context.Background())
	_, done := serve(t, ctx, h, HTTPServer{Listeners: []string{"a", "b"},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })})
	bound := h.boundListeners()
	require.Len(t, bound, 2)
	for _, l := range bound {
		resp, err := http.Get("http://" + l.GetAddr() + "/")
		require.NoError(t, err, l.GetName())
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "hello", string(b), l.GetName())
	}
	stop()
	assert.NoError(t, <-done)
}

// A hijacked connection (a WebSocket, say) is invisible to http.Server's
// Shutdown and Close: OnDrain is called when the drain starts, and a
// handler still running on its hijacked connection at the drain deadline
// has that connection closed, so Serve returns instead of waiting for a
// client that never leaves.
func TestServeHTTPClosesHijackedAtDrainDeadline(t *testing.T) {
	h := plainHost()
	ctx, stop := context.WithCancel(context.Background())
	hijacked := make(chan struct{})
	readErr := make(chan error, 1)
	onDrain := make(chan struct{})
	addr, done := serve(t, ctx, h, HTTPServer{Listeners: []string{"http"}, DrainTimeout: 200 * time.Millisecond,
		OnDrain: func() { close(onDrain) },
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				readErr <- err
				return
			}
			defer c.Close()
			close(hijacked)
			_, err = rw.ReadByte() // the client never sends: only a close ends this
			readErr <- err
		})})

	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	<-hijacked
	stop()
	<-onDrain
	assert.NoError(t, <-done)
	select {
	case err := <-readErr:
		assert.ErrorIs(t, err, net.ErrClosed, "the handler's read did not end by the connection closing")
	default:
		t.Fatal("Serve returned before the hijacking handler did")
	}
	// The client sees its connection closed.
	_, err = bufio.NewReader(c).ReadByte()
	assert.Error(t, err)
}

// A hijacking handler that finishes when told by OnDrain lets Serve return
// before the drain deadline.
func TestServeHTTPOnDrainEndsHijacked(t *testing.T) {
	h := plainHost()
	ctx, stop := context.WithCancel(context.Background())
	draining := make(chan struct{})
	hijacked := make(chan struct{})
	addr, done := serve(t, ctx, h, HTTPServer{Listeners: []string{"http"}, DrainTimeout: time.Hour,
		OnDrain: func() { close(draining) },
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			close(hijacked)
			<-draining
			io.WriteString(c, "going away")
		})})

	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	<-hijacked
	stop()
	require.NoError(t, <-done)
	b, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.Equal(t, "going away", string(b))
}

func TestServeHTTPNoListener(t *testing.T) {
	err := HTTPServer{Handler: http.NotFoundHandler()}.Serve(context.Background(), plainHost())
	assert.ErrorContains(t, err, "no listener named")
}
