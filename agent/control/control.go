// Package control is the agent's control socket: how `signet open`,
// `signet plugins`, `signet dashboard` and a second `signet serve` talk to
// the running agent. The socket is a unix socket private to the user
// ([SocketPath]: $XDG_RUNTIME_DIR/signet/control.sock, else
// $TMPDIR/signet-UID/control.sock; directory 0700, socket 0600, and on
// Linux the peer's uid is checked). [Listen] also makes the caller the
// single running agent: a second one gets [ErrAlreadyRunning]. The protocol
// is line-delimited JSON, one [Request] and one [Response] per line, at most
// [MaxMessage] bytes; the operations are ping, plugins, open (hand a URL to
// the plugin that registered its scheme) and dashboard. [Connect] can start
// the agent in the background when none answers. [Server.Serve] handles each
// connection in its own goroutine (at most [MaxConns]); a [Client] is not
// safe for concurrent use.
//
//	// In the agent:
//	ln, err := control.Listen("") // "" for SocketPath
//	if err != nil {
//		return err // ErrAlreadyRunning: another agent holds the socket
//	}
//	srv := &control.Server{Agent: manager, Version: version}
//	go srv.Serve(ctx, ln)
//
//	// In a command:
//	c, started, err := control.Connect(ctx, "", &control.StartOptions{Command: argv})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	err = c.Open(ctx, "cryptoarm://sign?…")
//
// Design: docs/control-socket.md (who may connect, single instance, starting
// the agent).
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/internal/peercred"
)

// Limits.
const (
	// MaxMessage bounds one request or response line.
	MaxMessage = 64 << 10
	// MaxResponse bounds a response the client accepts (plugin lists).
	MaxResponse = 1 << 20
	// MaxConns bounds concurrent control connections.
	MaxConns = 32
	// IdleTimeout closes a connection that sends nothing for this long.
	IdleTimeout = 30 * time.Second
	// OpenTimeout bounds one OpenURL call.
	OpenTimeout = 30 * time.Second
)

// Operations.
const (
	OpPing      = "ping"      // the agent's pid and version
	OpPlugins   = "plugins"   // the status of every plugin
	OpOpen      = "open"      // hand Request.URL to the plugin that registered its scheme
	OpDashboard = "dashboard" // the dashboard URL, with its secret token
)

// Agent is what the control socket needs from the running agent.
// *host.Manager implements it.
type Agent interface {
	Plugins() []host.PluginStatus
	OpenURL(ctx context.Context, rawURL string) error
}

var _ Agent = (*host.Manager)(nil)

// Request is one client request.
type Request struct {
	Op  string `json:"op"`
	URL string `json:"url,omitempty"`
}

// Response answers one Request.
type Response struct {
	OK      bool                `json:"ok"`
	Error   string              `json:"error,omitempty"`
	Kind    string              `json:"kind,omitempty"` // error kind: "no_handler", "bad_request"
	PID     int                 `json:"pid,omitempty"`
	Version string              `json:"version,omitempty"`
	Plugins []host.PluginStatus `json:"plugins,omitempty"`
	// URL answers "dashboard".
	URL string `json:"url,omitempty"`
}

// ErrAlreadyRunning is returned by Listen when another agent holds the
// socket.
var ErrAlreadyRunning = errors.New("signet agent is already running")

// ErrNotRunning is returned by Dial when no agent answers on the socket.
var ErrNotRunning = errors.New("signet agent is not running")

// SocketPath returns the default control socket path:
// $XDG_RUNTIME_DIR/signet/control.sock, or $TMPDIR/signet-UID/control.sock
// when there is no runtime directory.
func SocketPath() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "signet", "control.sock")
	}
	return filepath.Join(os.TempDir(), "signet-"+strconv.Itoa(os.Getuid()), "control.sock")
}

// prepareDir creates the socket's directory 0700 and checks that it is ours.
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create control directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("control directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("control directory %s is not a directory", dir)
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Getuid() {
		return fmt.Errorf("control directory %s belongs to uid %d, not to this user; refusing to use it", dir, uid)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("protect control directory: %w", err)
		}
	}
	return nil
}

// Listener is the agent's control socket plus the single-instance lock.
type Listener struct {
	net.Listener
	path string
	lock *os.File

	closeOnce sync.Once
}

// Path is the socket path.
func (l *Listener) Path() string { return l.path }

// Close stops listening, removes the socket file and releases the lock.
func (l *Listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		err = l.Listener.Close()
		os.Remove(l.path) // net removes it too; harmless if already gone
		unlock(l.lock)
		l.lock.Close()
	})
	return err
}

// Listen creates the control socket at path ("" for SocketPath), making this
// process the single running agent.
func Listen(path string) (*Listener, error) {
	if path == "" {
		path = SocketPath()
	}
	if err := prepareDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	lockPath := path + ".lock"
	lf, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open control lock: %w", err)
	}
	if err := tryLock(lf); err != nil {
		lf.Close()
		if errors.Is(err, errLocked) {
			return nil, runningError(path)
		}
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	fail := func(err error) (*Listener, error) {
		unlock(lf)
		lf.Close()
		return nil, err
	}
	// We own the path. Something may still answer there (an agent that
	// predates the lock file, or one whose lock file was deleted).
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return fail(fmt.Errorf("%s exists and is not a socket; refusing to replace it", path))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := Dial(ctx, path)
		cancel()
		if err == nil {
			c.Close()
			return fail(runningError(path))
		}
		if err := os.Remove(path); err != nil {
			return fail(fmt.Errorf("remove stale control socket: %w", err))
		}
	}
	nl, err := net.Listen("unix", path)
	if err != nil {
		return fail(fmt.Errorf("listen on control socket: %w", err))
	}
	if err := os.Chmod(path, 0o600); err != nil {
		nl.Close()
		return fail(fmt.Errorf("protect control socket: %w", err))
	}
	lf.Truncate(0)
	lf.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &Listener{Listener: nl, path: path, lock: lf}, nil
}

func runningError(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	if err == nil {
		defer c.Close()
		if r, err := c.Ping(ctx); err == nil {
			return fmt.Errorf("%w (pid %d, control socket %s)", ErrAlreadyRunning, r.PID, path)
		}
	}
	return fmt.Errorf("%w (control socket %s is locked by another process)", ErrAlreadyRunning, path)
}

// Server answers control requests for an Agent.
type Server struct {
	Agent   Agent
	Version string
	Log     *slog.Logger // nil: slog.Default()
	// Dashboard returns the dashboard URL ("" when there is none); nil
	// answers "dashboard" with an error.
	Dashboard func() string
}

// Serve accepts connections on l until ctx is done or l is closed. It closes
// l when ctx is done and waits for its connections to finish.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	sem := make(chan struct{}, MaxConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("control socket: accept: %w", err)
		}
		if err := peercred.Check(conn, uint32(os.Getuid())); err != nil && !errors.Is(err, peercred.ErrUnsupported) {
			log.Warn("control socket: connection refused", "error", err)
			conn.Close()
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			log.Warn("control socket: too many connections")
			conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.handle(ctx, conn, log)
		}()
	}
}

func (s *Server) handle(ctx context.Context, conn net.Conn, log *slog.Logger) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	r := bufio.NewReaderSize(conn, MaxMessage)
	enc := json.NewEncoder(conn)
	for {
		conn.SetReadDeadline(time.Now().Add(IdleTimeout))
		// The deadline above would override the one the AfterFunc set if
		// ctx ended just before it: check after setting it.
		if ctx.Err() != nil {
			return
		}
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			enc.Encode(Response{Error: fmt.Sprintf("request longer than %d bytes", MaxMessage), Kind: "bad_request"})
			return
		}
		if err != nil {
			return
		}
		var req Request
		resp := Response{}
		if err := json.Unmarshal(line, &req); err != nil {
			resp = Response{Error: "malformed request: not a JSON object", Kind: "bad_request"}
		} else {
			resp = s.do(ctx, req, log)
		}
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := enc.Encode(resp); err != nil {
			return
		}
	}
}

func (s *Server) do(ctx context.Context, req Request, log *slog.Logger) Response {
	switch req.Op {
	case OpPing:
		return Response{OK: true, PID: os.Getpid(), Version: s.Version}
	case OpPlugins:
		return Response{OK: true, Plugins: s.Agent.Plugins()}
	case OpOpen:
		if req.URL == "" {
			return Response{Error: "open: missing url", Kind: "bad_request"}
		}
		ctx, cancel := context.WithTimeout(ctx, OpenTimeout)
		defer cancel()
		if err := s.Agent.OpenURL(ctx, req.URL); err != nil {
			log.Warn("control socket: open URL failed", "error", err)
			kind := ""
			if errors.Is(err, host.ErrNoHandler) {
				kind = "no_handler"
			}
			return Response{Error: err.Error(), Kind: kind}
		}
		return Response{OK: true}
	case OpDashboard:
		u := ""
		if s.Dashboard != nil {
			u = s.Dashboard()
		}
		if u == "" {
			return Response{Error: "this agent has no dashboard"}
		}
		return Response{OK: true, URL: u}
	}
	return Response{Error: fmt.Sprintf("unknown operation %q", req.Op), Kind: "bad_request"}
}

// Client talks to a running agent.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
}

// Dial connects to the agent's control socket at path ("" for SocketPath).
// When nothing listens there it returns an error wrapping ErrNotRunning.
func Dial(ctx context.Context, path string) (*Client, error) {
	if path == "" {
		path = SocketPath()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("%w (no agent listens on %s)", ErrNotRunning, path)
		}
		return nil, fmt.Errorf("connect to agent at %s: %w", path, err)
	}
	return &Client{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Do sends one request and reads its response. A response with OK false is
// returned together with an error carrying its message.
func (c *Client) Do(ctx context.Context, req Request) (Response, error) {
	if d, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(d)
	} else {
		c.conn.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Now()) })
	defer stop()
	b, err := json.Marshal(req)
	if err != nil {
		return Response{}, err
	}
	if len(b)+1 > MaxMessage {
		return Response{}, fmt.Errorf("%s request longer than %d bytes", req.Op, MaxMessage)
	}
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return Response{}, fmt.Errorf("control %s: %w", req.Op, ctxErr(ctx, err))
	}
	var line []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxResponse {
			return Response{}, fmt.Errorf("control %s: response longer than %d bytes", req.Op, MaxResponse)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return Response{}, fmt.Errorf("control %s: read response: %w", req.Op, ctxErr(ctx, err))
		}
		break
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return Response{}, fmt.Errorf("control %s: malformed response: %w", req.Op, err)
	}
	if !resp.OK {
		return resp, &AgentError{Msg: resp.Error, Kind: resp.Kind}
	}
	return resp, nil
}

// AgentError is an error the agent answered. errors.Is matches
// host.ErrNoHandler for Kind "no_handler".
type AgentError struct {
	Msg  string
	Kind string
}

func (e *AgentError) Error() string { return "agent: " + e.Msg }

// Is matches host.ErrNoHandler when the agent found no plugin for a URL.
func (e *AgentError) Is(target error) bool {
	return e.Kind == "no_handler" && target == host.ErrNoHandler
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Ping checks that the agent answers; the response carries its pid and
// version.
func (c *Client) Ping(ctx context.Context) (Response, error) {
	return c.Do(ctx, Request{Op: OpPing})
}

// Plugins returns the status of every plugin.
func (c *Client) Plugins(ctx context.Context) ([]host.PluginStatus, error) {
	r, err := c.Do(ctx, Request{Op: OpPlugins})
	return r.Plugins, err
}

// Open hands rawURL to the agent, which passes it to the plugin that
// registered the URL's scheme.
func (c *Client) Open(ctx context.Context, rawURL string) error {
	_, err := c.Do(ctx, Request{Op: OpOpen, URL: rawURL})
	return err
}

// Dashboard returns the URL of the agent's dashboard.
func (c *Client) Dashboard(ctx context.Context) (string, error) {
	r, err := c.Do(ctx, Request{Op: OpDashboard})
	return r.URL, err
}
