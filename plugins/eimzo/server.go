package eimzo

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/signet-agent/signet/sdk"
)

// HostKeys is what the plugin uses of the host's key service (the host's
// key store, behind its policy and consent); *sdk.KeyService implements it.
type HostKeys interface {
	Tokens(ctx context.Context, op sdk.Operation) ([]sdk.Token, error)
	Keys(ctx context.Context, op sdk.Operation) ([]sdk.Key, error)
	Key(ctx context.Context, keyURI string, op sdk.Operation) (sdk.Key, error)
	Signer(ctx context.Context, key sdk.Key, op sdk.Operation) crypto.Signer
	CreateCSR(ctx context.Context, keyURI string, template *x509.CertificateRequest, op sdk.Operation) ([]byte, error)
	GenerateKey(ctx context.Context, req sdk.GenerateKeyRequest, op sdk.Operation) (sdk.Key, error)
	ImportCertificate(ctx context.Context, req sdk.ImportCertificateRequest, op sdk.Operation) (sdk.Key, error)
}

// Consent is what the plugin uses of the host's consent system;
// *sdk.Consent implements it.
type Consent interface {
	Ask(ctx context.Context, keyURI string, op sdk.Operation) error
}

// Config configures a Server.
type Config struct {
	Keys    HostKeys
	Consent Consent
	Logger  *slog.Logger
	// KeyTTL is how long a keyId from load_key stays valid (E-IMZO:
	// "available for a certain time"); 0 means DefaultKeyTTL.
	KeyTTL time.Duration
	// TokenKey, when set, narrows the token keys the pseudo-ids (ckc,
	// idcard, baikey) may use to those whose URI starts with it (plugin
	// option token_key).
	TokenKey string
	// KeygenToken is the token pkcs10.generate_keypair creates keys on (a
	// pkcs11: token URI, plugin option keygen_token); empty means the only
	// writable PKCS#11 token (pkcs10.go).
	KeygenToken string
	// Limits bound connections and the memory their messages hold; zero
	// fields mean DefaultLimits.
	Limits Limits
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// DefaultKeyTTL is the default lifetime of a keyId.
const DefaultKeyTTL = 6 * time.Hour

// Limits of the transport.
const (
	// MaxFrame is the default largest request message from an allowed
	// origin (E-IMZO: 64 MiB; Limits.MaxFrame); a larger one closes the
	// connection with 1009 (message too big).
	MaxFrame = 64 << 20
	// FirstFrameTimeout is how long a new connection may stay silent.
	FirstFrameTimeout = time.Minute
	// KeepIdleTimeout is how long a ?keepConnection socket may stay idle
	// between requests.
	KeepIdleTimeout = 15 * time.Minute
)

// Server is the E-IMZO API: an http.Handler serving the WebSocket endpoint
// /service/cryptapi, the status page and the API documentation. One
// Server serves both listeners (wss and ws). It is safe for concurrent
// use; each connection is served by its own goroutine, and a request that
// waits for the person (consent, password) blocks only its connection.
type Server struct {
	keys    HostKeys
	consent Consent
	log     *slog.Logger
	keyTTL  time.Duration
	now     func() time.Time
	// tokenKeyPrefix narrows the pseudo-ids' token keys (Config.TokenKey).
	tokenKeyPrefix string
	// keygenToken is Config.KeygenToken.
	keygenToken string

	handles *handles // keyIds from load_key and generate_keypair

	limits  Limits          // with defaults filled in
	origins *allowedOrigins // origins the host accepted a call from
	conns   *connCounter    // open WebSocket connections
	budget  *budget         // message bytes being read or held

	mu      sync.Mutex
	langs   map[string]string // domain → "uz" (change_ui_lang); default "ru"
	apiKeys map[string]string // domain → a valid vendor API key presented for it

	upgrader websocket.Upgrader

	drainOnce sync.Once
	draining  chan struct{} // closed by Drain
}

// NewServer builds a Server.
func NewServer(cfg Config) *Server {
	s := &Server{
		keys:    cfg.Keys,
		consent: cfg.Consent,
		log:     cfg.Logger,
		keyTTL:  cfg.KeyTTL,
		now:     cfg.Now,
		langs:   map[string]string{},
		apiKeys: map[string]string{},

		draining: make(chan struct{}),

		tokenKeyPrefix: cfg.TokenKey,
		keygenToken:    cfg.KeygenToken,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.keyTTL <= 0 {
		s.keyTTL = DefaultKeyTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.handles = newHandles(s.now)
	s.limits = cfg.Limits.withDefaults()
	s.origins = newAllowedOrigins(s.limits.AllowedOriginTTL, s.now)
	s.conns = newConnCounter(s.limits)
	s.budget = newBudget(s.limits.FrameBudget, s.limits.strangerBudget())
	s.upgrader = websocket.Upgrader{
		// No buffers of its own per connection (e-imzo.js opens one for
		// every call): reads go through the HTTP server's reader, which
		// large reads bypass, and a write buffer is taken from the pool
		// for each message and given back when it is sent.
		ReadBufferSize:  0,
		WriteBufferSize: 16 << 10,
		WriteBufferPool: &sync.Pool{},
		// Every origin may connect: the Origin becomes the caller's
		// identity and the host's origin policy decides what it may do.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return s
}

// Drain tells the WebSocket connections that the plugin is stopping: an
// idle one, or a kept one once its request is answered, is closed with
// 1001 "Going Away"; a request in progress (waiting for the person, say)
// is answered first. It does not wait. Serve calls it when the drain
// starts (sdk.HTTPServer.OnDrain).
func (s *Server) Drain() { s.drainOnce.Do(func() { close(s.draining) }) }

// language returns the reply language for domain.
func (s *Server) language(domain string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.langs[domain]; l != "" {
		return l
	}
	return "ru"
}

// session is one WebSocket connection: the caller's identity, read once at
// the upgrade.
type session struct {
	server *Server
	origin string // the Origin header as policy sees it: scheme://host[:port], "null", or ""
	domain string // host part of the Origin; "null" for opaque origins; "" when unusable
	keep   bool   // ?keepConnection
}

// newSession reads the caller's identity from the upgrade request.
func (s *Server) newSession(r *http.Request) *session {
	origin, domain := parseOrigin(r.Header.Get("Origin"))
	_, keep := r.URL.Query()["keepConnection"]
	return &session{server: s, origin: origin, domain: domain, keep: keep}
}

// MaxHostname is the longest host name an Origin may carry (DNS: 253).
const MaxHostname = 253

// parseOrigin turns an Origin header into the origin policy sees and the
// E-IMZO domain (host without scheme and port). "null", file:// and other
// opaque origins are the domain "null" (E-IMZO ships an API key for it). A
// missing or unparsable Origin has no domain: non-main functions then
// answer -1021.
func parseOrigin(h string) (origin, domain string) {
	h = strings.TrimSpace(h)
	switch {
	case h == "":
		return "", ""
	case h == "null" || strings.HasPrefix(strings.ToLower(h), "file:"):
		return "null", "null"
	}
	u, err := url.Parse(h)
	// A host name longer than DNS allows is no domain (it would also
	// exceed what the host accepts as an operation's origin).
	if err != nil || u.Scheme == "" || u.Host == "" || u.Hostname() == "" || len(u.Hostname()) > MaxHostname {
		return "", ""
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "null", "null"
	}
	return scheme + "://" + strings.ToLower(u.Host), strings.ToLower(u.Hostname())
}

// operation builds the host Operation for a call of fn in sess.
func (s *Server) operation(sess *session, fn *function, summary string) sdk.Operation {
	op := sdk.Operation{
		Origin:  sess.origin,
		Summary: summary,
		Evidence: map[string]string{
			"eimzo_function": strings.TrimPrefix(fn.key(), "."),
		},
	}
	if op.Origin == "" {
		op.Caller = "E-IMZO client without an Origin header"
	}
	s.mu.Lock()
	key := s.apiKeys[sess.domain]
	s.mu.Unlock()
	if key != "" {
		op.Evidence["eimzo_apikey"] = "valid E-IMZO vendor API key for " + sess.domain + ": " + key
	} else {
		op.Evidence["eimzo_apikey"] = "no E-IMZO vendor API key presented for " + sess.domain
	}
	return op
}

// ServeHTTP routes: OPTIONS preflight, the WebSocket endpoint, the status
// page, the API documentation, and 404 for the rest.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		s.preflight(w, r)
		return
	}
	switch r.URL.Path {
	case "/service/cryptapi":
		if websocket.IsWebSocketUpgrade(r) {
			s.serveWebSocket(w, r)
			return
		}
		http.Error(w, "400 - WebSocket upgrade expected", http.StatusBadRequest)
	case "/":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "405 - Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		s.statusPage(w, r)
	case "/apidoc.html":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "405 - Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		s.apidocPage(w, r)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("404 - Not Found"))
	}
}

// preflight answers CORS and Chrome Private-Network-Access preflights as
// E-IMZO does.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Private-Network", "true")
	if o := r.Header.Get("Origin"); o != "" {
		h.Set("Access-Control-Allow-Origin", o)
		h.Add("Vary", "Origin")
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "*")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// frame is one text message read from a connection and the frame budget
// it holds until its reply is written.
type frame struct {
	data []byte
	hold *hold
}

// serveWebSocket serves one connection: one request and its reply, then a
// normal close (1000 "Done"); with ?keepConnection, requests one after the
// other until the client closes or stays idle.
//
// A reader goroutine owns reads: it hands text frames over and cancels the
// connection's context when the client goes away, so a request waiting for
// the person (consent, password) is withdrawn when the page closes.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	sess := s.newSession(r)
	release, admitErr := s.conns.admit(sess.origin, s.origins.allowed(sess.origin))
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		if release != nil {
			release()
		}
		return // the upgrader has answered the client
	}
	defer conn.Close()
	if admitErr != nil {
		s.log.Debug("connection refused", "origin", sess.origin, "err", admitErr)
		s.closeConn(conn, websocket.CloseTryAgainLater, "Try Again Later: too many connections")
		return
	}
	defer release()
	// e-imzo.js calls socket.close() as soon as the reply arrives, often
	// before our close frame is out, and the browser reports the code of
	// the first close frame we send. gorilla's default handler echoes the
	// client's empty status (the browser sees 1005, an error for e-imzo.js
	// ≥ 2023), so a close without a status is answered with 1000.
	conn.SetCloseHandler(func(code int, _ string) error {
		if code == websocket.CloseNoStatusReceived {
			code = websocket.CloseNormalClosure
		}
		s.closeConn(conn, code, "Done")
		return nil
	})

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// The reader must keep reading while a request waits for the person,
	// or it would not see the client leave: on a one-request connection it
	// drops the frames after the first (E-IMZO ignores them); on a kept
	// one, one pipelined request waits in the channel's buffer (a second
	// blocks the reader until the first is served).
	frames := make(chan frame, 1)
	go func() {
		defer cancel()
		defer close(frames)
		handed := false
		for {
			f, wanted, err := s.readMessage(ctx, conn, sess, handed && !sess.keep)
			if err != nil {
				s.readFailed(conn, sess, err)
				return
			}
			if !wanted {
				continue
			}
			select {
			case frames <- f:
				handed = true
			case <-ctx.Done():
				f.hold.release()
				return
			}
		}
	}()
	// When the connection ends, the reader is stopped (closing the
	// connection ends its read) and frames still buffered give their
	// budget back.
	defer func() {
		cancel()
		conn.Close()
		for f := range frames {
			f.hold.release()
		}
	}()

	idle := FirstFrameTimeout
	for {
		timer := time.NewTimer(idle)
		var f frame
		var ok bool
		select {
		case f, ok = <-frames:
			timer.Stop()
		case <-timer.C:
			s.closeConn(conn, websocket.CloseNormalClosure, "Idle")
			return
		case <-s.draining:
			timer.Stop()
			s.closeConn(conn, websocket.CloseGoingAway, "Going Away")
			return
		}
		if !ok {
			return
		}
		reply := s.handle(ctx, sess, f.data)
		err := conn.SetWriteDeadline(time.Now().Add(s.limits.ReplyTimeout))
		if err == nil {
			err = conn.WriteMessage(websocket.TextMessage, reply)
		}
		f.hold.release()
		if err != nil {
			return
		}
		if !sess.keep {
			s.closeConn(conn, websocket.CloseNormalClosure, "Done")
			// Wait briefly for the client's close reply (the reader
			// ends), so the client sees a clean close.
			t := time.NewTimer(5 * time.Second)
			defer t.Stop()
			for {
				select {
				case f, ok := <-frames:
					if ok {
						f.hold.release()
						continue // requests after the first are ignored
					}
				case <-t.C:
				}
				return
			}
		}
		idle = KeepIdleTimeout
	}
}

// readMessage reads the next message of conn. Text messages are read into
// memory under the frame budget unless discard is set; binary messages and
// discarded ones are read and dropped without being held (wanted false).
// The message must arrive within Limits.FrameTimeout of its first frame
// header, and may be at most Limits.MaxFrame bytes from an allowed origin,
// Limits.MaxFrameBeforeAllowed from any other.
func (s *Server) readMessage(ctx context.Context, conn *websocket.Conn, sess *session, discard bool) (f frame, wanted bool, err error) {
	// gorilla refuses a message longer than the large limit (close 1009)
	// at the frame header that declares it, or when fragments add up past
	// it; the small limit is checked below as the message arrives.
	conn.SetReadLimit(s.limits.MaxFrame)
	mt, r, err := conn.NextReader()
	if err != nil {
		return frame{}, false, err
	}
	if err := conn.SetReadDeadline(time.Now().Add(s.limits.FrameTimeout)); err != nil {
		return frame{}, false, err
	}
	if mt != websocket.TextMessage || discard {
		// E-IMZO ignores binary frames and requests after the first.
		if _, err := io.Copy(io.Discard, r); err != nil {
			return frame{}, false, err
		}
	} else {
		// Decided when the message starts, after any request before it
		// on this connection has been answered.
		stranger := !s.origins.allowed(sess.origin)
		limit := s.limits.MaxFrame
		if stranger {
			limit = s.limits.MaxFrameBeforeAllowed
		}
		h := s.budget.newHold(stranger)
		data, err := s.readFrame(ctx, r, limit, h)
		if err != nil {
			h.release()
			return frame{}, false, err
		}
		f, wanted = frame{data: data, hold: h}, true
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		f.hold.release()
		return frame{}, false, err
	}
	return f, wanted, nil
}

// minFrameBuffer is the first buffer of a message; it doubles as the
// message grows. The first buffer is not taken from the frame budget: like
// the WebSocket library's own buffers it is bounded by the connection
// limits, and it lets the small first calls of a page (version, apikey, a
// listing) through while large messages wait for budget.
const minFrameBuffer = 4 << 10

// readFrame reads one message of at most limit bytes from r. The buffer's
// capacity beyond minFrameBuffer is held in h, taken from the budget before
// the buffer grows (it doubles, so a message never holds more than twice
// its size, and at most limit).
func (s *Server) readFrame(ctx context.Context, r io.Reader, limit int64, h *hold) ([]byte, error) {
	var buf []byte
	for {
		if int64(len(buf)) == limit {
			// Full: only the end of the message may follow (the reader
			// enforces the limit itself too).
			var one [1]byte
			if n, err := r.Read(one[:]); n > 0 {
				return nil, errMessageTooBig
			} else if err == io.EOF {
				return buf, nil
			} else if err != nil {
				return nil, err
			}
			continue
		}
		if len(buf) == cap(buf) {
			n := min(max(2*int64(cap(buf)), minFrameBuffer), limit)
			if cap(buf) > 0 {
				if err := h.grow(ctx, n-int64(cap(buf)), s.limits.BudgetWait); err != nil {
					return nil, err
				}
			}
			grown := make([]byte, len(buf), n)
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// errMessageTooBig: a message passed the small limit of an origin not yet
// allowed (1009).
var errMessageTooBig = errors.New("message too big for an origin the host has not accepted")

// readFailed ends a connection whose read failed: close 1009 when a
// message passed the small limit, 1013 when the frame budget stayed
// exhausted, 1008 when a message was too slow; a message past the large
// limit has had its 1009 from gorilla, and a client that went away needs
// nothing.
func (s *Server) readFailed(conn *websocket.Conn, sess *session, err error) {
	var ne net.Error
	switch {
	case errors.Is(err, errMessageTooBig):
		s.log.Debug("connection closed", "origin", sess.origin, "err", err)
		s.closeConn(conn, websocket.CloseMessageTooBig, "Message Too Big")
	case errors.Is(err, ErrBusy):
		s.log.Debug("connection closed", "origin", sess.origin, "err", err)
		s.closeConn(conn, websocket.CloseTryAgainLater, "Try Again Later: busy")
	case errors.As(err, &ne) && ne.Timeout():
		s.log.Debug("connection closed", "origin", sess.origin, "err", "message too slow")
		s.closeConn(conn, websocket.ClosePolicyViolation, "Message too slow")
	}
}

// closeConn sends a close frame.
func (s *Server) closeConn(conn *websocket.Conn, code int, text string) {
	err := conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(5*time.Second))
	if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
		s.log.Debug("close", "err", err)
	}
}
