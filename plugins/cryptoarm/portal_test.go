package cryptoarm_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/plugintest"
)

func TestMain(m *testing.M) { plugintest.Main(m) }

// pkg is the plugin binary under test.
const pkg = "github.com/signet-agent/signet/plugins/cryptoarm/cmd/signet-plugin-cryptoarm"

// portal is a test CryptoARM service over TLS: it serves canned jobs
// (POST /json?id=…, method <command>.parameters), files (GET /files/…),
// and records every other request (notifications, uploads).
type portal struct {
	t    *testing.T
	srv  *httptest.Server
	addr string

	mu       sync.Mutex
	jobs     map[string]any // transaction id → result
	files    map[string][]byte
	requests []request
	// failUploads answers that many notifications with 503.
	failUploads int
	// redirect maps a path to a Location.
	redirect map[string]string
}

// request is one request the portal saw.
type request struct {
	Method, Path, Query string
	Body                []byte
	RPC                 struct {
		Method string          `json:"method"`
		ID     any             `json:"id"`
		Params json.RawMessage `json:"params"`
	}
}

// portalCert is a self-signed certificate for 127.0.0.1.
func portalCert(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "portal.test", Organization: []string{"Test Portal"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// newPortal starts a portal with cert on addr ("" for a free port).
func newPortal(t *testing.T, cert tls.Certificate, addr string) *portal {
	p := &portal{t: t, jobs: map[string]any{}, files: map[string][]byte{}, redirect: map[string]string{}}
	p.start(cert, addr)
	return p
}

func (p *portal) start(cert tls.Certificate, addr string) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	if addr != "" {
		srv.Listener.Close()
		ln, err := net.Listen("tcp", addr)
		require.NoError(p.t, err)
		srv.Listener = ln
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	p.srv, p.addr = srv, srv.Listener.Addr().String()
	p.t.Cleanup(srv.Close)
}

// restart serves the same address with another certificate.
func (p *portal) restart(cert tls.Certificate) {
	p.srv.Close()
	p.start(cert, p.addr)
}

func (p *portal) url(path string) string { return "https://" + p.addr + path }

func (p *portal) link(command, id string) string {
	return "cryptoarm://" + command + "/" + p.url("/json?id="+id)
}

func (p *portal) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 512<<20))
	rq := request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body}
	_ = json.Unmarshal(body, &rq.RPC)
	p.mu.Lock()
	p.requests = append(p.requests, rq)
	loc, redirect := p.redirect[r.URL.Path]
	fail := false
	if r.Method == http.MethodPost && !strings.HasSuffix(rq.RPC.Method, ".parameters") && p.failUploads > 0 {
		p.failUploads--
		fail = true
	}
	p.mu.Unlock()
	switch {
	case redirect:
		http.Redirect(w, r, loc, http.StatusTemporaryRedirect)
	case fail:
		http.Error(w, "try again", http.StatusServiceUnavailable)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/files/"):
		p.mu.Lock()
		data, ok := p.files[strings.TrimPrefix(r.URL.Path, "/files/")]
		p.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	case r.Method == http.MethodPost && strings.HasSuffix(rq.RPC.Method, ".parameters"):
		id := r.URL.Query().Get("id")
		p.mu.Lock()
		res, ok := p.jobs[id]
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "error": map[string]any{"code": -32602, "message": "Invalid params"}, "id": id})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "result": res, "id": id})
	case r.Method == http.MethodPost:
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "no", http.StatusMethodNotAllowed)
	}
}

func (p *portal) addJob(id string, result any) {
	p.mu.Lock()
	p.jobs[id] = result
	p.mu.Unlock()
}

func (p *portal) addFile(name string, data []byte) string {
	p.mu.Lock()
	p.files[name] = data
	p.mu.Unlock()
	return p.url("/files/" + name)
}

// seen returns the requests so far.
func (p *portal) seen() []request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]request(nil), p.requests...)
}

// notifications are the JSON-RPC notifications the portal received.
func (p *portal) notifications() []request {
	var out []request
	for _, r := range p.seen() {
		if r.Method == http.MethodPost && r.RPC.Method != "" && !strings.HasSuffix(r.RPC.Method, ".parameters") {
			out = append(out, r)
		}
	}
	return out
}

// waitNotification waits for the first notification with method.
func (p *portal) waitNotification(t *testing.T, method string) request {
	t.Helper()
	var got request
	require.Eventually(t, func() bool {
		for _, n := range p.notifications() {
			if n.RPC.Method == method {
				got = n
				return true
			}
		}
		return false
	}, 60*time.Second, 20*time.Millisecond, "no %s notification; portal saw %v", method, p.summary())
	return got
}

func (p *portal) summary() []string {
	var s []string
	for _, r := range p.seen() {
		s = append(s, r.Method+" "+r.Path+" "+r.RPC.Method)
	}
	return s
}

// params decodes a notification's params.
func params(t *testing.T, r request) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.RPC.Params, &m))
	return m
}

func b64(t *testing.T, v any) []byte {
	t.Helper()
	s, ok := v.(string)
	require.True(t, ok, "not a string: %v", v)
	d, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	return d
}

// env is a plugin under test with its portal.
type env struct {
	h      *plugintest.Host
	portal *portal
	state  string
}

// start runs the plugin trusting portal's certificates (caPEMs) with
// consent c and extra options.
func start(t *testing.T, c *plugintest.Consent, p *portal, caPEMs [][]byte, opts map[string]string) *env {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "portal-ca.pem")
	require.NoError(t, os.WriteFile(ca, bytes.Join(caPEMs, nil), 0o600))
	o := map[string]string{"state_dir": filepath.Join(dir, "state"), "ca_file": ca, "upload_backoff": "10ms"}
	for k, v := range opts {
		o[k] = v
	}
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: c, Options: o})
	return &env{h: h, portal: p, state: o["state_dir"]}
}

// startWithLog is start with the log going to log.
func startWithLog(t *testing.T, c *plugintest.Consent, p *portal, caPEM []byte, log *slog.Logger) *env {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "portal-ca.pem")
	require.NoError(t, os.WriteFile(ca, caPEM, 0o600))
	o := map[string]string{"state_dir": filepath.Join(dir, "state"), "ca_file": ca, "upload_backoff": "10ms"}
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: c, Options: o, Logger: log})
	return &env{h: h, portal: p, state: o["state_dir"]}
}

func (e *env) open(t *testing.T, link string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, e.h.OpenURL(ctx, link))
}
