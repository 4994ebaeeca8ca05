// Command chooseplugin is a test plugin for Consent.ChooseKey over the
// wire, shaped like E-IMZO's pseudo key ids ("ckc": whatever key the person
// picks). POST /sign with a JSON body {keys, digest (base64 SHA-256),
// origin, grant_id} picks a key among keys with ChooseKey and signs the
// digest with it, presenting the choice's grant, and answers {key,
// signature, grant_id}; with grant_id set it skips the choice and signs
// with keys[0] presenting that grant (a replay of the choice's grant).
// Errors answer 403 (refused), 404 (no such key), 400 (invalid request)
// or 500 with the error text.
package main

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/signet-agent/signet/sdk"
)

type plugin struct{}

func (plugin) Describe() sdk.Description {
	return sdk.Description{
		Name: "chooseplugin", Version: "0.0.1", Summary: "key choice over the wire (test)",
		Listeners: []sdk.ListenerSpec{{Name: "https", Addr: "127.0.0.1:0", TLS: true}},
	}
}

type signRequest struct {
	Keys    []string `json:"keys"`
	Digest  []byte   `json:"digest"`
	Origin  string   `json:"origin"`
	GrantID string   `json:"grant_id"`
}

type signResponse struct {
	Key       string `json:"key"`
	Signature []byte `json:"signature"`
	GrantID   string `json:"grant_id,omitempty"`
}

func (plugin) Serve(ctx context.Context, host *sdk.Host) error {
	ln, err := host.Listen(ctx, "https")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sign", func(w http.ResponseWriter, r *http.Request) {
		var req signRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		op := sdk.Operation{
			Origin: req.Origin, Summary: "create_pkcs7 with the token key you pick",
			Documents: []sdk.Document{sdk.DocumentOf("contract.txt", "text/plain", []byte("contract"))},
		}
		choice := sdk.KeyChoice{GrantID: req.GrantID}
		if req.GrantID == "" {
			var err error
			choice, err = host.Consent().ChooseKey(r.Context(), req.Keys, op)
			if writeError(w, err) {
				return
			}
		} else if len(req.Keys) > 0 {
			choice.KeyURI = req.Keys[0]
		}
		op.GrantID = choice.GrantID
		sig, err := host.KeyStore().Sign(r.Context(), choice.KeyURI, req.Digest, crypto.SHA256, op)
		if writeError(w, err) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(signResponse{Key: choice.KeyURI, Signature: sig, GrantID: choice.GrantID})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func main() { sdk.Serve(plugin{}) }

// writeError answers err with the HTTP status the tests expect and reports
// whether there was an error.
func writeError(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, sdk.ErrDenied):
		http.Error(w, err.Error(), http.StatusForbidden)
	case errors.Is(err, sdk.ErrKeyNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, sdk.ErrInvalidRequest):
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
	return true
}
