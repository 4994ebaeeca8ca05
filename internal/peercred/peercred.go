// Package peercred admits only the agent's own user to its listeners.
// Loopback is not private: every local user can connect to 127.0.0.1 and
// ::1. A [Listener] made by [NewListener] asks the kernel, for each accepted
// connection, which uid owns the socket at the other end, and resets the
// connection at once — before any byte is read and before the TLS handshake
// — unless that uid is the agent's own. Root is refused too, unless the
// agent itself runs as root; every lookup failure refuses (fail closed).
// [Check] does the same for one connection, TCP or unix socket (the control
// socket uses it). Only Linux is supported ([Supported]); elsewhere [UID]
// returns [ErrUnsupported] and a Listener admits every connection, after
// logging a warning once.
//
//	ln, err := net.Listen("tcp", "127.0.0.1:8443")
//	if err != nil {
//		return err
//	}
//	ln = tls.NewListener(peercred.NewListener(ln, logger), tlsConfig)
//
// Design: docs/peer-credentials.md (why the same uid and nobody else, how
// the owner is found, the measured cost, other systems).
package peercred

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// Errors UID returns (wrapped with the connection's addresses).
var (
	// ErrUnsupported: this system cannot tell who owns a peer socket.
	ErrUnsupported = errors.New("peer credentials are not available on this system")
	// ErrNotFound: the peer socket is gone or no longer open (its owner
	// closed it), so it has no owner to check.
	ErrNotFound = errors.New("peer socket not found")
	// ErrOtherUser: the peer belongs to another user (returned by Check).
	ErrOtherUser = errors.New("peer belongs to another user")
)

// Supported reports whether UID can find a TCP peer's owner on this system.
const Supported = supported

// Check returns nil when the peer of c runs as the uid owner. It wraps
// ErrOtherUser for another user, and UID's error when the owner is unknown.
func Check(c net.Conn, owner uint32) error {
	uid, err := UID(c)
	if err != nil {
		return err
	}
	if uid != owner {
		return fmt.Errorf("%w: uid %d", ErrOtherUser, uid)
	}
	return nil
}

// logEvery bounds the refusal log to one record per interval per listener.
const logEvery = 10 * time.Second

// Listener wraps a net.Listener and accepts only connections whose peer
// runs as the listener's owner (see the package doc). It is safe for
// concurrent use, like the listener it wraps.
type Listener struct {
	net.Listener
	owner  uint32
	lookup func(net.Conn) (uint32, error)
	log    *slog.Logger
	now    func() time.Time
	// release frees what lookup holds (nil: nothing), on Close.
	release func() error

	mu         sync.Mutex
	lastLog    time.Time
	suppressed int
}

// NewListener returns ln admitting only connections from this process's
// user (os.Getuid). Refusals are logged to log (nil: slog.Default) at most
// once every ten seconds, with the peer's uid. On a system without peer
// credentials it logs a warning now and admits everyone.
func NewListener(ln net.Listener, log *slog.Logger) *Listener {
	r := newResolver()
	l := newListener(ln, log, uint32(os.Getuid()), r.uid)
	l.release = r.close
	return l
}

func newListener(ln net.Listener, log *slog.Logger, owner uint32, lookup func(net.Conn) (uint32, error)) *Listener {
	if log == nil {
		log = slog.Default()
	}
	if !Supported {
		log.Warn("peer credentials are not available on this system: other local users can connect to this loopback listener",
			"addr", ln.Addr().String())
	}
	return &Listener{Listener: ln, owner: owner, lookup: lookup, log: log, now: time.Now}
}

// Accept returns the next connection whose peer runs as the owner. Other
// connections are reset and closed without reading from them; Accept then
// waits for the next one. Errors are the wrapped listener's.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uid, err := l.lookup(c)
		switch {
		case err == nil && uid == l.owner:
			return c, nil
		case errors.Is(err, ErrUnsupported):
			return c, nil // warned in NewListener
		}
		l.refused(c, uid, err)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // reset: the peer learns at once, no TIME_WAIT here
		}
		c.Close()
	}
}

// Close closes the wrapped listener and the lookup's netlink socket.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	if l.release != nil {
		l.release()
	}
	return err
}

// refused logs a refused connection, at most once per logEvery.
func (l *Listener) refused(c net.Conn, uid uint32, err error) {
	now := l.now()
	l.mu.Lock()
	if !l.lastLog.IsZero() && now.Sub(l.lastLog) < logEvery {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.lastLog = now
	suppressed := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	attrs := []any{"addr", l.Addr().String(), "peer", c.RemoteAddr().String()}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	} else {
		attrs = append(attrs, "peer_uid", uid, "own_uid", l.owner)
	}
	if suppressed > 0 {
		attrs = append(attrs, "refused_since_last_log", suppressed)
	}
	l.log.Warn("connection refused: the peer is not this user", attrs...)
}
