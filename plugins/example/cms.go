package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/signet-agent/signet/sdk"
	"github.com/signet-agent/signet/sdk/cms"
)

// handleCMS signs a document and returns a detached CMS SignedData (DER,
// with the signer's certificate and chain): POST /cms {"key": URI or "",
// "document": base64, "name": "…"} → {"cms": base64, "key": URI}. Without
// a key, the person picks one of the token's signing keys in the host's
// dialog (Consent.ChooseKey), and that choice is the consent for this one
// signature.
func handleCMS(host *sdk.Host) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Key      string `json:"key"`
			Document []byte `json:"document"`
			Name     string `json:"name"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, MaxDocument*4/3+64<<10)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad JSON"})
			return
		}
		if len(req.Document) == 0 || len(req.Document) > MaxDocument {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("document of %d bytes: 1 to %d", len(req.Document), MaxDocument)})
			return
		}
		op := sdk.Operation{
			Origin:    r.Header.Get("Origin"),
			Caller:    "example /cms",
			Documents: []sdk.Document{sdk.DocumentOf(req.Name, "", req.Document)},
		}
		key, err := signingKey(r, host, req.Key, &op)
		if err != nil {
			writeError(w, err)
			return
		}
		// One host call: cms hashes the document here and has the host sign
		// the signed attributes. The host asks the person (unless the
		// choice's grant covers it) and the token's PIN.
		signer := host.KeyService().Signer(r.Context(), key, op)
		der, err := cms.Sign(req.Document, signer, key.Certificate, &cms.SignOptions{Detached: true, Chain: key.Chain})
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"cms": der, "key": key.URI})
	}
}

// signingKey returns the key named by uri, or, for "", the key the person
// picks among the token's signing keys with a certificate; op then carries
// the choice's one-use grant. The listing is for the choice only
// (ForChoice): an origin the person has not allowed yet is asked nothing
// there, and the choice's one dialog covers the origin, the key and the
// signature. The choice returns the key with its certificate and chain.
func signingKey(r *http.Request, host *sdk.Host, uri string, op *sdk.Operation) (sdk.Key, error) {
	ks := host.KeyService()
	if uri != "" {
		key, err := ks.Key(r.Context(), uri, *op)
		if err == nil && key.Certificate == nil {
			err = fmt.Errorf("key %s has no certificate: %w", uri, sdk.ErrInvalidRequest)
		}
		return key, err
	}
	list := *op
	list.ForChoice = true
	keys, err := ks.Keys(r.Context(), list)
	if err != nil && len(keys) == 0 {
		return sdk.Key{}, err
	}
	var candidates []string
	for _, k := range keys {
		// A withheld key shows no certificate: the host checks the filter.
		if k.HasPrivateKey && k.CanSign && (k.Withheld || k.Certificate != nil) && len(candidates) < sdk.MaxKeyChoices {
			candidates = append(candidates, k.URI)
		}
	}
	if len(candidates) == 0 {
		return sdk.Key{}, fmt.Errorf("no signing key with a certificate: %w", sdk.ErrKeyNotFound)
	}
	choice, err := host.Consent().ChooseKey(r.Context(), candidates, sdk.KeyFilter{Certificate: true}, *op)
	if err != nil {
		return sdk.Key{}, err
	}
	op.GrantID = choice.GrantID // the Sign that follows is covered by the choice
	return choice.Key, nil
}
