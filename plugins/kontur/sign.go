package kontur

import (
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"

	"github.com/signet-agent/signet/plugins/kontur/store"
)

// signInitiation is Kontur's SignInitiation.
type signInitiation struct {
	Links           []link `json:"links"`
	DocumentsToSign []link `json:"documents-to-sign"`
	RequestID       string `json:"request-id,omitempty"`
	TaskID          string `json:"task-id,omitempty"`
	ConfirmType     string `json:"confirm-type"`
}

// signInit answers POST …/cloud-sign?forceConfirmation=: with confirm-type
// sms it sends a code and returns request-id and task-id; with none (the
// account's policy, and no forced confirmation) it signs at once and
// returns neither.
func (s *Server) signInit(p place) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := callerOf(r)
		force, err := boolQuery(r, "forceConfirmation")
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
		if len(docs) == 0 {
			writeError(w, r, newError(http.StatusNotFound, "documentNotFound", "Nothing to sign here: upload the document first"))
			return
		}
		fixed := map[string]string{}
		for _, d := range docs {
			fixed[d.DocumentID] = hex.EncodeToString(d.SHA256)
		}
		n := store.NewRequest{
			AccountID: c.account.ID, Kind: "sign", Target: target, LockScope: c.account.ID + "|" + scope,
			KeyURI: c.account.Keys[0], ConfirmType: "sms", TTL: s.cfg.Codes.TTL, Lease: s.cfg.Lease,
			Options: store.Options{Documents: fixed}, KeepTestCode: s.cfg.TestTools,
		}
		if c.account.Confirm == "none" && !force {
			n.ConfirmType = "none"
			req, err := s.st.CreateRequest(r.Context(), n)
			if err != nil {
				writeError(w, r, err)
				return
			}
			if err := s.execute(r.Context(), c, req); err != nil {
				writeError(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, signInitiation{
				Links: s.signedLinks(r, p, req), DocumentsToSign: s.documentLinks(r, p, docs), ConfirmType: "none",
			})
			return
		}
		req, err := s.startConfirmation(r.Context(), c, n, len(docs))
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, signInitiation{
			Links: []link{}, DocumentsToSign: s.documentLinks(r, p, docs),
			RequestID: req.ID, TaskID: req.TaskID, ConfirmType: "sms",
		})
	}
}

// signConfirm answers POST …/cloud-sign-confirm?requestId=&code=: the code
// is checked and the task claimed in one database transaction (one replica
// wins a race), then the documents are signed.
func (s *Server) signConfirm(p place) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, ok := s.confirm(w, r, p)
		if !ok {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"signed-documents": s.signedLinks(r, p, req), "links": []link{}})
	}
}

// confirm runs the shared part of every confirm endpoint: parameters,
// claim, execution. It writes the error itself and reports whether the
// task succeeded.
func (s *Server) confirm(w http.ResponseWriter, r *http.Request, p place) (store.Request, bool) {
	c := callerOf(r)
	q := r.URL.Query()
	id, code := q.Get("requestId"), q.Get("code")
	if id == "" || !validCode(code) {
		writeError(w, r, newError(http.StatusBadRequest, "badRequest", "requestId and code (digits) are required query parameters"))
		return store.Request{}, false
	}
	target, _ := p.target(r)
	req, err := s.st.Claim(r.Context(), c.account.ID, id, target, code, s.cfg.Codes.Attempts, s.cfg.Lease)
	if err == nil {
		err = s.execute(r.Context(), c, req)
	}
	if err != nil {
		writeError(w, r, err)
		return store.Request{}, false
	}
	return req, true
}

// documentLinks names the documents a request covers.
func (s *Server) documentLinks(r *http.Request, p place, docs []store.Content) []link {
	out := make([]link, 0, len(docs))
	for _, d := range docs {
		out = append(out, link{Href: s.documentURL(r, p, d.DocumentID) + "/content", Rel: "document"})
	}
	return out
}

// signedLinks names the signatures of a succeeded (or running) request.
func (s *Server) signedLinks(r *http.Request, p place, req store.Request) []link {
	ids := make([]string, 0, len(req.Options.Documents))
	for id := range req.Options.Documents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]link, 0, len(ids))
	for _, id := range ids {
		out = append(out, link{Href: s.documentURL(r, p, id) + "/signature", Rel: "signature"})
	}
	return out
}

// documentURL is the URL of a document of the request's place (without
// the trailing /content or /signature).
func (s *Server) documentURL(r *http.Request, p place, doc string) string {
	u := s.baseURL(r) + placePath(r, p)
	if p.draft {
		return u + "/documents/" + doc
	}
	return u
}

// placePath is the request's path up to the end of the place's prefix.
func placePath(r *http.Request, p place) string {
	segments := 0
	for _, c := range p.prefix {
		if c == '/' {
			segments++
		}
	}
	path := r.URL.EscapedPath()
	n := 0
	for i, c := range path {
		if c == '/' {
			n++
			if n == segments+1 {
				return path[:i]
			}
		}
	}
	return path
}

// boolQuery parses an optional boolean query parameter.
func boolQuery(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, newError(http.StatusBadRequest, "badRequest", "%s=%q is not true or false", name, v)
	}
	return b, nil
}
