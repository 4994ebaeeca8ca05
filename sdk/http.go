package sdk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// HTTPServer serves HTTP on one declared listener, with the timeouts and
// the graceful drain a plugin needs. The zero durations take the defaults
// below. Use ServeHTTP for the defaults.
type HTTPServer struct {
	// Listener is the name of a listener declared in the Description.
	Listener string
	// Handler serves the requests. Request contexts are not derived from
	// Serve's ctx: a request in flight when the host stops the plugin
	// keeps running (it may be waiting for the person's consent) until the
	// drain deadline, and is cancelled then.
	Handler http.Handler
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections (default 2 minutes).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (default 64 KiB).
	MaxHeaderBytes int
	// DrainTimeout bounds the drain after ctx is cancelled. Zero gives the
	// time the host allows for stopping (slightly less, so the plugin
	// returns before the host gives up on it), or 5s when the plugin was
	// not stopped by the host.
	DrainTimeout time.Duration
}

// Defaults of HTTPServer.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultDrainTimeout      = 5 * time.Second
)

// ServeHTTP serves handler on the declared listener with HTTPServer's
// defaults; see HTTPServer.Serve.
func ServeHTTP(ctx context.Context, host *Host, listener string, handler http.Handler) error {
	return HTTPServer{Listener: listener, Handler: handler}.Serve(ctx, host)
}

// Serve binds the listener with host.Listen (loopback only, TLS from the
// host when declared), serves until ctx is cancelled, then stops accepting,
// lets in-flight requests finish within the drain timeout, closes what is
// left, and returns only once every handler has returned. It returns nil
// after a drain, or the error that stopped serving. Call it from
// Plugin.Serve and return its result.
func (s HTTPServer) Serve(ctx context.Context, host *Host) error {
	if s.Handler == nil {
		return fmt.Errorf("serve HTTP on %q: no handler", s.Listener)
	}
	ln, err := host.Listen(ctx, s.Listener)
	if err != nil {
		return err
	}
	inflight := &inflight{h: s.Handler}
	inflight.cond = sync.NewCond(&inflight.mu)
	srv := &http.Server{
		Handler:           inflight,
		ReadHeaderTimeout: orDefault(s.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		IdleTimeout:       orDefault(s.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    s.MaxHeaderBytes,
	}
	if srv.MaxHeaderBytes <= 0 {
		srv.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	drained := make(chan struct{})
	stopped := make(chan struct{}) // Serve failed on its own: nothing to drain
	go func() {
		defer close(drained)
		select {
		case <-ctx.Done():
		case <-stopped:
			return
		}
		timeout := s.DrainTimeout
		if timeout <= 0 {
			timeout = host.drainTimeout()
		}
		dctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := srv.Shutdown(dctx); err != nil {
			host.Logger().Warn("requests still running at the drain deadline: cancelled", "listener", s.Listener, "timeout", timeout)
			_ = srv.Close() // cancels the request contexts
		}
		inflight.wait() // Close does not wait for the handlers
	}()
	host.Logger().Info("serving HTTP", "listener", s.Listener, "addr", ln.Addr().String())
	err = srv.Serve(ln)
	if !errors.Is(err, http.ErrServerClosed) {
		close(stopped)
		<-drained
		return fmt.Errorf("serve HTTP on %q: %w", s.Listener, err)
	}
	// Serve returns as soon as Shutdown starts; return only once the
	// in-flight requests are done, or the host would stop us mid-request.
	<-drained
	return nil
}

// inflight counts the running handlers so that Serve returns only once
// they all have; after wait, new requests are refused.
type inflight struct {
	h      http.Handler
	mu     sync.Mutex
	cond   *sync.Cond
	n      int
	closed bool
}

func (f *inflight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	f.n++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.n--
		f.cond.Broadcast()
		f.mu.Unlock()
	}()
	f.h.ServeHTTP(w, r)
}

func (f *inflight) wait() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for f.n > 0 {
		f.cond.Wait()
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
