package cipher

import (
	"io"
	"net/http"
	"strings"

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

// setKeyStore names the session's key store: keyStorePath is a PFX file
// path (or file: URI) or a pkcs11: token URI the agent's key store knows.
// An uploaded container (octet-stream, or {"base64Data"} without a path) is
// refused: containers are loaded into the agent's key store, not sent by
// pages (README "Key stores").
func (s *Server) setKeyStore(w http.ResponseWriter, r *http.Request, c caller) error {
	t, err := s.ticket(r, c)
	if err != nil {
		return err
	}
	if mediaType(r) != "application/json" {
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1<<20))
		return errNotImplemented("an uploaded key container (the key must be in the agent's key store; name it with {\"keyStorePath\"})")
	}
	var req keyStoreRequest
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	if req.KeyStorePath == "" {
		if req.Base64Data != nil {
			return errNotImplemented("an uploaded key container (the key must be in the agent's key store; name it with {\"keyStorePath\"})")
		}
		return badParam("keyStore: want {\"keyStorePath\": a PFX file or pkcs11: token URI}")
	}
	if len(req.KeyStorePath) > maxKeyStorePath || strings.ContainsRune(req.KeyStorePath, 0) {
		return badParam("keyStorePath: not a path or URI")
	}
	// The path must name keys the agent knows; the listing asks nothing
	// of a first-use origin and shows it nothing.
	if _, err := s.candidates(r.Context(), req.KeyStorePath, c.op("Check a key store (Cipher API)"), false); err != nil {
		return err
	}
	t.mu.Lock()
	t.keyStore = req.KeyStorePath
	t.mu.Unlock()
	s.ok(w, msgOK)
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
	}
	t.mu.Lock()
	path := t.keyStore
	t.mu.Unlock()
	keys, err := s.cfg.Keys.Keys(r.Context(), c.op("Show the certificate of a key store (Cipher API)"))
	if err != nil && len(keys) == 0 {
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
