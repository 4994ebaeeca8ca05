package sdk

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/profiling"
	"github.com/signet-agent/signet/internal/wire"
	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
)

// ProtocolVersion is the host↔plugin protocol version this SDK speaks.
const ProtocolVersion = wire.ProtocolVersion

// Sentinel errors a host call may return (wrapped, with context): test
// them with errors.Is. They are the very values the host's key store and
// consent use, so they survive the trip across the process boundary.
var (
	ErrPINIncorrect   = hsm.ErrPINIncorrect
	ErrPINLocked      = hsm.ErrPINLocked
	ErrFinalTry       = hsm.ErrFinalTry
	ErrTokenRemoved   = hsm.ErrTokenRemoved
	ErrKeyNotFound    = hsm.ErrKeyNotFound
	ErrCancelled      = hsm.ErrCancelled
	ErrUnsupported    = hsm.ErrUnsupported
	ErrInvalidURI     = hsm.ErrInvalidURI
	ErrInvalidRequest = hsm.ErrInvalidRequest
	ErrDenied         = hsm.ErrDenied
	ErrTimeout        = hsm.ErrTimeout
	// ErrUnavailable: the host is gone or shutting down.
	ErrUnavailable = wire.ErrUnavailable
)

// Plugin is what a plugin author implements.
type Plugin interface {
	// Describe says who the plugin is and what listeners it needs. It is
	// called before Serve and must not block.
	Describe() Description
	// Serve runs the plugin until ctx is done. It binds the declared
	// listeners with host.Listen; the host considers the plugin ready when
	// all of them are bound.
	Serve(ctx context.Context, host *Host) error
}

// URLHandler is implemented by plugins that declare URL schemes.
type URLHandler interface {
	OpenURL(ctx context.Context, url string) error
}

// Description is what the host learns about a plugin.
type Description struct {
	Name    string // short, lowercase: "eimzo", "example"
	Version string // the plugin's own version
	Summary string // one line for `signet plugins`
	// URLSchemes the plugin handles, without "://".
	URLSchemes []string
	// Listeners the plugin binds. The host's configuration may override
	// each one's address by name.
	Listeners []ListenerSpec
}

// ListenerSpec is one listener a plugin binds with Host.Listen.
type ListenerSpec struct {
	Name string // "https", "wss", …; unique within the plugin
	// Addr is the default address, "127.0.0.1:8443"; the host part must be
	// a loopback address or "localhost". Port 0 picks a free port.
	Addr string
	// TLS serves TLS with a certificate from the host's local CA for the
	// loopback names plus TLSNames.
	TLS      bool
	TLSNames []string
	// Optional listeners do not hold up readiness: the plugin may bind
	// them later, or not at all.
	Optional bool
}

// Operation describes what a host call is for: the host shows it to the
// person and records it in the journal.
type Operation struct {
	// Origin is the web origin that asks (scheme://host[:port], or "null").
	Origin string
	// Caller describes a local caller when there is no web origin.
	Caller string
	// Summary is a human description: "Sign contract.pdf for portal X".
	Summary   string
	Documents []Document
	// Evidence is protocol evidence the host records and shows (an
	// API key, a pinned portal certificate fingerprint, …).
	Evidence map[string]string
	// RequestID names one logical request; the host signs at most once per
	// non-empty id. Leave empty to let the SDK generate one per call.
	RequestID string
	// SummaryHTML is an HTML description shown in the consent dialog
	// (Cipher's metaData). The host keeps only a safe subset — text
	// formatting, lists and tables; no links, images, styles, scripts or
	// attributes — and refuses more than MaxSummaryHTML bytes.
	SummaryHTML string

	// GrantUses > 1 offers the person a grant (Cipher's accessToken):
	// "allow this origin GrantUses operations of this kind with this key
	// within GrantWithin", this call included. GrantWithin 0 takes the
	// host's default (10 minutes); the host caps both. When the person
	// accepts, the host creates the grant and reports its id to OnGrant.
	GrantUses   int
	GrantWithin time.Duration
	// GrantID presents a grant the page was given earlier (the id OnGrant
	// received). Only that grant may then cover the call: the host refuses
	// when it is unknown, used up, expired, or for another origin, key or
	// operation — it does not fall back to asking.
	GrantID string
	// OnGrant, when set, is called with the id of the grant the person
	// accepted during this call (KeyService.Sign, or the Sign of a
	// KeyService.Signer), before the call returns. Hand the id
	// to the page (Cipher's accessTokenUuid); it presents it back as
	// GrantID. Not called when no grant was created.
	OnGrant func(grantID string)

	// ForChoice marks a KeyService.Keys or Key call that only gathers the
	// candidates of a Consent.ChooseKey. For a web origin the person has
	// not allowed yet, the host then asks nothing and returns each key with
	// Key.Withheld set: its URI and capabilities only, nothing that names
	// the key or its owner. The ChooseKey that follows puts the origin's
	// first-use question in the choice's own dialog and returns the picked
	// key in full. An origin already allowed gets the keys in full; one the
	// administrator or the person refused gets nothing (ErrDenied).
	// KeyService.Tokens and the other calls ignore it.
	ForChoice bool
}

// MaxSummaryHTML bounds Operation.SummaryHTML.
const MaxSummaryHTML = wire.MaxSummaryHTML

// grantIssued reports a grant id from a host response to op.OnGrant.
func (op Operation) grantIssued(id string) {
	if id != "" && op.OnGrant != nil {
		op.OnGrant(id)
	}
}

// Document is one document an operation concerns.
type Document struct {
	Name        string
	Size        int64
	SHA256      []byte
	ContentType string
}

// DocumentOf describes data as a Document.
func DocumentOf(name, contentType string, data []byte) Document {
	sum := sha256.Sum256(data)
	return Document{Name: name, Size: int64(len(data)), SHA256: sum[:], ContentType: contentType}
}

func (op Operation) proto(kind pb.Operation_Kind) *pb.Operation {
	out := &pb.Operation{
		Kind:      kind,
		Origin:    op.Origin,
		Caller:    op.Caller,
		Summary:   op.Summary,
		Evidence:  op.Evidence,
		RequestId: op.RequestID,

		SummaryHtml:        op.SummaryHTML,
		GrantUses:          int32(min(max(op.GrantUses, 0), math.MaxInt32)),
		GrantWithinSeconds: int64(op.GrantWithin.Round(time.Second) / time.Second),
		GrantId:            op.GrantID,
		ForChoice:          op.ForChoice && kind == pb.Operation_LIST,
	}
	for _, d := range op.Documents {
		out.Documents = append(out.Documents, &pb.Document{Name: d.Name, Size: d.Size, Sha256: d.SHA256, ContentType: d.ContentType})
	}
	return out
}

// Serve runs p as a Signet plugin: it performs the handshake with the host
// and serves until the host stops it or dies. Call it from main; it does not
// return.
func Serve(p Plugin) {
	desc := p.Describe()
	if os.Getenv(wire.Handshake.MagicCookieKey) != wire.Handshake.MagicCookieValue {
		fmt.Fprintf(os.Stderr, "%s is a Signet plugin (protocol %d). It is started by `signet serve`, not by hand.\n"+
			"Put it in the plugin directory or name it in the Signet configuration.\n", os.Args[0], ProtocolVersion)
		os.Exit(1)
	}
	srv := newServer(p, desc)
	srv.stopProfile = profiling.Start(os.Getenv(profiling.EnvDir), desc.Name)
	go watchParent(srv)
	go srv.handleSignals()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         plugin.PluginSet{wire.PluginKey: &grpcPlugin{srv: srv}},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: desc.Name, Level: hclog.Warn, Output: os.Stderr, JSONFormat: true,
		}),
	})
	// go-plugin returns when the host closes the connection.
	srv.stop(2 * time.Second)
	srv.exit(0)
}

// grpcPlugin is the go-plugin glue on the plugin side.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv *server
}

func (g *grpcPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	g.srv.broker = broker
	pb.RegisterPluginServer(s, g.srv)
	return nil
}

func (g *grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("sdk: a plugin has no client side")
}

// server implements the Plugin service for the host.
type server struct {
	pb.UnimplementedPluginServer
	p      Plugin
	desc   Description
	broker *plugin.GRPCBroker

	mu      sync.Mutex
	host    *Host
	cancel  context.CancelFunc
	done    chan struct{} // closed when Serve returned
	stopped bool          // the host asked us to stop

	stopProfile func() // ends the CPU profile (profiling.Start)
}

func newServer(p Plugin, desc Description) *server {
	return &server{p: p, desc: desc}
}

func (s *server) Describe(context.Context, *pb.DescribeRequest) (*pb.Description, error) {
	d := &pb.Description{
		Name:            s.desc.Name,
		Version:         s.desc.Version,
		ProtocolVersion: ProtocolVersion,
		Summary:         s.desc.Summary,
		UrlSchemes:      s.desc.URLSchemes,
	}
	for _, l := range s.desc.Listeners {
		d.Listeners = append(d.Listeners, &pb.ListenerSpec{Name: l.Name, Addr: l.Addr, Tls: l.TLS, TlsNames: l.TLSNames})
	}
	return d, nil
}

// startTimeout bounds how long Start waits for the declared listeners.
const startTimeout = 30 * time.Second

func (s *server) Start(ctx context.Context, req *pb.StartRequest) (*pb.StartResponse, error) {
	s.mu.Lock()
	if s.host != nil {
		s.mu.Unlock()
		return nil, status.Error(codes.FailedPrecondition, "plugin already started")
	}
	conn, err := s.broker.Dial(req.GetHostBrokerId())
	if err != nil {
		s.mu.Unlock()
		return nil, status.Errorf(codes.Unavailable, "dial host services: %v", err)
	}
	host := newHost(conn, s.desc, req)
	runCtx, cancel := context.WithCancel(context.Background())
	s.host, s.cancel, s.done = host, cancel, make(chan struct{})
	done := s.done
	s.mu.Unlock()

	errc := make(chan error, 1)
	go func() {
		defer close(done)
		err := s.p.Serve(runCtx, host)
		errc <- err
		s.mu.Lock()
		stopped := s.stopped
		s.mu.Unlock()
		if stopped {
			return
		}
		// Serve ended without the host asking: exit, the host restarts us.
		if err != nil {
			host.Logger().Error("plugin failed", "error", err)
		} else {
			host.Logger().Error("plugin Serve returned without being stopped")
		}
		host.flushLogs(time.Second)
		os.Exit(1)
	}()

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-host.ready:
		return &pb.StartResponse{Listeners: host.boundListeners()}, nil
	case err := <-errc:
		if err == nil {
			err = errors.New("Serve returned before binding its listeners")
		}
		return nil, status.Errorf(codes.Aborted, "plugin %s: %v", s.desc.Name, err)
	case <-timer.C:
		return nil, status.Errorf(codes.DeadlineExceeded, "plugin %s: listeners not bound within %v", s.desc.Name, startTimeout)
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

func (s *server) OpenURL(ctx context.Context, req *pb.OpenURLRequest) (*pb.OpenURLResponse, error) {
	h, ok := s.p.(URLHandler)
	if !ok {
		return nil, wire.ToStatus(fmt.Errorf("plugin %s opens no URLs: %w", s.desc.Name, ErrUnsupported))
	}
	if err := h.OpenURL(ctx, req.GetUrl()); err != nil {
		return nil, wire.ToStatus(err)
	}
	return &pb.OpenURLResponse{}, nil
}

func (s *server) Stop(ctx context.Context, req *pb.StopRequest) (*pb.StopResponse, error) {
	timeout := time.Duration(req.GetTimeoutMs()) * time.Millisecond
	if timeout <= 0 || timeout > time.Minute {
		timeout = 5 * time.Second
	}
	s.stop(timeout)
	return &pb.StopResponse{}, nil
}

// stop cancels Serve and waits up to timeout for it to return.
func (s *server) stop(timeout time.Duration) {
	s.mu.Lock()
	s.stopped = true
	cancel, done, host := s.cancel, s.done, s.host
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	host.setStopTimeout(timeout)
	cancel()
	select {
	case <-done:
	case <-time.After(timeout):
		host.Logger().Warn("plugin did not stop in time", "timeout", timeout)
	}
	host.flushLogs(time.Second)
}

// handleSignals makes SIGTERM stop the plugin gracefully; the kernel sends
// it when the host dies (Pdeathsig on Linux). SIGINT (Ctrl-C in the host's
// terminal reaches the whole process group) is left to go-plugin, which
// ignores it: the host decides when its plugins stop.
func (s *server) handleSignals() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	<-ch
	s.stop(3 * time.Second)
	s.exit(0)
}

// exit ends the CPU profile, if one is being taken, and the process.
func (s *server) exit(code int) {
	if s.stopProfile != nil {
		s.stopProfile()
	}
	os.Exit(code)
}

// isLoopbackHost reports whether host (from host:port) names a loopback
// address.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
