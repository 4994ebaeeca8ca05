package eimzo_test

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/internal/plugintest"
)

// The pseudo-ids' cheap path (tokens.go tokenCandidates, tokenKey): the key
// they resolved to is looked up alone on the next calls, each lookup still
// a host call under the caller's origin policy, and one candidate signs
// without a key choice. Real plugin, real host, real SoftHSM keys.
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
// one key (not a key URI): the first signature lists, the next look the
// key up alone; a refused origin is refused by that lookup, with the cache
// warm, before anything else (-1022, no signature asked for, nothing
// about the key in the reply).
func TestCKCTokenCacheAndRefusedOrigin(t *testing.T) {
	h0 := plugintest.Start(t, pkg, nil)
	rsa := h0.Key(t, plugintest.KeyRSA)
	prefix := strings.TrimSuffix(rsa.URI, ";type=private")
	if prefix == rsa.URI {
		t.Fatalf("key URI %s does not end in type=private", rsa.URI)
	}
	const evil = "https://evil.example"
	rec := &recorder{deny: func(r consent.Request) bool { return r.Origin == evil }}
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: rec, Options: map[string]string{"token_key": prefix}})
	url := endpoint(h, "ws")
	doc := []byte("to'lov topshirig'i")

	for i := range 3 {
		r := mustOK(t, "create_pkcs7", call(t, h, url, testOrigin, fn("pkcs7", "create_pkcs7", b64(doc), "ckc", "no")))
		checkSignReply(t, r, rsa.Certificate)
		// The first call lists, the next look the key up (a call more
		// than TokenCacheTTL after the previous one would list again).
		if all, lookups := listings(rec.requests()); all+len(lookups) != i+1 || all < 1 {
			t.Fatalf("call %d: %d listings and lookups %v, want one host lookup per call, the first a listing", i, all, lookups)
		}
	}
	all, lookups := listings(rec.requests())
	if len(lookups) == 0 {
		t.Fatalf("%d listings and no lookup of the cached key", all)
	}
	for _, u := range lookups {
		if u != rsa.URI {
			t.Errorf("looked up %s, want %s", u, rsa.URI)
		}
	}
	// One candidate and a signing function: no key choice; the signature
	// request is the dialog, with the domain, the document and the key.
	sum := sha256.Sum256(doc)
	var signs int
	for _, r := range rec.requests() {
		if len(r.Choices) > 0 {
			t.Errorf("key choice with one candidate: %v", r)
		}
		if r.Kind == consent.Sign {
			signs++
			if r.KeyURI != rsa.URI || r.GrantID != "" || len(r.Documents) != 1 || !bytes.Equal(r.Documents[0].SHA256, sum[:]) ||
				!strings.Contains(r.Summary, "portal.example asks to sign the text") || !strings.Contains(r.Summary, rsa.Certificate.Subject.CommonName) {
				t.Errorf("signature request %q key %s documents %v", r.Summary, r.KeyURI, r.Documents)
			}
		}
	}
	if signs != 3 {
		t.Errorf("%d signature requests, want 3", signs)
	}

	// A refused origin with the cache warm: refused by the lookup.
	before := len(rec.requests())
	for _, req := range []map[string]any{
		fn("pkcs7", "create_pkcs7", b64(doc), "ckc", "no"),
		fn("pkcs7", "create_pkcs7", b64(doc), "idcard", "yes"),
		fn("x509", "get_certificate_chain", "ckc"),
	} {
		reason := mustFail(t, "refused origin", call(t, h, url, evil, req), -1022)
		for _, leak := range []string{rsa.Certificate.Subject.CommonName, rsa.Certificate.SerialNumber.Text(16), "rsa"} {
			if strings.Contains(strings.ToLower(reason), strings.ToLower(leak)) {
				t.Errorf("refusal %q names the key (%s)", reason, leak)
			}
		}
	}
	for _, r := range rec.requests()[before:] {
		if r.Origin != evil || r.Kind != consent.List {
			t.Errorf("refused origin caused request %s %q from %q; want only its refused lookups", r.Kind, r.Summary, r.Origin)
		}
	}
	if n := len(rec.requests()) - before; n != 3 {
		t.Errorf("%d host requests for 3 refused calls, want 3", n)
	}
	// The allowed origin still signs from the cache.
	checkSignReply(t, mustOK(t, "create_pkcs7 after", call(t, h, url, testOrigin, fn("pkcs7", "create_pkcs7", b64(doc), "ckc", "no"))), rsa.Certificate)
	if all2, lookups2 := listings(rec.requests()); all2+len(lookups2) != all+len(lookups)+4 {
		t.Errorf("%d listings and %d lookups, want 4 more host lookups (3 refused, 1 allowed)", all2, len(lookups2))
	}
}

// TestCKCTokenKeyExact: token_key naming one key exactly is looked up,
// never listed; functions that do not sign keep the key choice even for
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
	mustOK(t, "get_certificate_chain", call(t, h, url, testOrigin, fn("x509", "get_certificate_chain", "ckc")))
	all, lookups := listings(rec.requests())
	if all != 0 || len(lookups) < 3 {
		t.Errorf("%d listings and lookups %v, want no listing and a lookup per call", all, lookups)
	}
	for _, u := range lookups {
		if u != ec.URI {
			t.Errorf("looked up %s, want %s", u, ec.URI)
		}
	}
	var choices int
	for _, r := range rec.requests() {
		if len(r.Choices) > 0 {
			choices++
			if !strings.Contains(r.Summary, "x509.get_certificate_chain") {
				t.Errorf("key choice for %q", r.Summary)
			}
		}
	}
	if choices != 1 {
		t.Errorf("%d key choices, want 1 (get_certificate_chain)", choices)
	}
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
	if found != 1 {
		t.Errorf("%d key choices showing the co-signed document, want 1; requests: %v", found, rec.requests())
	}
}
