// Command grantplugin is a test plugin for grants and HTML summaries over
// the wire, shaped like Cipher's accessToken: POST /sign with a JSON body
// {key, digest (base64 SHA-256), origin, uses, within_s, grant_id,
// summary_html} signs through the host and answers {signature, grant_id},
// where grant_id is the grant the person accepted during the call (the
// accessTokenUuid a page keeps). POST /grant with the same body asks for a
// grant alone (Consent.GrantSign) and answers {grant_id}.
//
// POST /choose is Consent.ChooseKey over the wire, shaped like E-IMZO's
// pseudo key ids ("ckc": whatever key the person picks): with a JSON body
// {keys, digest, origin, grant_id} it picks a key among keys and signs the
// digest with it, presenting the choice's grant, and answers {key,
// signature, grant_id}; with grant_id set it skips the choice and signs
// with keys[0] presenting that grant (a replay of the choice's grant).
//
// POST /listchoose is the whole "whatever key the person picks" path:
// with a JSON body {origin, digest, for_choice, lookup, certificate,
// algorithms} it lists the keys (Operation.ForChoice = for_choice), offers
// those that can sign to Consent.ChooseKey with the filter {certificate,
// algorithms}, looks the picked key up again with KeyStore.Key when lookup
// is set (the way plugins got the certificate before ChooseKey returned
// it), and signs with it presenting the choice's grant. It answers {key,
// signature, grant_id, listed (the keys listed), withheld (how many came
// withheld), certificate (DER), chain (DER, issuer first)}.
//
// POST /tokens with {origin, for_choice} lists the tokens (ForChoice as
// given, which the host ignores for tokens) and answers {tokens: count}.
//
// Errors answer 403 (refused), 404 (no such key), 400 (invalid request) or
// 500 with the error text.
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
		Name: "grantplugin", Version: "0.0.1", Summary: "grants and key choices over the wire (test)",
		Listeners: []sdk.ListenerSpec{{Name: "https", Addr: "127.0.0.1:0", TLS: true}},
	}
}

type signRequest struct {
	Key         string `json:"key"`
	Digest      []byte `json:"digest"`
	Origin      string `json:"origin"`
	Uses        int    `json:"uses"`
	WithinS     int    `json:"within_s"`
	GrantID     string `json:"grant_id"`
	SummaryHTML string `json:"summary_html"`
}

type signResponse struct {
	Signature []byte `json:"signature"`
	GrantID   string `json:"grant_id,omitempty"`
}

type chooseRequest struct {
	Keys    []string `json:"keys"`
	Digest  []byte   `json:"digest"`
	Origin  string   `json:"origin"`
	GrantID string   `json:"grant_id"`
}

type listChooseRequest struct {
	Origin      string   `json:"origin"`
	Digest      []byte   `json:"digest"`
	ForChoice   bool     `json:"for_choice"`
	Lookup      bool     `json:"lookup"`
	Certificate bool     `json:"certificate"`
	Algorithms  []string `json:"algorithms"`
}

type listChooseResponse struct {
	Key         string   `json:"key"`
	Signature   []byte   `json:"signature"`
	GrantID     string   `json:"grant_id,omitempty"`
	Listed      int      `json:"listed"`
	Withheld    int      `json:"withheld"`
	Certificate []byte   `json:"certificate"`
	Chain       [][]byte `json:"chain"`
}

type chooseResponse struct {
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
		var granted string
		op := sdk.Operation{
			Origin: req.Origin, Summary: "grant test", SummaryHTML: req.SummaryHTML,
			GrantUses: req.Uses, GrantWithin: time.Duration(req.WithinS) * time.Second, GrantID: req.GrantID,
			OnGrant: func(id string) { granted = id },
		}
		sig, err := host.KeyService().Sign(r.Context(), req.Key, req.Digest, crypto.SHA256, op)
		if writeError(w, err) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(signResponse{Signature: sig, GrantID: granted})
	})
	// POST /grant: Cipher's accessToken, a grant before any signature.
	mux.HandleFunc("POST /grant", func(w http.ResponseWriter, r *http.Request) {
		var req signRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		op := sdk.Operation{Origin: req.Origin, Summary: "access token", SummaryHTML: req.SummaryHTML,
			GrantUses: req.Uses, GrantWithin: time.Duration(req.WithinS) * time.Second}
		id, err := host.Consent().GrantSign(r.Context(), req.Key, op)
		if writeError(w, err) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"grant_id": id})
	})
	mux.HandleFunc("POST /choose", func(w http.ResponseWriter, r *http.Request) {
		var req chooseRequest
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
			choice, err = host.Consent().ChooseKey(r.Context(), req.Keys, sdk.KeyFilter{}, op)
			if writeError(w, err) {
				return
			}
		} else if len(req.Keys) > 0 {
			choice.KeyURI = req.Keys[0]
		}
		op.GrantID = choice.GrantID
		sig, err := host.KeyService().Sign(r.Context(), choice.KeyURI, req.Digest, crypto.SHA256, op)
		if writeError(w, err) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(chooseResponse{Key: choice.KeyURI, Signature: sig, GrantID: choice.GrantID})
	})
	mux.HandleFunc("POST /tokens", func(w http.ResponseWriter, r *http.Request) {
		var req listChooseRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		toks, err := host.KeyService().Tokens(r.Context(), sdk.Operation{Origin: req.Origin, ForChoice: req.ForChoice})
		if len(toks) == 0 && writeError(w, err) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int{"tokens": len(toks)})
	})
	mux.HandleFunc("POST /listchoose", func(w http.ResponseWriter, r *http.Request) {
		var req listChooseRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		op := sdk.Operation{
			Origin: req.Origin, Summary: "sign with the key you pick",
			Documents: []sdk.Document{sdk.DocumentOf("contract.txt", "text/plain", []byte("contract"))},
		}
		list := op
		list.ForChoice = req.ForChoice
		keys, err := host.KeyService().Keys(r.Context(), list)
		if len(keys) == 0 && writeError(w, err) {
			return
		}
		var out listChooseResponse
		var uris []string
		for _, k := range keys {
			out.Listed++
			if k.Withheld {
				out.Withheld++
			}
			if k.HasPrivateKey && k.CanSign {
				uris = append(uris, k.URI)
			}
		}
		filter := sdk.KeyFilter{Certificate: req.Certificate}
		for _, a := range req.Algorithms {
			filter.Algorithms = append(filter.Algorithms, sdk.KeyAlgorithm(a))
		}
		choice, err := host.Consent().ChooseKey(r.Context(), uris, filter, op)
		if writeError(w, err) {
			return
		}
		key := choice.Key
		if req.Lookup {
			if key, err = host.KeyService().Key(r.Context(), choice.KeyURI, op); writeError(w, err) {
				return
			}
		}
		op.GrantID = choice.GrantID
		sig, err := host.KeyService().Sign(r.Context(), key.URI, req.Digest, crypto.SHA256, op)
		if writeError(w, err) {
			return
		}
		out.Key, out.Signature, out.GrantID = key.URI, sig, choice.GrantID
		if key.Certificate != nil {
			out.Certificate = key.Certificate.Raw
		}
		for _, c := range key.Chain {
			out.Chain = append(out.Chain, c.Raw)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
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
