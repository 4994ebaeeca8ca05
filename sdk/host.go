package sdk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/signet-agent/signet/internal/peercred"
	"github.com/signet-agent/signet/internal/wire"
	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
)

// Host is the plugin's handle on the Signet host. It is safe for concurrent
// use. The plugin receives it in Serve.
type Host struct {
	name    string
	conn    *grpc.ClientConn
	keys    *KeyService
	consent *Consent
	log     *logSender
	logger  *slog.Logger
	tls     pb.TLSClient
	options map[string]string
	now     func() time.Time // clock for certificate renewal; nil means time.Now (tests set it)

	specs    map[string]ListenerSpec
	required int // non-optional listeners
	override map[string]*pb.ListenerConfig

	mu            sync.Mutex
	stopTimeout   time.Duration // what the host allows for stopping; set before ctx is cancelled
	bound         map[string]*pb.BoundListener
	boundRequired int
	ready         chan struct{} // closed when every required listener is bound
}

func newHost(conn *grpc.ClientConn, desc Description, req *pb.StartRequest) *Host {
	h := &Host{
		name:     desc.Name,
		conn:     conn,
		keys:     &KeyService{c: pb.NewKeyStoreClient(conn)},
		consent:  &Consent{c: pb.NewConsentClient(conn)},
		tls:      pb.NewTLSClient(conn),
		options:  req.GetOptions(),
		specs:    map[string]ListenerSpec{},
		override: map[string]*pb.ListenerConfig{},
		bound:    map[string]*pb.BoundListener{},
		ready:    make(chan struct{}),
	}
	if n := req.GetPluginName(); n != "" {
		h.name = n
	}
	h.log = newLogSender(pb.NewLogClient(conn), slog.Level(req.GetLogLevel()))
	h.logger = slog.New(h.log)
	for _, l := range desc.Listeners {
		h.specs[l.Name] = l
		if !l.Optional {
			h.required++
		}
	}
	for _, l := range req.GetListen() {
		h.override[l.GetName()] = l
	}
	if h.required == 0 {
		close(h.ready)
	}
	return h
}

// Name is the plugin's name as the host knows it.
func (h *Host) Name() string { return h.name }

// KeyService is the plugin's client of the host's key service: tokens,
// keys, signing and key management, under the host's policy and consent.
func (h *Host) KeyService() *KeyService { return h.keys }

// Consent asks the person (or the policy) about operations.
func (h *Host) Consent() *Consent { return h.consent }

// Logger returns a logger whose records appear in the host's log, tagged
// with the plugin's name. Records below the host's log level are dropped
// in the plugin, unsent, so debug logging costs nothing unless the host
// keeps it. Never log a secret.
func (h *Host) Logger() *slog.Logger { return h.logger }

// Option returns the plugin option name from the host configuration, or "".
func (h *Host) Option(name string) string { return h.options[name] }

// Options returns a copy of all plugin options from the host configuration.
func (h *Host) Options() map[string]string {
	out := make(map[string]string, len(h.options))
	for k, v := range h.options {
		out[k] = v
	}
	return out
}

// Listen binds the listener declared in the Description under name, at the
// address the host configuration gives (or the declared default). Only
// loopback addresses are accepted: a plugin never listens on the network.
// Loopback is shared by every local user, so the listener also resets, at
// once and before any byte is read, each connection whose peer socket is
// not owned by the plugin's own user (on Linux; see internal/peercred),
// and logs the refusal (rate-limited) with the peer's uid.
// For a TLS listener the certificate comes from the host's local CA and is
// renewed before it expires. Each name can be bound once per Serve.
func (h *Host) Listen(ctx context.Context, name string) (net.Listener, error) {
	spec, ok := h.specs[name]
	if !ok {
		return nil, fmt.Errorf("listen %q: not declared in the plugin's Description", name)
	}
	addr := spec.Addr
	extraNames := spec.TLSNames
	if o := h.override[name]; o != nil {
		if o.GetAddr() != "" {
			addr = o.GetAddr()
		}
		extraNames = append(append([]string(nil), extraNames...), o.GetTlsNames()...)
	}
	hostPart, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen %q on %q: %w", name, addr, err)
	}
	if !isLoopbackHost(hostPart) {
		return nil, fmt.Errorf("listen %q on %q: refused, plugins listen on loopback addresses only (127.0.0.1, ::1, localhost)", name, addr)
	}
	h.mu.Lock()
	_, dup := h.bound[name]
	h.mu.Unlock()
	if dup {
		return nil, fmt.Errorf("listen %q: already bound", name)
	}
	var cfg *tls.Config
	if spec.TLS {
		names := append([]string{"localhost", "127.0.0.1", "::1"}, extraNames...)
		cfg, err = h.TLSConfig(ctx, names...)
		if err != nil {
			return nil, fmt.Errorf("listen %q: %w", name, err)
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", name, err)
	}
	// Loopback is open to every local user: admit only our own, before TLS.
	ln = peercred.NewListener(ln, h.logger)
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bound[name] = &pb.BoundListener{Name: name, Addr: ln.Addr().String(), Tls: spec.TLS}
	if !spec.Optional {
		h.boundRequired++
	}
	if h.boundRequired == h.required {
		select {
		case <-h.ready:
		default:
			close(h.ready)
		}
	}
	return ln, nil
}

// setStopTimeout records how long the host waits for Serve to return.
func (h *Host) setStopTimeout(d time.Duration) {
	h.mu.Lock()
	h.stopTimeout = d
	h.mu.Unlock()
}

// drainTimeout is how long a server may drain once Serve's ctx is
// cancelled: the host's stop timeout less a margin for returning and
// flushing the log, or DefaultDrainTimeout.
func (h *Host) drainTimeout() time.Duration {
	h.mu.Lock()
	d := h.stopTimeout
	h.mu.Unlock()
	if d <= 0 {
		return DefaultDrainTimeout
	}
	return d - min(d/10, time.Second)
}

func (h *Host) boundListeners() []*pb.BoundListener {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*pb.BoundListener
	for _, l := range h.bound {
		out = append(out, l)
	}
	return out
}

// TLSConfig returns a server tls.Config with a certificate for names issued
// by the host's local CA. The certificate is fetched now and re-issued in
// the background of a handshake when less than a third of its lifetime is
// left.
func (h *Host) TLSConfig(ctx context.Context, names ...string) (*tls.Config, error) {
	c := &certCache{h: h, names: names}
	if _, err := c.fetch(ctx); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.get,
		NextProtos:     []string{"h2", "http/1.1"},
		// Key exchange without ML-KEM: see loopbackCurves.
		CurvePreferences: loopbackCurves,
	}, nil
}

// loopbackCurves are the key exchanges of the plugins' TLS listeners:
// X25519, or P-256 for a client without it, and not the hybrid
// X25519MLKEM768 that browsers offer first. A listener is on a loopback
// address and admits only the agent's own user (Listen), so the traffic
// never leaves the machine and nobody who could record it lacks the
// means to read the processes' memory: a post-quantum exchange, which
// guards recorded traffic against a future quantum computer, protects
// nothing here. It cost about a fifth of the plugin's TLS handshake, paid
// on every call by clients that open a connection per call (e-imzo.js),
// and as much again in the browser (docs/benchmarks.md). Browsers send an
// X25519 key share next to the hybrid one, so choosing X25519 costs no
// extra round trip.
var loopbackCurves = []tls.CurveID{tls.X25519, tls.CurveP256}

type certCache struct {
	h     *Host
	names []string

	mu       sync.Mutex
	cert     *tls.Certificate
	renewAt  time.Time
	renewing bool
}

func (c *certCache) fetch(ctx context.Context) (*tls.Certificate, error) {
	resp, err := c.h.tls.IssueCertificate(ctx, &pb.IssueCertificateRequest{Names: c.names})
	if err != nil {
		return nil, fmt.Errorf("issue TLS certificate for %v: %w", c.names, fromHost(err))
	}
	cert, err := tls.X509KeyPair(resp.GetCertChainPem(), resp.GetKeyPem())
	if err != nil {
		return nil, fmt.Errorf("TLS certificate from host: %w", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("TLS certificate from host: %w", err)
	}
	cert.Leaf = leaf
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	c.mu.Lock()
	c.cert = &cert
	c.renewAt = leaf.NotAfter.Add(-life / 3)
	c.mu.Unlock()
	return &cert, nil
}

func (c *certCache) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	cert := c.cert
	now := time.Now
	if c.h.now != nil {
		now = c.h.now
	}
	renew := !c.renewing && now().After(c.renewAt)
	if renew {
		c.renewing = true
	}
	c.mu.Unlock()
	if renew {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := c.fetch(ctx); err != nil {
				c.h.Logger().Warn("renew TLS certificate", "error", err)
			}
			c.mu.Lock()
			c.renewing = false
			c.mu.Unlock()
		}()
	}
	if cert == nil {
		return nil, errors.New("no TLS certificate")
	}
	return cert, nil
}

// Consent asks whether an operation may go ahead.
type Consent struct{ c pb.ConsentClient }

// Ask asks the host's consent system whether op may go ahead (keyURI may be
// empty when no key is concerned, e.g. for an origin's first use). It
// returns nil when allowed, else an error matching ErrDenied, ErrTimeout or
// ErrCancelled. The host also asks on its own before every key use; Ask is
// for decisions the protocol needs earlier (E-IMZO's domain authorisation).
func (c *Consent) Ask(ctx context.Context, keyURI string, op Operation) error {
	resp, err := c.c.Ask(ctx, &pb.AskRequest{Op: op.proto(pb.Operation_ORIGIN), KeyUri: keyURI})
	if err != nil {
		return fromHost(err)
	}
	op.grantIssued(resp.GetGrantId())
	return nil
}

// Confirm asks the person whether op.Origin may go ahead even when they
// allowed the origin before ("always") — for a protocol's own trust
// decision that the host's remembered answer must not settle, such as a
// CryptoARM portal presenting another certificate than the one the person
// trusted. The host shows the origin question with op's summary and
// evidence. The administrator's allow list and unattended rules still
// decide without a question; a local caller (no Origin) is not asked. It
// returns nil when allowed, else an error matching ErrDenied, ErrTimeout or
// ErrCancelled. (A host that predates it asks as Ask does.)
func (c *Consent) Confirm(ctx context.Context, op Operation) error {
	if _, err := c.c.Ask(ctx, &pb.AskRequest{Op: op.proto(pb.Operation_ORIGIN), Confirm: true}); err != nil {
		return fromHost(err)
	}
	return nil
}

// GrantSign asks the person for a grant alone, before any signature
// (Cipher's accessToken): "allow op.Origin op.GrantUses signatures with the
// key keyURI within op.GrantWithin". op.GrantUses must be at least 1. It
// returns the grant's id, which later Sign calls present in
// Operation.GrantID (all op.GrantUses uses remain). An empty id with a nil
// error means the request was allowed without a grant — an unattended
// policy allows such signatures, or the person allowed the origin for this
// request only — and each signature is then decided on its own. A refusal
// matches ErrDenied, ErrTimeout or ErrCancelled.
func (c *Consent) GrantSign(ctx context.Context, keyURI string, op Operation) (string, error) {
	resp, err := c.c.Ask(ctx, &pb.AskRequest{Op: op.proto(pb.Operation_SIGN), KeyUri: keyURI, GrantOnly: true})
	if err != nil {
		return "", fromHost(err)
	}
	op.grantIssued(resp.GetGrantId())
	return resp.GetGrantId(), nil
}

// KeyChoice is the key the person picked, and the grant covering its one use.
type KeyChoice struct {
	// Key is the picked key in full: certificate and chain included, its
	// URI exactly as passed to ChooseKey. No further KeyService.Key lookup
	// is needed (nor would it be allowed without a question for a
	// first-use origin the person allowed only once).
	Key Key
	// KeyURI is Key.URI.
	KeyURI string
	// GrantID names a one-use grant for one signature with KeyURI: present
	// it as Operation.GrantID on the Sign that follows, so the person is not
	// asked a second time. Only that Sign can use it (it is bound to the
	// origin, the plugin and the key, and is not found without its id), and
	// it expires after ChooseKeyGrantTTL. Empty when the host chose by
	// policy (an unattended rule allows the signature and there was one
	// candidate) or the caller is local: the Sign is then decided on its own.
	GrantID string
}

// KeyFilter is what a candidate must have to be shown by ChooseKey. The
// host checks it against each candidate before asking; the zero value
// shows every known candidate with a private key.
type KeyFilter struct {
	// Certificate: only keys with a certificate.
	Certificate bool
	// Algorithms, when set, are the only key algorithms shown.
	Algorithms []KeyAlgorithm
}

// MaxKeyChoices bounds the candidates of one ChooseKey call.
const MaxKeyChoices = wire.MaxNames

// ChooseKeyGrantTTL is how long the grant of a KeyChoice stays usable.
const ChooseKeyGrantTTL = wire.ChooseKeyGrantTTL

// ChooseKey asks the person to pick one of keyURIs for op (a signature: op
// as for Sign), for protocols whose page names no key but "whatever key the
// person picks" (E-IMZO's "ckc", "idcard", "baikey"). The host shows one
// dialog with the origin, op's summary and documents, and the candidates it
// knows that pass filter (label, certificate subject, issuer, validity);
// it drops the others. Picking a key and allowing is the consent for ONE
// signature with that key: the host creates a one-use grant and returns
// its id in KeyChoice.GrantID; present it as Operation.GrantID on the Sign
// that follows. KeyChoice.Key is the picked key in full. A choice for a
// batch sets op.GrantUses to N (at most 100) and op.Documents to
// the N documents: the person picks the key once for all of them, the
// grant has N uses, and each of the N Signs presents it.
//
// The host's origin policy applies first, exactly as for Sign (an origin
// the administrator denies, or the person refused for good, is refused
// without a dialog; a first-use origin gets the first-use choices in the
// same dialog). Without a person to ask, an unattended rule that allows the
// signature picks the only candidate (GrantID empty); with several
// candidates and no one to ask it is refused.
//
// Errors: ErrDenied, ErrTimeout or ErrCancelled as for Consent.Ask;
// ErrKeyNotFound when the host knows none of keyURIs or none passes filter
// (for an origin the person has not allowed yet that is ErrDenied: such an
// origin learns nothing about the keys); ErrInvalidRequest for no
// candidates, more than MaxKeyChoices, or an op that presents a grant
// (GrantID) or asks for more than 100 signatures;
// ErrUnsupported from a host that predates ChooseKey (a host that predates
// batches refuses GrantUses > 1 with ErrInvalidRequest).
func (c *Consent) ChooseKey(ctx context.Context, keyURIs []string, filter KeyFilter, op Operation) (KeyChoice, error) {
	if len(keyURIs) == 0 || len(keyURIs) > MaxKeyChoices {
		return KeyChoice{}, fmt.Errorf("choose key: %d candidates (1 to %d): %w", len(keyURIs), MaxKeyChoices, ErrInvalidRequest)
	}
	req := &pb.ChooseKeyRequest{Op: op.proto(pb.Operation_SIGN), KeyUris: keyURIs, NeedCertificate: filter.Certificate}
	for _, a := range filter.Algorithms {
		req.Algorithms = append(req.Algorithms, string(a))
	}
	resp, err := c.c.ChooseKey(ctx, req)
	if err != nil {
		return KeyChoice{}, fromHost(err)
	}
	if resp.GetKey() == nil {
		return KeyChoice{}, fmt.Errorf("choose key: the host returned no key for %s: %w", resp.GetKeyUri(), ErrUnsupported)
	}
	key, err := keyFromProto(resp.GetKey())
	if err != nil {
		return KeyChoice{}, fmt.Errorf("choose key: %w", err)
	}
	return KeyChoice{Key: key, KeyURI: key.URI, GrantID: resp.GetGrantId()}, nil
}
