package cipher

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/signet-agent/signet/sdk"
)

// keyStoreRequest is the body of PUT keyStore and keyStore/verifier.
type keyStoreRequest struct {
	KeyStorePath     string  `json:"keyStorePath"`
	Base64Data       *string `json:"base64Data"`
	KeyStorePassword *string `json:"keyStorePassword"`
}

// maxKeyStorePath bounds keyStorePath.
const maxKeyStorePath = 4096

// maxContainer bounds an uploaded key container (the host's limit too).
const maxContainer = 256 << 10

// containerDir is the directory part of the URI the host gives uploaded
// containers (file:///.signet-memory/HANDLE.pfx).
const containerDir = "/.signet-memory/"

// isContainer reports whether a token URI or path names an uploaded
// container held by the host.
func isContainer(uri string) bool { return strings.Contains(uri, containerDir) }

// setKeyStore names the session's key store: keyStorePath is a PFX file
// path (or file: URI) or a pkcs11: token URI the agent's key store knows.
// An uploaded container (octet-stream, or {"base64Data"} without a path)
// is handed to the host, which holds it for this ticket's origin and
// forgets it with the ticket (README "Uploaded containers").
func (s *Server) setKeyStore(w http.ResponseWriter, r *http.Request, c caller) error {
	t, err := s.ticket(r, c)
	if err != nil {
		return err
	}
	if mediaType(r) != "application/json" {
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxContainer+1))
		if err != nil || len(data) > maxContainer {
			return badParam("keyStore: the uploaded key container is larger than %d bytes", maxContainer)
		}
		return s.uploadContainer(w, r.Context(), t, c, data)
	}
	var req keyStoreRequest
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	if req.KeyStorePath == "" {
		if req.Base64Data != nil {
			if base64.StdEncoding.DecodedLen(len(*req.Base64Data)) > 2*maxContainer {
				return badParam("keyStore: the uploaded key container is larger than %d bytes", maxContainer)
			}
			data, err := decodeBase64(*req.Base64Data)
			if err != nil {
				return badParam("keyStore: base64Data: %v", err)
			}
			if len(data) > maxContainer {
				return badParam("keyStore: the uploaded key container is larger than %d bytes", maxContainer)
			}
			return s.uploadContainer(w, r.Context(), t, c, data)
		}
		return badParam("keyStore: want {\"keyStorePath\": a PFX file or pkcs11: token URI} or {\"base64Data\": a PKCS#12 key container}")
	}
	if len(req.KeyStorePath) > maxKeyStorePath || strings.ContainsRune(req.KeyStorePath, 0) || isContainer(req.KeyStorePath) {
		return badParam("keyStorePath: not a path or URI of the agent's key store")
	}
	// The path must name keys the agent knows; the listing asks nothing
	// of a first-use origin and shows it nothing.
	if _, err := s.candidates(r.Context(), req.KeyStorePath, c.op("Check a key store (Cipher API)"), false); err != nil {
		return err
	}
	old := t.setKeyStore(req.KeyStorePath, "")
	s.closeHandle(old)
	s.ok(w, msgOK)
	return nil
}

// setKeyStore sets the ticket's key store and container and returns the
// handle of the container it replaces ("" if none).
func (t *ticket) setKeyStore(keyStore, container string) (old string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, t.keyStore, t.container = t.container, keyStore, container
	return old
}

// uploadContainer hands data to the host as this ticket's key container.
// The host parses it (without a password) and keeps it for the ticket's
// origin; the plugin keeps only the handle.
func (s *Server) uploadContainer(w http.ResponseWriter, ctx context.Context, t *ticket, c caller, data []byte) error {
	op := c.op("Use an uploaded key container (Cipher API)")
	op.Evidence = map[string]string{"ticket": t.id}
	cont, err := s.cfg.Keys.OpenContainer(ctx, data, op)
	clear(data)
	if errors.Is(err, sdk.ErrInvalidRequest) {
		return badParam("keyStore: the uploaded key container was refused: %v", err)
	}
	if err != nil {
		return err
	}
	token := ""
	for _, k := range cont.Keys {
		if k.HasPrivateKey {
			token = k.TokenURI
			break
		}
	}
	if !isContainer(token) {
		s.closeHandle(cont.Handle)
		return badParam("keyStore: the uploaded key container holds no private key")
	}
	t.mu.Lock()
	gone := t.ctx.Err() != nil
	t.mu.Unlock()
	if gone { // deleted meanwhile: the container goes with it
		s.closeHandle(cont.Handle)
		return errSessionMissing
	}
	s.closeHandle(t.setKeyStore(token, cont.Handle))
	s.ok(w, msgOK)
	return nil
}

// closeContainer makes the host forget the container of a ticket that
// goes (delete, expiry, plugin stop).
func (s *Server) closeContainer(t *ticket) { s.closeHandle(t.setKeyStore("", "")) }

func (s *Server) closeHandle(handle string) {
	if handle == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.cfg.Keys.CloseContainer(ctx, handle); err != nil {
		s.cfg.Logger.Warn("closing an uploaded key container", "error", err)
	}
}

// passPassword hands the host a keyStorePassword a page sent, for the
// ticket's uploaded container: the host uses it only when its policy lets
// the origin pass passwords, else asks the person. The password is never
// kept, logged or used otherwise; for a key store of the agent it is
// dropped (the host asks).
func (s *Server) passPassword(ctx context.Context, t *ticket, c caller, password *string) error {
	if password == nil || *password == "" {
		return nil
	}
	t.mu.Lock()
	handle := t.container
	t.mu.Unlock()
	if handle == "" {
		return nil
	}
	pw := []byte(*password)
	defer clear(pw)
	op := c.op("Unlock an uploaded key container (Cipher API)")
	_, err := s.cfg.Keys.UnlockContainer(ctx, handle, pw, op)
	if errors.Is(err, sdk.ErrPINIncorrect) {
		return badParam("keyStorePassword: the password does not open the key container")
	}
	return err
}

// openContainer completes, in place, the keys of the ticket's uploaded
// container that are listed without a certificate (the container keeps it
// encrypted until opened): the host opens it with a challenge signature,
// asking the password unless the page passed one policy accepts.
func (s *Server) openContainer(ctx context.Context, keys []sdk.Key, path, container string, op sdk.Operation) error {
	if container == "" {
		return nil
	}
	for i, k := range keys {
		if k.Certificate != nil || !k.HasPrivateKey || !k.CanSign || !keyStoreMatches(path, k) {
			continue
		}
		opened, err := s.unlock(ctx, k, op)
		if err != nil {
			return err
		}
		keys[i] = opened
		// One unlock opens the whole container: the others are read again.
		for j := i + 1; j < len(keys); j++ {
			if keyStoreMatches(path, keys[j]) && keys[j].Certificate == nil {
				if k2, err := s.cfg.Keys.Key(ctx, keys[j].URI, op); err == nil {
					keys[j] = k2
				}
			}
		}
		return nil
	}
	return nil
}

// verifyKeyStore describes the session's signing key as public clients
// read it: signature.canBeUsed and signature.certificateInfo. The listing
// is the origin's first use of the key store (the host may ask).
func (s *Server) verifyKeyStore(w http.ResponseWriter, r *http.Request, c caller) error {
	t, err := s.ticket(r, c)
	if err != nil {
		return err
	}
	if mediaType(r) == "application/json" {
		var req keyStoreRequest
		if err := s.readJSON(w, r, &req); err != nil {
			return err
		}
		if err := s.passPassword(r.Context(), t, c, req.KeyStorePassword); err != nil {
			return err
		}
	}
	t.mu.Lock()
	path, container := t.keyStore, t.container
	t.mu.Unlock()
	op := c.op("Show the certificate of a key store (Cipher API)")
	keys, err := s.cfg.Keys.Keys(r.Context(), op)
	if err != nil && len(keys) == 0 {
		return err
	}
	if err := s.openContainer(r.Context(), keys, path, container, op); err != nil {
		return err
	}
	var signKey, agreeKey *sdk.Key
	for i, k := range keys {
		if !k.HasPrivateKey || k.Certificate == nil || !keyStoreMatches(path, k) {
			continue
		}
		if k.CanSign && signKey == nil {
			signKey = &keys[i]
		}
		if k.CanDecrypt && agreeKey == nil {
			agreeKey = &keys[i]
		}
	}
	if signKey == nil {
		return &apiError{status: http.StatusInternalServerError, msg: msgFailed, cause: "the key store holds no signing key with a certificate"}
	}
	now := s.cfg.Now()
	resp := map[string]any{
		"message":   s.lang.text(msgOK),
		"signature": map[string]any{"canBeUsed": canSign(signKey.Certificate, now), "certificateInfo": certificateInfo(signKey.Certificate)},
	}
	if agreeKey != nil {
		resp["keyAgreement"] = map[string]any{"canBeUsed": now.Before(agreeKey.Certificate.NotAfter), "certificateInfo": certificateInfo(agreeKey.Certificate)}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
