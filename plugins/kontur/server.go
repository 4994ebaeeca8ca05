package kontur

import (
	"context"
	"crypto"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/signet-agent/signet/plugins/kontur/store"
	"github.com/signet-agent/signet/sdk"
)

// HostKeys is what the server uses of the host's key service (the
// *sdk.KeyService a plugin gets): the key, a signer, a decryption.
type HostKeys interface {
	Key(ctx context.Context, keyURI string, op sdk.Operation) (sdk.Key, error)
	Signer(ctx context.Context, key sdk.Key, op sdk.Operation) crypto.Signer
	Decrypt(ctx context.Context, keyURI string, ciphertext []byte, opts crypto.DecrypterOpts, op sdk.Operation) ([]byte, error)
}

// Server is the cloud-signing API of one replica.
type Server struct {
	cfg    *Config
	st     *store.Store
	keys   HostKeys
	auth   *authenticator
	notify Notifier
	log    *slog.Logger
}

// NewServer builds the API over an open store and the host's keys.
func NewServer(cfg *Config, st *store.Store, keys HostKeys, log *slog.Logger) (*Server, error) {
	s := &Server{cfg: cfg, st: st, keys: keys, log: log, auth: &authenticator{cfg: cfg}}
	if cfg.Auth.OIDC != nil {
		v, err := newOIDCVerifier(*cfg.Auth.OIDC)
		if err != nil {
			return nil, err
		}
		s.auth.oidc = v
	}
	n, err := newNotifier(cfg.Notifier)
	if err != nil {
		return nil, err
	}
	s.notify = n
	return s, nil
}

// Handler routes the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, p := range signPlaces {
		mux.Handle("POST "+p.prefix+"/cloud-sign", s.authed(s.signInit(p)))
		mux.Handle("POST "+p.prefix+"/cloud-sign-confirm", s.authed(s.signConfirm(p)))
		mux.Handle("GET "+p.prefix+"/tasks/{task}", s.authed(s.task(p)))
		if p.draft {
			mux.Handle("PUT "+p.prefix+"/documents/{document}/content", s.authed(s.putContent(p, "")))
			mux.Handle("GET "+p.prefix+"/documents/{document}/content", s.authed(s.getDocument(p, "")))
			mux.Handle("GET "+p.prefix+"/documents/{document}/signature", s.authed(s.getResult(p, "")))
		} else {
			mux.Handle("PUT "+p.prefix+"/content", s.authed(s.putContent(p, replyDocument)))
			mux.Handle("GET "+p.prefix+"/content", s.authed(s.getDocument(p, replyDocument)))
			mux.Handle("GET "+p.prefix+"/signature", s.authed(s.getResult(p, replyDocument)))
		}
	}
	for _, p := range decryptPlaces {
		mux.Handle("POST "+p.prefix+"/decrypt-content", s.authed(s.decryptInit(p)))
		mux.Handle("POST "+p.prefix+"/decrypt-content-confirm", s.authed(s.decryptConfirm(p, false)))
		mux.Handle("POST "+p.prefix+"/confirm-content-decryption", s.authed(s.decryptConfirm(p, true)))
		mux.Handle("GET "+p.prefix+"/tasks/{task}", s.authed(s.task(p)))
		mux.Handle("PUT "+p.prefix+"/encrypted-content", s.authed(s.putContent(p, encryptedDocument)))
	}
	mux.Handle("GET /v1/{account}/contents/{content}", s.authed(s.getContent))
	if s.cfg.TestTools {
		mux.HandleFunc("GET /test-tools/v1/get-cloud-sign-confirmation-code", s.testCode)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, newError(http.StatusNotFound, "notFound", "No such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// Document ids of the one-document places.
const (
	replyDocument     = "reply"
	encryptedDocument = "encrypted"
)

type callerKey struct{}

// caller is an authenticated request's principal and account.
type caller struct {
	principal
	account *Account
}

// authed authenticates the request and checks that its principal may use
// the account in the path, before anything else is read.
func (s *Server) authed(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.auth.authenticate(r.Context(), r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		id := r.PathValue("account")
		acc, ok := s.cfg.account(id)
		if !ok || !p.accounts[id] {
			writeError(w, r, newError(http.StatusForbidden, "accessDenied", "These credentials may not use account %q", id))
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller{principal: p, account: acc})))
	})
}

func callerOf(r *http.Request) caller { return r.Context().Value(callerKey{}).(caller) }

// baseURL is where links point: the configured public URL or the request's
// own scheme and host.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// link is Kontur's Link object.
type link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

// isDatabaseDown reports a lost or refused database connection.
func isDatabaseDown(err error) bool {
	var ne net.Error
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// admin_shutdown, crash_shutdown, cannot_connect_now
		return pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return errors.As(err, &ne) || pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "failed to connect") ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "unexpected EOF")
}
