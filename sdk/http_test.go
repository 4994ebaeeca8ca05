package sdk

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// plainHost is a Host with plain (no TLS) listeners of the given names
// ("http" when none) on free loopback ports; it needs no host process.
func plainHost(names ...string) *Host {
	if len(names) == 0 {
		names = []string{"http"}
	}
	h := &Host{
		name: "test", logger: slog.New(slog.DiscardHandler),
		specs: map[string]ListenerSpec{}, required: len(names),
		bound: map[string]*pb.BoundListener{}, ready: make(chan struct{}),
	}
	for _, n := range names {
		h.specs[n] = ListenerSpec{Name: n, Addr: "127.0.0.1:0"}
	}
	return h
}

// serve runs ServeHTTP in the background and returns its address once
// bound, and the channel its result arrives on.
func serve(t *testing.T, ctx context.Context, h *Host, s HTTPServer) (string, <-chan error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, h) }()
	select {
	case <-h.ready:
	case err := <-done:
		require.NoError(t, err, "Serve returned before binding")
	}
	return h.boundListeners()[0].GetAddr(), done
}

// The host stops the plugin while a request is in flight (waiting for
// consent, say): the server stops accepting, the request finishes with
// its reply, and Serve returns only after it.
func TestServeHTTPDrainsInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := plainHost()
	ctx, stop := context.WithCancel(context.Background())
	addr, done := serve(t, ctx, h, HTTPServer{Listeners: []string{"http"}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "signed")
	})})

	reply := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			reply <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		reply <- string(b)
	}()
	<-entered
	h.setStopTimeout(time.Minute)
	stop()
	// Shutdown has begun once the listener refuses new connections.
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 10*time.Second, 10*time.Millisecond, "still accepting after ctx was cancelled")
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	assert.Equal(t, "signed", <-reply, "the in-flight request was not answered")
	assert.NoError(t, <-done)
}

// A request that outlives the drain timeout has its context cancelled
// (the host call it waits on is abandoned) and Serve returns once its
// handler has.
func TestServeHTTPDrainDeadlineCancels(t *testing.T) {
	entered := make(chan struct{})
	sawCancel := make(chan bool, 1)
	h := plainHost()
	ctx, stop := context.WithCancel(context.Background())
	addr, done := serve(t, ctx, h, HTTPServer{Listeners: []string{"http"}, DrainTimeout: 50 * time.Millisecond,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			select {
			case <-r.Context().Done():
				sawCancel <- true
			case <-time.After(time.Minute):
				sawCancel <- false
			}
		})})
	go func() {
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	stop()
	assert.NoError(t, <-done)
	select {
	case ok := <-sawCancel:
		assert.True(t, ok, "the request context was not cancelled at the drain deadline")
	default:
		t.Fatal("Serve returned before the handler did")
	}
}

func TestServeHTTPErrors(t *testing.T) {
	h := plainHost()
	err := HTTPServer{Listeners: []string{"http"}}.Serve(context.Background(), h)
	assert.ErrorContains(t, err, "no handler")
	err = ServeHTTP(context.Background(), h, "nope", http.NotFoundHandler())
	assert.ErrorContains(t, err, `listen "nope": not declared`)
}

func TestDrainTimeoutFollowsTheHost(t *testing.T) {
	h := plainHost()
	assert.Equal(t, DefaultDrainTimeout, h.drainTimeout(), "not stopped by the host")
	h.setStopTimeout(5 * time.Second)
	assert.Equal(t, 4500*time.Millisecond, h.drainTimeout())
	h.setStopTimeout(30 * time.Second)
	assert.Equal(t, 29*time.Second, h.drainTimeout())
}
