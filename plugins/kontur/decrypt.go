package kontur

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"

	"github.com/signet-agent/signet/plugins/kontur/store"
	"github.com/signet-agent/signet/sdk"
)

// decryptInitiation is Kontur's DecryptInitiation.
type decryptInitiation struct {
	ConfirmLink *link  `json:"confirm-link,omitempty"`
	RequestID   string `json:"request-id,omitempty"`
	TaskID      string `json:"decryption-task-id,omitempty"`
	LegacyTask  string `json:"task-id,omitempty"`
	ConfirmType string `json:"confirm-type"`
}

// decryptInit answers POST …/decrypt-content?unzipIfCan=, body
// {"certificate-base64"}: the certificate picks which of the account's keys
// decrypts. A code is always sent (decryption reveals content).
func (s *Server) decryptInit(p place) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := callerOf(r)
		unzip, err := boolQuery(r, "unzipIfCan")
		if err != nil {
			writeError(w, r, err)
			return
		}
		var body struct {
			Certificate string `json:"certificate-base64"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body); err != nil || body.Certificate == "" {
			writeError(w, r, newError(http.StatusBadRequest, "badRequest", "The body must be {\"certificate-base64\": DER certificate in base64}"))
			return
		}
		der, err := base64.StdEncoding.DecodeString(body.Certificate)
		cert, perr := x509.ParseCertificate(der)
		if err != nil || perr != nil {
			writeError(w, r, newError(http.StatusBadRequest, "badRequest", "certificate-base64 is not a base64 DER certificate"))
			return
		}
		keyURI, err := s.keyFor(r, c, cert)
		if err != nil {
			writeError(w, r, err)
			return
		}
		target, scope := p.target(r)
		docs, err := s.st.Contents(r.Context(), c.account.ID, target, false)
		if err != nil {
			writeError(w, r, err)
			return
		}
		var env *store.Content
		for i := range docs {
			if docs[i].DocumentID == encryptedDocument {
				env = &docs[i]
			}
		}
		if env == nil {
			writeError(w, r, newError(http.StatusNotFound, "documentNotFound", "No encrypted content here: upload it first (PUT …/encrypted-content)"))
			return
		}
		req, err := s.startConfirmation(r.Context(), c, store.NewRequest{
			AccountID: c.account.ID, Kind: "decrypt", Target: target, LockScope: c.account.ID + "|" + scope,
			KeyURI: keyURI, ConfirmType: "sms", TTL: s.cfg.Codes.TTL, Lease: s.cfg.Lease, KeepTestCode: s.cfg.TestTools,
			Options: store.Options{Documents: map[string]string{encryptedDocument: hex.EncodeToString(env.SHA256)}, Unzip: unzip},
		}, 1)
		if err != nil {
			writeError(w, r, err)
			return
		}
		confirm := link{Href: s.baseURL(r) + placePath(r, p) + "/decrypt-content-confirm?requestId=" + req.ID, Rel: "confirm"}
		writeJSON(w, http.StatusOK, decryptInitiation{
			ConfirmLink: &confirm, RequestID: req.ID, TaskID: req.TaskID, LegacyTask: req.TaskID, ConfirmType: "sms",
		})
	}
}

// keyFor returns the account key whose certificate is cert.
func (s *Server) keyFor(r *http.Request, c caller, cert *x509.Certificate) (string, error) {
	op := sdk.Operation{Caller: "kontur account " + c.account.ID + " (" + c.name + ")", Summary: "find the key of a certificate"}
	for _, uri := range c.account.Keys {
		k, err := s.keys.Key(r.Context(), uri, op)
		if err == nil && k.Certificate != nil && bytes.Equal(k.Certificate.Raw, cert.Raw) {
			return uri, nil
		}
	}
	return "", newError(http.StatusBadRequest, "certificateNotFound", "The certificate is not one of this account's keys")
}

// decryptConfirm answers the two confirm paths: decrypt-content-confirm
// returns the plaintext as a JSON base64 string; confirm-content-decryption
// (current documentation) returns a link to it in the contents service.
func (s *Server) decryptConfirm(p place, asLink bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, ok := s.confirm(w, r, p)
		if !ok {
			return
		}
		if asLink {
			writeJSON(w, http.StatusOK, map[string]any{
				"content-id": req.TaskID,
				"links":      []link{{Href: s.baseURL(r) + "/v1/" + req.AccountID + "/contents/" + req.TaskID, Rel: "decrypted-content"}},
			})
			return
		}
		plain, err := s.st.TaskResult(r.Context(), req.AccountID, req.TaskID, plaintextDocument)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if unzip, _ := boolQuery(r, "unzip"); unzip && !req.Options.Unzip {
			plain = unzipSingle(plain, int64(s.cfg.Limits.MaxDocumentMB)<<20)
		}
		writeJSON(w, http.StatusOK, plain)
	}
}
