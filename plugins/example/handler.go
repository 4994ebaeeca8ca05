package main

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/signet-agent/signet/sdk"
)

// MaxDocument bounds the document a /sign request may carry.
const MaxDocument = 1 << 20

func newHandler(host *sdk.Host) http.Handler {
	var algorithms sync.Map // key URI → sdk.KeyAlgorithm
	mux := http.NewServeMux()
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		keys, err := host.KeyService().Keys(r.Context(), sdk.Operation{Origin: r.Header.Get("Origin"), Caller: "example /keys"})
		if err != nil && len(keys) == 0 {
			writeError(w, err)
			return
		}
		type item struct {
			URI       string `json:"uri"`
			Label     string `json:"label"`
			Algorithm string `json:"algorithm"`
			Subject   string `json:"subject,omitempty"`
		}
		out := []item{}
		for _, k := range keys {
			if !k.HasPrivateKey || !k.CanSign {
				continue
			}
			it := item{URI: k.URI, Label: k.Label, Algorithm: string(k.Algorithm)}
			if k.Certificate != nil {
				it.Subject = k.Certificate.Subject.String()
			}
			out = append(out, it)
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /sign", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Key       string `json:"key"`
			Digest    string `json:"digest"`
			RequestID string `json:"request_id"`
			Summary   string `json:"summary"`  // the page's words: a claim
			Document  []byte `json:"document"` // optional: the signed data itself
			Name      string `json:"name"`     // the page's name for it: a claim
		}
		// base64 grows the document by 4/3; 64 KiB for the rest.
		if err := json.NewDecoder(io.LimitReader(r.Body, MaxDocument*4/3+64<<10)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad JSON"})
			return
		}
		digest, err := base64.StdEncoding.DecodeString(req.Digest)
		if err != nil || len(digest) != crypto.SHA256.Size() {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "digest must be base64 of 32 bytes"})
			return
		}
		doc, err := signedDocument(digest, req.Document, req.Name)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		op := sdk.Operation{
			Origin:    r.Header.Get("Origin"),
			Caller:    "example /sign",
			Summary:   req.Summary,
			RequestID: req.RequestID,
			Documents: []sdk.Document{doc},
		}
		ks := host.KeyService()
		// The key's algorithm decides the options; look it up once per key
		// so that a signature is one call to the host.
		alg, ok := algorithms.Load(req.Key)
		if !ok {
			key, err := ks.Key(r.Context(), req.Key, op)
			if err != nil {
				writeError(w, err)
				return
			}
			alg = key.Algorithm
			algorithms.Store(req.Key, alg)
		}
		var opts crypto.SignerOpts = crypto.SHA256
		if alg == sdk.AlgorithmEd25519 {
			opts = crypto.Hash(0)
		}
		sig, err := ks.Sign(r.Context(), req.Key, digest, opts, op)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"signature": base64.StdEncoding.EncodeToString(sig)})
	})
	mux.HandleFunc("POST /cms", handleCMS(host))
	return mux
}

// signedDocument describes what /sign signs. Without the document, only
// the digest is known; with it, its size and SHA-256 are computed here and
// the SHA-256 must be the digest.
func signedDocument(digest, data []byte, name string) (sdk.Document, error) {
	if data == nil {
		return sdk.Document{Name: name, SHA256: digest}, nil
	}
	if len(data) > MaxDocument {
		return sdk.Document{}, fmt.Errorf("document of %d bytes: at most %d", len(data), MaxDocument)
	}
	doc := sdk.DocumentOf(name, "", data)
	if !bytes.Equal(doc.SHA256, digest) {
		return sdk.Document{}, errors.New("the document's SHA-256 is not the digest to sign")
	}
	return doc, nil
}

// writeError maps the host's errors to HTTP statuses with errors.Is.
func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, sdk.ErrDenied), errors.Is(err, sdk.ErrCancelled), errors.Is(err, sdk.ErrPINLocked):
		code = http.StatusForbidden
	case errors.Is(err, sdk.ErrPINIncorrect), errors.Is(err, sdk.ErrFinalTry):
		code = http.StatusUnauthorized
	case errors.Is(err, sdk.ErrKeyNotFound), errors.Is(err, sdk.ErrTokenRemoved):
		code = http.StatusNotFound
	case errors.Is(err, sdk.ErrInvalidRequest), errors.Is(err, sdk.ErrInvalidURI):
		code = http.StatusBadRequest
	case errors.Is(err, sdk.ErrTimeout):
		code = http.StatusRequestTimeout
	case errors.Is(err, sdk.ErrUnavailable):
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
