package sdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTPServer serves HTTP on one or more declared listeners with one
// handler, with the timeouts and the graceful drain a plugin needs. The
// zero durations take the defaults below. Use ServeHTTP for the defaults
// and one listener.
type HTTPServer struct {
	// Listeners are the names of listeners declared in the Description;
	// all of them serve Handler.
	Listeners []string
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
	// OnDrain, when set, is called once, in a goroutine of its own, when
	// the drain starts. The server does not know what a hijacked
	// connection (a WebSocket) is doing, so it cannot close it gracefully:
	// OnDrain tells the handlers holding such connections to finish (close
	// an idle WebSocket with 1001 "going away", say). It must not wait for
	// them. Whatever still runs at the drain deadline has its connection
	// closed, hijacked or not.
	OnDrain func()
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
	return HTTPServer{Listeners: []string{listener}, Handler: handler}.Serve(ctx, host)
}

// Serve binds the listeners with host.Listen (loopback only, TLS from the
// host when declared), serves until ctx is cancelled, then stops accepting,
// lets in-flight requests finish within the drain timeout, closes the
// connections of those still running (hijacked ones too), and returns only
// once every handler has returned. It returns nil after a drain, or the
// error that stopped serving (a listener that failed stops the others).
// Call it from Plugin.Serve and return its result.
func (s HTTPServer) Serve(ctx context.Context, host *Host) error {
	if len(s.Listeners) == 0 {
		return errors.New("serve HTTP: no listener named")
	}
	if s.Handler == nil {
		return fmt.Errorf("serve HTTP on %q: no handler", s.Listeners)
	}
	lns := make([]net.Listener, 0, len(s.Listeners))
	for _, name := range s.Listeners {
		ln, err := host.Listen(ctx, name)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return err
		}
		lns = append(lns, ln)
	}
	handlers := newInflight(s.Handler)
	srv := &http.Server{
		Handler:           handlers,
		ReadHeaderTimeout: orDefault(s.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		IdleTimeout:       orDefault(s.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    s.MaxHeaderBytes,
		ConnContext:       withConn,
	}
	if srv.MaxHeaderBytes <= 0 {
		srv.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if s.OnDrain != nil {
		srv.RegisterOnShutdown(s.OnDrain)
	}
	failed := make(chan error, len(lns))
	var serving sync.WaitGroup
	for i, ln := range lns {
		name := s.Listeners[i]
		host.Logger().Info("serving HTTP", "listener", name, "addr", ln.Addr().String())
		serving.Add(1)
		go func() {
			defer serving.Done()
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("serve HTTP on %q: %w", name, err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-failed:
	}
	s.drain(host, srv, handlers)
	serving.Wait()
	return err
}

// drain shuts srv down: it stops accepting, waits for the in-flight
// requests and the handlers of hijacked connections until the drain
// deadline, then closes every connection a handler still runs on and waits
// for those handlers to return.
func (s HTTPServer) drain(host *Host, srv *http.Server, handlers *inflight) {
	timeout := s.DrainTimeout
	if timeout <= 0 {
		timeout = host.drainTimeout()
	}
	dctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Shutdown waits for the ordinary connections only; hijacked ones are
	// the handlers' business, so wait for the handlers too.
	err := srv.Shutdown(dctx)
	done := handlers.close()
	if err == nil {
		select {
		case <-done:
			return
		case <-dctx.Done():
		}
	}
	host.Logger().Warn("requests still running at the drain deadline: cancelled", "listeners", s.Listeners, "timeout", timeout)
	_ = srv.Close()       // cancels the request contexts
	handlers.closeConns() // ends the hijacked connections Close does not know
	<-done                // Close does not wait for the handlers
}

// connKey is the context key of the connection a request arrived on.
type connKey struct{}

// withConn records the connection in its requests' contexts
// (http.Server.ConnContext).
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// inflight counts the running handlers and the connections they run on,
// so that the drain can close those connections at its deadline (even when
// hijacked) and Serve returns only once every handler has; after close,
// new requests are refused.
type inflight struct {
	h http.Handler

	mu      sync.Mutex
	n       int
	conns   map[net.Conn]int // connection → handlers running on it
	closing bool
	done    chan struct{} // closed once closing and no handler runs
}

func newInflight(h http.Handler) *inflight {
	return &inflight{h: h, conns: map[net.Conn]int{}, done: make(chan struct{})}
}

func (f *inflight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	f.mu.Lock()
	if f.closing {
		f.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	f.n++
	if c != nil {
		f.conns[c]++
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.n--
		if c != nil {
			if f.conns[c]--; f.conns[c] <= 0 {
				delete(f.conns, c)
			}
		}
		if f.closing && f.n == 0 {
			close(f.done)
		}
	}()
	f.h.ServeHTTP(w, r)
}

// close refuses new requests and returns a channel closed once the running
// handlers have returned.
func (f *inflight) close() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closing {
		f.closing = true
		if f.n == 0 {
			close(f.done)
		}
	}
	return f.done
}

// closeConns closes the connections handlers still run on.
func (f *inflight) closeConns() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		_ = c.Close()
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
