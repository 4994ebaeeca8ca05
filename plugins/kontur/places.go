package kontur

import (
	"net/http"
	"strings"
)

// A place is where the API addresses something to sign or decrypt: a
// docflow reply, a PFR reply, an inventory's reply, a draft, or an incoming
// document. Its target names it in the store; its lock scope is what one
// active request at a time covers (Kontur's per-docflow lock).
type place struct {
	prefix string
	// target returns the store target and lock scope of a request
	// (the account is kept apart in the store).
	target func(r *http.Request) (target, scope string)
	// draft places hold several documents (PUT …/documents/{id}/content);
	// the others one ("reply" or "encrypted").
	draft bool
}

func pv(r *http.Request, names ...string) string {
	parts := make([]string, 0, 2*len(names))
	for _, n := range names {
		parts = append(parts, n, r.PathValue(n))
	}
	return strings.Join(parts, "/")
}

// signPlaces are the prefixes of cloud signing (replies and drafts).
var signPlaces = []place{
	{prefix: "/v1/{account}/docflows/{docflows}/documents/{documents}/replies/{replies}",
		target: func(r *http.Request) (string, string) {
			return pv(r, "docflows", "documents", "replies"), "sign:" + pv(r, "docflows")
		}},
	{prefix: "/v1/{account}/docflows/{docflows}/documents/{documents}/pfr-replies/{pfrreplies}",
		target: func(r *http.Request) (string, string) {
			return pv(r, "docflows", "documents", "pfrreplies"), "sign:" + pv(r, "docflows")
		}},
	{prefix: "/v1/{account}/docflows/{docflows}/documents/{documents}/inventories/{inventories}/documents/{inventorydocuments}/replies/{replies}",
		target: func(r *http.Request) (string, string) {
			return pv(r, "docflows", "documents", "inventories", "inventorydocuments", "replies"), "sign:" + pv(r, "docflows", "documents", "inventories")
		}},
	{prefix: "/v1/{account}/drafts/{drafts}", draft: true,
		target: func(r *http.Request) (string, string) {
			return pv(r, "drafts"), "sign:" + pv(r, "drafts")
		}},
}

// decryptPlaces are the prefixes of cloud decryption (incoming documents).
var decryptPlaces = []place{
	{prefix: "/v1/{account}/docflows/{docflows}/documents/{documents}",
		target: func(r *http.Request) (string, string) {
			return pv(r, "docflows", "documents"), "decrypt:" + pv(r, "docflows")
		}},
	{prefix: "/v1/{account}/docflows/{docflows}/documents/{documents}/inventories/{inventories}/documents/{inventorydocuments}",
		target: func(r *http.Request) (string, string) {
			return pv(r, "docflows", "documents", "inventories", "inventorydocuments"), "decrypt:" + pv(r, "docflows", "documents", "inventories")
		}},
}
