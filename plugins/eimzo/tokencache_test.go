package eimzo_test

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The pseudo-ids' cheap path (tokens.go tokenCandidates, tokenKey): the key
// an origin's lookup resolved to signs that origin's next calls with one
// host call each (the Sign, under the caller's origin policy and consent),
// another origin looks it up for itself, and one candidate signs without a
// key choice. Real plugin, real host, real SoftHSM keys.
// Token removal and failed signatures are in tokencache_internal_test.go
// (the real token cannot be pulled under a running test).

// listings splits the host requests of kind List: listings of every key
// (no key named) and lookups of one key.
func listings(reqs []consent.Request) (all int, lookups []string) {
	for _, r := range reqs {
		if r.Kind != consent.List {
			continue
		}
		if r.KeyURI == "" {
			all++
		} else {
			lookups = append(lookups, r.KeyURI)
		}
	}
	return all, lookups
}

// TestCKCTokenCacheAndRefusedOrigin: token_key is a prefix that matches
// one key (not a key URI): the first signature lists, the next make no
// lookup at all (one host call per signature: the Sign); a refused origin
// gets nothing from the allowed one's key: it is refused by its own lookup,
// with the cache warm, before anything else (-1022, no signature asked
// for, nothing about the key in the reply).
func TestCKCTokenCacheAndRefusedOrigin(t *testing.T) {
	h0 := plugintest.Start(t, pkg, nil)
	rsa := h0.Key(t, plugintest.KeyRSA)
	require.True(t, strings.HasSuffix(rsa.URI, ";type=private"), "key URI %s does not end in type=private", rsa.URI)
	prefix := strings.TrimSuffix(rsa.URI, ";type=private")
	const evil = "https://evil.example"
	rec := &recorder{deny: func(r consent.Request) bool { return r.Origin == evil }}
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: rec, Options: map[string]string{"token_key": prefix}})
	url := endpoint(h, "ws")
	doc := []byte("to'lov topshirig'i")

	for i := range 3 {
		r := mustOK(t, "create_pkcs7", call(t, h, url, testOrigin, fn("pkcs7", "create_pkcs7", b64(doc), "ckc", "no")))
		checkSignReply(t, r, rsa.Certificate)
		// The first call lists, the next use the key it gave (a call
		// more than TokenCacheTTL after the listing would list again).
		all, lookups := listings(rec.requests())
		require.Equal(t, 1, all, "call %d: listings, want the first call's only", i)
		require.Empty(t, lookups, "call %d: lookups, want none with the domain's key remembered", i)
	}
	all, lookups := listings(rec.requests())
	// One candidate and a signing function: no key choice; the signature
	// request is the dialog, with the domain, the document and the key.
	sum := sha256.Sum256(doc)
	var signs int
	for _, r := range rec.requests() {
		assert.Empty(t, r.Choices, "key choice with one candidate: %v", r)
		if r.Kind == consent.Sign {
			signs++
			assert.Equal(t, rsa.URI, r.KeyURI, "signature request %q", r.Summary)
			assert.Empty(t, r.GrantID, "signature request %q", r.Summary)
			if assert.Len(t, r.Documents, 1, "signature request %q", r.Summary) {
				assert.Equal(t, sum[:], r.Documents[0].SHA256, "signature request %q: document hash", r.Summary)
			}
			assert.Contains(t, r.Summary, "portal.example asks to sign the text")
			assert.Contains(t, r.Summary, rsa.Certificate.Subject.CommonName)
		}
	}
	assert.Equal(t, 3, signs, "signature requests")

	// A refused origin with the cache warm: refused by the lookup.
	before := len(rec.requests())
	for _, req := range []map[string]any{
		fn("pkcs7", "create_pkcs7", b64(doc), "ckc", "no"),
		fn("pkcs7", "create_pkcs7", b64(doc), "idcard", "yes"),
		fn("x509", "get_certificate_chain", "ckc"),
	} {
		reason := mustFail(t, "refused origin", call(t, h, url, evil, req), -1022)
		for _, leak := range []string{rsa.Certificate.Subject.CommonName, rsa.Certificate.SerialNumber.Text(16), "rsa"} {
			assert.NotContains(t, strings.ToLower(reason), strings.ToLower(leak), "refusal names the key")
		}
	}
	for _, r := range rec.requests()[before:] {
		// Only the refused lookups of the refused origin.
		assert.Equal(t, evil, r.Origin, "refused origin caused request %s %q", r.Kind, r.Summary)
		assert.Equal(t, consent.List, r.Kind, "refused origin caused request %s %q", r.Kind, r.Summary)
	}
	assert.Equal(t, 3, len(rec.requests())-before, "host requests for 3 refused calls")
	// The allowed origin still signs from the cache.
	checkSignReply(t, mustOK(t, "create_pkcs7 after", call(t, h, url, testOrigin, fn("pkcs7", "create_pkcs7", b64(doc), "ckc", "no"))), rsa.Certificate)
	all2, lookups2 := listings(rec.requests())
	assert.Equal(t, all+len(lookups)+3, all2+len(lookups2), "listings and lookups, want 3 more host lookups (the refused ones)")
	for _, u := range lookups2 {
		assert.Equal(t, rsa.URI, u, "looked up")
	}
}

// TestCKCTokenKeyExact: token_key naming one key exactly is looked up,
// never listed, and the domain's next signatures use what the lookup gave; functions that do not sign keep the key choice even for
// one key (a page reaching for the token's certificate is shown to the
// person).
func TestCKCTokenKeyExact(t *testing.T) {
	h0 := plugintest.Start(t, pkg, nil)
	ec := h0.Key(t, plugintest.KeyECDSA)
	rec := &recorder{choose: func(r consent.Request) (string, string) { return r.Choices[0].URI, "" }}
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: rec, Options: map[string]string{"token_key": ec.URI}})
	url := endpoint(h, "ws")
	for range 2 {
		checkSignReply(t, mustOK(t, "create_pkcs7", call(t, h, url, testOrigin, fn("pkcs7", "create_pkcs7", b64([]byte("x")), "ckc", "yes"))), ec.Certificate)
	}
	_, lookups := listings(rec.requests())
	assert.Len(t, lookups, 1, "lookups %v, want the first signature's only", lookups)
	mustOK(t, "get_certificate_chain", call(t, h, url, testOrigin, fn("x509", "get_certificate_chain", "ckc")))
	all, lookups := listings(rec.requests())
	assert.Zero(t, all, "listings, want none")
	for _, u := range lookups {
		assert.Equal(t, ec.URI, u, "looked up")
	}
	var choices int
	for _, r := range rec.requests() {
		if len(r.Choices) > 0 {
			choices++
			assert.Contains(t, r.Summary, "x509.get_certificate_chain", "key choice")
		}
	}
	assert.Equal(t, 1, choices, "key choices, want 1 (get_certificate_chain)")
}

// TestCKCChooserCoSign: with several token keys the key choice is the
// person's one dialog for a co-signature, and it shows the content inside
// pkcs7_64 and who signed it already.
func TestCKCChooserCoSign(t *testing.T) {
	rec := &recorder{}
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: rec})
	ec := h.Key(t, plugintest.KeyECDSA)
	rec.choose = func(consent.Request) (string, string) { return ec.URI, "grant-cosign" }
	url := endpoint(h, "ws")
	doc := []byte("hamkorlik shartnomasi")
	first := mustOK(t, "create", call(t, h, url, testOrigin, fn("pkcs7", "create_pkcs7", b64(doc), "ckc", "no")))
	mustOK(t, "append attached", call(t, h, url, testOrigin, fn("pkcs7", "append_pkcs7_attached", str(t, first, "pkcs7_64"), "ckc")))
	sum := sha256.Sum256(doc)
	var found int
	for _, r := range rec.requests() {
		if len(r.Choices) > 1 && strings.Contains(r.Summary, `asks to co-sign the text "hamkorlik shartnomasi" (21 bytes), already signed by "`+
			ec.Certificate.Subject.CommonName+`", with a hardware token key`) &&
			len(r.Documents) == 1 && bytes.Equal(r.Documents[0].SHA256, sum[:]) {
			found++
		}
	}
	assert.Equal(t, 1, found, "key choices showing the co-signed document; requests: %v", rec.requests())
}
