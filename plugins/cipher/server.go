package cipher

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/signet-agent/signet/sdk"
)

// APIBase is the base path of every endpoint.
const APIBase = "/api/v1"

// Config is what a Server needs: the host's services and the limits.
type Config struct {
	Keys    *sdk.KeyService
	Consent *sdk.Consent
	Logger  *slog.Logger

	Limits Limits
	// TempDir holds the tickets' files; it is emptied at start.
	TempDir string
	// TSAURL is the RFC 3161 timestamp authority for CAdES-T ("": none).
	TSAURL string
	// Roots are the trusted roots for verification (nil: the chain is not
	// checked, only the signatures).
	Roots *x509.CertPool
	// AccessTokenKey is the key URI POST /accessToken grants; "" lets the
	// person pick the key.
	AccessTokenKey string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Server is the Cipher API as an http.Handler.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	tickets *store
	tokens  *tokens
	lang    language
}

// NewServer prepares the ticket directory (removing a previous run's files)
// and the routes.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := newStore(cfg.TempDir, cfg.Limits, cfg.Now)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), tickets: st, tokens: newTokens(cfg.Now)}
	st.forget = s.closeContainer
	s.routes()
	return s, nil
}

// Close removes every ticket and its files.
func (s *Server) Close() { s.tickets.closeAll() }

// RunJanitor removes expired tickets and access tokens until ctx ends.
func (s *Server) RunJanitor(ctx context.Context) {
	period := min(s.cfg.Limits.TicketTTL/4, time.Minute)
	tick := time.NewTicker(max(period, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.tickets.sweep()
			s.tokens.sweep()
		}
	}
}

// handlerFunc is an endpoint: it returns an error to answer with.
type handlerFunc func(w http.ResponseWriter, r *http.Request, c caller) error

// caller is who asks: the page's origin, or a local program.
type caller struct{ origin string }

// op is the host Operation for this caller.
func (c caller) op(summary string) sdk.Operation {
	op := sdk.Operation{Origin: c.origin, Summary: summary}
	if c.origin == "" {
		op.Caller = "local program (Cipher API request without Origin)"
	}
	return op
}

func (s *Server) routes() {
	h := func(pattern string, f handlerFunc) { s.mux.Handle(pattern, s.wrap(f)) }
	h("GET "+APIBase+"/status", s.status)
	h("GET "+APIBase+"/certificateAuthority/supported", s.supportedCAs)
	h("GET "+APIBase+"/token/connected", s.connectedTokens)
	h("GET "+APIBase+"/generator/keysProfiles", s.keysProfiles)
	h("POST "+APIBase+"/language/{code}", s.setLanguage)
	h("POST "+APIBase+"/accessToken", s.accessToken)

	h("POST "+APIBase+"/ticket", s.createTicket)
	h("DELETE "+APIBase+"/ticket/{uuid}", s.deleteTicket)
	h("POST "+APIBase+"/ticket/{uuid}/data", s.uploadBlob("data", s.cfg.Limits.MaxData, func(t *ticket) **blob { return &t.data }))
	h("PUT "+APIBase+"/ticket/{uuid}/metadata", s.setMetadata)
	h("PUT "+APIBase+"/ticket/{uuid}/option", s.setOption)
	h("PUT "+APIBase+"/ticket/{uuid}/keyStore", s.setKeyStore)
	h("PUT "+APIBase+"/ticket/{uuid}/keyStore/verifier", s.verifyKeyStore)

	h("POST "+APIBase+"/ticket/{uuid}/ds/creator", s.startSign)
	h("GET "+APIBase+"/ticket/{uuid}/ds/creator", s.jobStatus(jobSign, msgSigned, msgNotSigned))
	h("GET "+APIBase+"/ticket/{uuid}/ds/base64Data", s.signatureResult(true))
	h("GET "+APIBase+"/ticket/{uuid}/ds/data", s.signatureResult(false))
	h("POST "+APIBase+"/ticket/{uuid}/ds/data", s.uploadBlob("signature", s.cfg.Limits.MaxSignature, func(t *ticket) **blob { return &t.sig }))
	h("POST "+APIBase+"/ticket/{uuid}/ds/verifier", s.startVerify)
	h("GET "+APIBase+"/ticket/{uuid}/ds/verifier", s.verifyResult)
	h("POST "+APIBase+"/ticket/{uuid}/ds/modifier", s.startModify)
	h("GET "+APIBase+"/ticket/{uuid}/ds/modifier", s.jobStatus(jobModify, msgOK, msgFailed))
	h("GET "+APIBase+"/ticket/{uuid}/ds/modifiedData", s.modifiedResult(false))
	h("GET "+APIBase+"/ticket/{uuid}/ds/modifiedBase64Data", s.modifiedResult(true))
	h("POST "+APIBase+"/ticket/{uuid}/ts/creator", s.startTimestamp)
	h("GET "+APIBase+"/ticket/{uuid}/ts/creator", s.jobStatus(jobTS, msgOK, msgFailed))
	h("POST "+APIBase+"/ticket/{uuid}/ts/data", s.uploadTimestamp)
	h("GET "+APIBase+"/ticket/{uuid}/ts/base64Data", s.timestampResult)
	h("POST "+APIBase+"/ticket/{uuid}/decryptor", s.startDecrypt)
	h("GET "+APIBase+"/ticket/{uuid}/decryptor", s.jobStatus(jobDecrypt, msgOK, msgFailed))
	h("GET "+APIBase+"/ticket/{uuid}/decryptor/base64Data", s.decryptResult(true))
	h("GET "+APIBase+"/ticket/{uuid}/decryptor/data", s.decryptResult(false))
	h("POST "+APIBase+"/ticket/{uuid}/encryptor/certificates", s.setRecipients)
	h("POST "+APIBase+"/ticket/{uuid}/encryptor", s.encrypt)
	h("GET "+APIBase+"/ticket/{uuid}/encryptor/base64Data", s.encryptResult(true))
	h("GET "+APIBase+"/ticket/{uuid}/encryptor/data", s.encryptResult(false))
}

// ServeHTTP answers CORS preflights, adds the CORS headers for the caller's
// origin and dispatches; unknown paths get the API's 404 object.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin != "" {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "Content-Disposition, Content-Length")
	}
	if r.Method == http.MethodOptions {
		s.preflight(w, r)
		return
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.writeErr(w, &apiError{status: http.StatusNotFound, msg: msgNotFound, cause: r.Method + " " + r.URL.Path})
		return
	}
	s.mux.ServeHTTP(w, r)
}

// preflight answers CORS preflights, with the Private Network Access and
// Local Network Access permissions Chrome asks for before a public page may
// call a loopback address.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
		h.Set("Access-Control-Allow-Private-Network", "true")
	}
	if r.Header.Get("Access-Control-Request-Local-Network") == "true" {
		h.Set("Access-Control-Allow-Local-Network", "true")
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" && len(req) <= 1024 {
		h.Set("Access-Control-Allow-Headers", req)
	} else {
		h.Set("Access-Control-Allow-Headers", "Content-Type")
	}
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) wrap(f handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := caller{origin: r.Header.Get("Origin")}
		if err := f(w, r, c); err != nil {
			ae := failure(err, msgFailed)
			if ae.status >= 500 {
				s.cfg.Logger.Warn("cipher request failed", "method", r.Method, "path", r.URL.Path, "origin", c.origin, "err", err)
			}
			s.writeErr(w, ae)
		}
	})
}

func (s *Server) writeErr(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, reply{Message: s.lang.text(e.msg), FailureCause: e.cause})
}

func (s *Server) ok(w http.ResponseWriter, m msg) {
	writeJSON(w, http.StatusOK, reply{Message: s.lang.text(m)})
}

// ticket returns the request's ticket for caller c.
func (s *Server) ticket(r *http.Request, c caller) (*ticket, error) {
	return s.tickets.get(r.PathValue("uuid"), c.origin)
}

// readJSON decodes a JSON body of at most MaxJSON bytes into v.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.Limits.MaxJSON))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errDataTooLarge
		}
		return badParam("reading the body: %v", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return badParam("the body is empty; want a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badParam("the body is not the JSON object expected: %v", err)
	}
	return nil
}

// mediaType is the request's media type, lower case ("" when absent).
func mediaType(r *http.Request) string {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return strings.ToLower(mt)
}

// base64Body is the {"base64Data"} object of JSON uploads.
type base64Body struct {
	Base64Data *string `json:"base64Data"`
}

// readUpload streams the request's payload into a new file of t, up to
// limit bytes: octet-stream (raw), JSON {"base64Data"} or a multipart form
// (its first file part, else its first part).
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request, t *ticket, kind string, limit int64) (*blob, error) {
	switch mt := mediaType(r); mt {
	case "application/json":
		var b base64Body
		if err := s.readJSON(w, r, &b); err != nil {
			return nil, err
		}
		if b.Base64Data == nil {
			return nil, badParam("the JSON body has no base64Data")
		}
		data, err := decodeBase64(*b.Base64Data)
		if err != nil {
			return nil, badParam("base64Data: %v", err)
		}
		return t.writeBlob(kind, bytesReader(data), limit)
	case "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, badParam("multipart body: %v", err)
		}
		part, err := firstFilePart(mr)
		if err != nil {
			return nil, err
		}
		return t.writeBlob(kind, part, limit)
	case "application/octet-stream", "", "text/plain", "application/x-www-form-urlencoded":
		return t.writeBlob(kind, http.MaxBytesReader(w, r.Body, limit+1), limit)
	default:
		return nil, badParam("Content-Type %q: send application/octet-stream, application/json {\"base64Data\"} or multipart/form-data", mt)
	}
}

// firstFilePart returns the first part with a file name, or the first part
// when none has one (read in order: a part is only kept if it is the one).
func firstFilePart(mr *multipart.Reader) (*multipart.Part, error) {
	const maxParts = 16
	for i := 0; i < maxParts; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badParam("multipart body: %v", err)
		}
		if p.FileName() != "" || p.FormName() == "file" || p.FormName() == "data" {
			return p, nil
		}
	}
	return nil, badParam("multipart body: no file part (a part with a filename, or named file or data) among the first %d parts", maxParts)
}

// decodeBase64 accepts standard and URL-safe base64, padded or not, and
// ignores line breaks (as Java's MIME encoder writes them).
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// --- service endpoints ---

func (s *Server) status(w http.ResponseWriter, _ *http.Request, _ caller) error {
	s.ok(w, msgStatus)
	return nil
}

// supportedCAs lists one pseudo-CA: the host's key store. Any caId a portal
// sends is accepted (the CA does not choose how Signet signs).
func (s *Server) supportedCAs(w http.ResponseWriter, _ *http.Request, _ caller) error {
	type ca struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	writeJSON(w, http.StatusOK, map[string]any{"ca": []ca{{ID: "signet", Name: "Signet key store (PKCS#11 tokens and PFX files)"}}})
	return nil
}

// keysProfiles: key generation is not offered over this API.
func (s *Server) keysProfiles(w http.ResponseWriter, _ *http.Request, _ caller) error {
	writeJSON(w, http.StatusOK, []any{})
	return nil
}

// connectedTokens lists the host's PKCS#11 tokens as passive token paths
// (pkcs11: URIs a keyStorePath may name).
func (s *Server) connectedTokens(w http.ResponseWriter, r *http.Request, c caller) error {
	toks, err := s.cfg.Keys.Tokens(r.Context(), c.op("List the connected tokens (Cipher API)"))
	if err != nil && len(toks) == 0 {
		return err
	}
	type info struct {
		Path  string `json:"path"`
		Label string `json:"label"`
	}
	paths := []string{}
	infos := []info{}
	for _, t := range toks {
		if !strings.HasPrefix(t.URI, "pkcs11:") {
			continue
		}
		paths = append(paths, t.URI)
		infos = append(infos, info{Path: t.URI, Label: t.Label})
	}
	writeJSON(w, http.StatusOK, map[string]any{"passiveTokenPath": paths, "activeTokenPath": []string{}, "tokenInfo": infos})
	return nil
}

func (s *Server) setLanguage(w http.ResponseWriter, r *http.Request, _ caller) error {
	code := strings.ToLower(r.PathValue("code"))
	if _, ok := messages[code]; !ok {
		return badParam("language %q: want uk, ru or en", r.PathValue("code"))
	}
	s.lang.v.Store(code)
	s.ok(w, msgLanguage)
	return nil
}

// --- tickets ---

func (s *Server) createTicket(w http.ResponseWriter, _ *http.Request, c caller) error {
	t, err := s.tickets.create(c.origin)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.opts = defaultOptions()
	t.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"message": s.lang.text(msgSessionCreated), "ticketUuid": t.id})
	return nil
}

func (s *Server) deleteTicket(w http.ResponseWriter, r *http.Request, c caller) error {
	if err := s.tickets.delete(r.PathValue("uuid"), c.origin); err != nil {
		return err
	}
	s.ok(w, msgSessionDeleted)
	return nil
}

// uploadBlob stores an upload (the data or the signature, at most limit
// bytes) as the session's file named name, replacing the one in slot.
func (s *Server) uploadBlob(name string, limit int64, slot func(t *ticket) **blob) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c caller) error {
		t, err := s.ticket(r, c)
		if err != nil {
			return err
		}
		b, err := s.readUpload(w, r, t, name, limit)
		if err != nil {
			return err
		}
		t.replaceBlob(slot(t), b)
		s.ok(w, msgOK)
		return nil
	}
}

func (s *Server) setMetadata(w http.ResponseWriter, r *http.Request, c caller) error {
	t, err := s.ticket(r, c)
	if err != nil {
		return err
	}
	var body struct {
		MetaData string `json:"metaData"`
	}
	if err := s.readJSON(w, r, &body); err != nil {
		return err
	}
	if len(body.MetaData) > sdk.MaxSummaryHTML {
		return badParam("metaData: more than %d bytes", sdk.MaxSummaryHTML)
	}
	t.mu.Lock()
	t.metaData = body.MetaData
	t.mu.Unlock()
	s.ok(w, msgOK)
	return nil
}

func (s *Server) setOption(w http.ResponseWriter, r *http.Request, c caller) error {
	t, err := s.ticket(r, c)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return badParam("option body: %v", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o, err := applyOptions(t.opts, body)
	if err != nil {
		return err
	}
	t.opts = o
	s.ok(w, msgOK)
	return nil
}

// replaceBlob sets *slot to b and removes the file it replaces.
func (t *ticket) replaceBlob(slot **blob, b *blob) {
	t.mu.Lock()
	old := *slot
	*slot = b
	t.mu.Unlock()
	if old != nil {
		removeQuietly(old.path)
	}
}

// startJob starts kind on t unless one of that kind is running; run gets a
// context that ends with the ticket or after the wait timeout twice over.
func (s *Server) startJob(t *ticket, kind string, run func(ctx context.Context) (*blob, any, error)) error {
	t.mu.Lock()
	if j := t.jobs[kind]; j != nil && !j.finished() {
		t.mu.Unlock()
		return badParam("%s is already running for this session", kind)
	}
	j := newJob()
	t.jobs[kind] = j
	t.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(t.ctx, 2*s.cfg.Limits.WaitTimeout)
		defer cancel()
		out, res, err := run(ctx)
		j.finish(out, res, err)
	}()
	return nil
}

// wait returns the job of kind, waiting (bounded by the wait timeout and
// the request) until it is done; done is false when it still runs.
func (s *Server) wait(r *http.Request, t *ticket, kind string, block bool) (j *job, done bool, err error) {
	t.mu.Lock()
	j = t.jobs[kind]
	t.mu.Unlock()
	if j == nil {
		return nil, false, badParam("no %s operation was started in this session", kind)
	}
	if !block {
		return j, j.finished(), nil
	}
	timer := time.NewTimer(s.cfg.Limits.WaitTimeout)
	defer timer.Stop()
	select {
	case <-j.done:
		return j, true, nil
	case <-timer.C:
		return j, false, nil
	case <-r.Context().Done():
		return j, false, r.Context().Err()
	}
}

// jobStatus answers the status GET of an operation: 202 running, 200 done,
// the failure otherwise.
func (s *Server) jobStatus(kind string, okMsg, failMsg msg) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c caller) error {
		j, err := s.finishedJob(w, r, c, kind, false, failMsg)
		if err != nil || j == nil {
			return err
		}
		s.ok(w, okMsg)
		return nil
	}
}

// finishedJob finds the caller's session and its job of kind, waiting for
// it when block. A job still running is answered 202 here (nil job, nil
// error); a failed one is returned as the failure with failMsg.
func (s *Server) finishedJob(w http.ResponseWriter, r *http.Request, c caller, kind string, block bool, failMsg msg) (*job, error) {
	t, err := s.ticket(r, c)
	if err != nil {
		return nil, err
	}
	j, done, err := s.wait(r, t, kind, block)
	if err != nil {
		return nil, err
	}
	if !done {
		writeJSON(w, http.StatusAccepted, reply{Message: s.lang.text(msgRunning)})
		return nil, nil
	}
	if j.err != nil {
		return nil, failure(j.err, failMsg)
	}
	return j, nil
}

// result waits for the job of kind and writes its output file, raw or as
// {"base64Data"} (streamed: the file is never read into memory whole).
func (s *Server) result(w http.ResponseWriter, r *http.Request, c caller, kind string, failMsg msg, b64 bool) error {
	j, err := s.finishedJob(w, r, c, kind, true, failMsg)
	if err != nil || j == nil {
		return err
	}
	if j.out == nil {
		return badParam("%s produced no data", kind)
	}
	return serveBlob(w, j.out, b64)
}

func (s *Server) signatureResult(b64 bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c caller) error {
		return s.result(w, r, c, jobSign, msgNotSigned, b64)
	}
}

func (s *Server) modifiedResult(b64 bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c caller) error {
		return s.result(w, r, c, jobModify, msgFailed, b64)
	}
}

func (s *Server) decryptResult(b64 bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c caller) error {
		return s.result(w, r, c, jobDecrypt, msgFailed, b64)
	}
}

// fmtTime is how times appear in replies.
func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
