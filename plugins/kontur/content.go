package kontur

import (
	"net/http"

	"github.com/signet-agent/signet/plugins/kontur/store"
)

// putContent stores a document to sign (or encrypted content to decrypt)
// for the place: PUT …/content, …/documents/{document}/content or
// …/encrypted-content, raw bytes in the body, at most the configured size,
// hashed while it is read. The reply names its size and SHA-256.
func (s *Server) putContent(p place, fixedDoc string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := callerOf(r)
		target, _ := p.target(r)
		doc := fixedDoc
		if doc == "" {
			doc = r.PathValue("document")
		}
		if fixedDoc == "" {
			docs, err := s.st.Contents(r.Context(), c.account.ID, target, false)
			if err != nil {
				writeError(w, r, err)
				return
			}
			if len(docs) >= s.cfg.Limits.MaxDocuments && !hasDocument(docs, doc) {
				writeError(w, r, newError(http.StatusBadRequest, "tooManyDocuments", "A draft holds at most %d documents", s.cfg.Limits.MaxDocuments))
				return
			}
		}
		max := int64(s.cfg.Limits.MaxDocumentMB) << 20
		body := http.MaxBytesReader(w, r.Body, max+1)
		got, err := s.st.PutContent(r.Context(), c.account.ID, target, doc, r.URL.Query().Get("name"), body, max)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": got.DocumentID, "size": got.Size, "sha256": got.SHA256})
	}
}

func hasDocument(docs []store.Content, id string) bool {
	for _, d := range docs {
		if d.DocumentID == id {
			return true
		}
	}
	return false
}

// getDocument returns a stored document's bytes (the documents-to-sign
// links point here).
func (s *Server) getDocument(p place, fixedDoc string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		target, _ := p.target(r)
		doc := fixedDoc
		if doc == "" {
			doc = r.PathValue("document")
		}
		d, err := s.st.Document(r.Context(), callerOf(r).account.ID, target, doc)
		if err != nil {
			writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(d.Data)
	}
}

// getResult returns the latest signature of the place's document as a
// JSON base64 string (Kontur returns bytes that way).
func (s *Server) getResult(p place, fixedDoc string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		target, _ := p.target(r)
		doc := fixedDoc
		if doc == "" {
			doc = r.PathValue("document")
		}
		sig, err := s.st.Result(r.Context(), callerOf(r).account.ID, target, doc)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, sig)
	}
}

// getContent returns a decryption's plaintext by its content id (the task
// id): GET /v1/{account}/contents/{content}, raw bytes.
func (s *Server) getContent(w http.ResponseWriter, r *http.Request) {
	data, err := s.st.TaskResult(r.Context(), callerOf(r).account.ID, r.PathValue("content"), plaintextDocument)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(data)
}

// testCode is the test-tools endpoint: the clear code of a request. It is
// routed only when test_tools is set in the configuration.
func (s *Server) testCode(w http.ResponseWriter, r *http.Request) {
	code, err := s.st.TestCode(r.Context(), r.URL.Query().Get("requestId"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(code))
}
