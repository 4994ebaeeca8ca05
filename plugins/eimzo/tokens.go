package eimzo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/signet-agent/signet/sdk"
)

// Hardware tokens.
//
// E-IMZO has a plugin per kind of device — idcard (E-IMZO ID card and
// token), baikey (BAIK token), uzgrd (UZGUARD), ckc (any compatible crypto
// key container) — and pages sign with a pseudo-id instead of a keyId:
// create_pkcs7(data, "ckc"), after which E-IMZO shows a device picker and
// a PIN dialog. Signet reaches every token through PKCS#11 and maps them
// all onto ckc:
//
//   - ckc.list_ckc lists the PKCS#11 tokens that hold a usable signing key
//     (a private key with a certificate that may sign), as
//     {"type": "EIMZO", "deviceID": "<manufacturer> <model> <label> <serial>"}.
//     "EIMZO" is the only type E-IMZO is known to report (Didox's
//     example too); the official client only counts the devices.
//     ckc.supported_ckc answers {"types": ["EIMZO"]}.
//   - idcard.list_readers, baikey.list_tokens and uzgrd.list_tokens answer
//     empty lists: Signet has no drivers of its own for those devices (one
//     that has a PKCS#11 module appears under ckc), and listing the same
//     token under several plugins would show the person the same key
//     several times in the official client's list.
//   - The pseudo-ids ckc, idcard, baikey and uzgrd are all accepted
//     wherever a keyId is (keyid.go) and resolve the same way (tokenKey).
//   - *.clear_saved_pin_codes succeed and do nothing: Signet keeps no PIN
//     for pages. The host asks for the PIN in its own dialog, and its login
//     policy (not the page) decides how long a token stays logged in.
//
// Token keys are not listed by pfx.list_all_certificates: the official
// client turns every entry of that list into {type: 'pfx'} and calls
// pfx.load_key with it, which only works for key files. Pages reach token
// keys through the pseudo-ids.

func init() {
	const pins = "Стереть сохраненые PIN-коды (Signet не хранит PIN-коды для страниц: ничего не делает)"
	register(
		&function{Plugin: "ckc", Name: "list_ckc", Gate: gateKeyStore, Run: (*Server).ckcList,
			Description: "Получить список Крипто Контейнеров Ключа (Signet: токены PKCS#11 с ключом подписи)"},
		&function{Plugin: "ckc", Name: "supported_ckc", Gate: gateAsk, Run: (*Server).ckcSupported,
			Description: "Получить список типов поддерживаемых Крипто Контейнеров Ключа"},
		&function{Plugin: "ckc", Name: "clear_saved_pin_codes", Gate: gateAsk, Run: (*Server).clearSavedPINs, Description: pins},
		&function{Plugin: "idcard", Name: "list_readers", Gate: gateAsk, Run: emptyList("readers"),
			Description: "Получить список считывателей (Signet: пусто, ID-карты с модулем PKCS#11 доступны через \"ckc\")"},
		&function{Plugin: "idcard", Name: "clear_saved_pin_codes", Gate: gateAsk, Run: (*Server).clearSavedPINs, Description: pins},
		&function{Plugin: "baikey", Name: "list_tokens", Gate: gateAsk, Run: emptyList("tokens"),
			Description: "Получить список BAIK-Token ов (Signet: пусто, токены с модулем PKCS#11 доступны через \"ckc\")"},
		&function{Plugin: "baikey", Name: "clear_saved_pin_codes", Gate: gateAsk, Run: (*Server).clearSavedPINs, Description: pins},
		&function{Plugin: "uzgrd", Name: "list_tokens", Gate: gateAsk, Run: emptyList("tokens"),
			Description: "Получить список UZGUARD-Token ов (Signet: пусто, токены с модулем PKCS#11 доступны через \"ckc\")"},
		&function{Plugin: "uzgrd", Name: "clear_saved_pin_codes", Gate: gateAsk, Run: (*Server).clearSavedPINs, Description: pins},
	)
}

// CKCType is the device type ckc.list_ckc reports for every token.
const CKCType = "EIMZO"

// ckcDevice is one entry of ckc.list_ckc.
type ckcDevice struct {
	Type     string `json:"type"`
	DeviceID string `json:"deviceID"`
}

func (s *Server) ckcList(c *call) (Reply, error) {
	op := c.op(c.sess.domain + " lists the hardware tokens")
	// Always a listing: a page polls list_ckc to see a token the person
	// just inserted.
	keys, err := s.tokenCandidates(c, op, true)
	if err != nil {
		return nil, err
	}
	toks, err := s.keys.Tokens(c.ctx, op)
	if err != nil && len(toks) == 0 {
		return nil, s.gateError(c.sess, err)
	}
	used := map[string]bool{}
	for _, k := range keys {
		used[k.TokenURI] = true
	}
	devices := []ckcDevice{}
	for _, t := range toks {
		if !used[t.URI] {
			continue
		}
		var id []string
		for _, f := range []string{t.Manufacturer, t.Model, t.Label, t.Serial} {
			if f = strings.TrimSpace(f); f != "" {
				id = append(id, f)
			}
		}
		devices = append(devices, ckcDevice{Type: CKCType, DeviceID: strings.Join(id, " ")})
	}
	sort.Slice(devices, func(i, j int) bool { return devices[i].DeviceID < devices[j].DeviceID })
	return Reply{"devices": devices}, nil
}

func (s *Server) ckcSupported(*call) (Reply, error) {
	return Reply{"types": []string{CKCType}}, nil
}

func (s *Server) clearSavedPINs(*call) (Reply, error) { return Reply{}, nil }

// emptyList returns a function answering an empty list under field.
func emptyList(field string) func(*Server, *call) (Reply, error) {
	return func(*Server, *call) (Reply, error) { return Reply{field: []string{}}, nil }
}

// TokenCacheTTL is how long the pseudo-ids remember the one token key
// they resolved to (tokenCandidates).
const TokenCacheTTL = 5 * time.Second

// tokenCandidates returns the keys a pseudo-id may use: PKCS#11 keys with
// a private key and a certificate, able to sign, narrowed by the token_key
// option. Sorted by URI. A lookup refused by the host's origin policy is
// -1022, the domain not authorised. list forces a listing (list_ckc).
//
// Listing every key of every token, with its certificates, on each
// signature was most of the agent's work per create_pkcs7, and a host call
// to look the key up before each Sign was a second cross-process round
// trip per signature (README, "Benchmark"). So the resolution is
// remembered, in two layers, for TokenCacheTTL from the host call that
// gave it (use does not extend it):
//
//   - Per origin, the key itself. When an origin's own lookup or listing
//     (a host call with that call's Operation: the origin policy, the
//     unattended rules and the journal applied to it) gave exactly one
//     candidate in full, that origin's next signatures use that key and
//     certificate without asking the host for them again: each is one host
//     call, the Sign, which applies the origin policy, consent and the
//     journal to every signature. Nothing is shared between origins (not
//     even between two origins of one domain, http and https say): an
//     origin gets a certificate only from a host call made for it. A key
//     listed withheld (an origin not allowed yet) is not remembered.
//   - Shared by all origins, the URI of the one key (it is the host's key,
//     not an answer to one origin): an origin with no key of its own looks
//     that key up alone (KeyService.Key: the host reads only that key's
//     token) instead of listing. token_key naming one key exactly (a key
//     URI as the host lists it, with type=private) is looked up that way
//     too (tokenKeyExact).
//
// A key the host no longer finds (ErrKeyNotFound, ErrTokenRemoved: the
// token was pulled) is forgotten by every origin: on a lookup, and the
// listing runs in the same call, so the reply is the listing's (-5003
// without the token); on a Sign (forgetTokenKey), whose error is the
// reply, and the next call lists. A Sign failing otherwise (refused by
// the person or by the host's policy) makes the calling origin forget its
// key: its next call asks the host again, so an origin no longer allowed
// gets the lookup's -1022. What the TTL can hide: a second usable
// key appearing on the tokens is not offered, and a certificate removed
// from the token is still sent, until it passes; the person still sees,
// in the signature's dialog, which key signs. A host lookup naming the key
// may match an unattended rule naming that key where the listing would
// not: stricter, never looser.
func (s *Server) tokenCandidates(c *call, op sdk.Operation, list bool) ([]sdk.Key, error) {
	origin := c.sess.origin
	if !list {
		if k, ok := s.handles.originKey(origin); ok {
			return []sdk.Key{k}, nil
		}
	}
	uri, expires, cached := s.handles.cachedToken()
	exact := false
	if list {
		uri, cached = "", false
	} else if !cached {
		uri, exact = s.tokenKeyExact()
	}
	if cached || exact {
		k, err := s.keys.Key(c.ctx, uri, op)
		switch {
		case err == nil && s.tokenCandidate(k):
			if exact {
				expires = s.handles.now().Add(TokenCacheTTL)
			}
			s.rememberForOrigin(origin, k, expires)
			return []sdk.Key{k}, nil
		case err == nil, errors.Is(err, sdk.ErrKeyNotFound), errors.Is(err, sdk.ErrTokenRemoved):
			// Gone or no longer usable: list, as without the cache.
			s.handles.dropToken(uri)
		default:
			return nil, s.gateError(c.sess, err)
		}
	}
	keys, err := s.keys.Keys(c.ctx, op)
	if err != nil {
		if len(keys) == 0 {
			return nil, s.gateError(c.sess, err)
		}
		s.log.Warn("key store listed with problems", "err", err)
	}
	var out []sdk.Key
	for _, k := range keys {
		if s.tokenCandidate(k) {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].URI < out[j].URI })
	if len(out) == 1 {
		expires := s.handles.now().Add(TokenCacheTTL)
		s.handles.setToken(out[0].URI, TokenCacheTTL)
		s.rememberForOrigin(origin, out[0], expires)
	}
	return out, nil
}

// rememberForOrigin remembers k as origin's token key until expires,
// unless the host withheld its identity (no certificate to remember).
func (s *Server) rememberForOrigin(origin string, k sdk.Key, expires time.Time) {
	if !k.Withheld {
		s.handles.setOriginKey(origin, k, expires)
	}
}

// tokenCandidate reports whether k is a key the pseudo-ids may use. A key
// listed with its identity withheld (sdk.Key.Withheld: a listing for the
// choice by an origin not allowed yet) shows no certificate; the key
// chooser's filter then checks it has one.
func (s *Server) tokenCandidate(k sdk.Key) bool {
	return strings.HasPrefix(k.URI, "pkcs11:") && k.HasPrivateKey && k.CanSign && (k.Certificate != nil || k.Withheld) &&
		strings.HasPrefix(k.URI, s.tokenKeyPrefix)
}

// tokenKeyExact returns the token_key option when it names one private
// key (its path has type=private, the last attribute of a key URI as the
// host lists it), so it can be looked up rather than listed.
func (s *Server) tokenKeyExact() (string, bool) {
	path, _, _ := strings.Cut(strings.TrimPrefix(s.tokenKeyPrefix, "pkcs11:"), "?")
	for _, attr := range strings.Split(path, ";") {
		if attr == "type=private" {
			return s.tokenKeyPrefix, true
		}
	}
	return "", false
}

// forgetTokenKey forgets the pseudo-ids' remembered token key after a use
// of key failed: for every origin when the host no longer finds the key,
// and for the calling origin whatever the failure (a refusal, say: the
// origin's next call asks the host for the key again, and an origin the
// host no longer allows is refused there as by the listing, -1022).
func (s *Server) forgetTokenKey(c *call, key sdk.Key, err error) {
	if errors.Is(err, sdk.ErrKeyNotFound) || errors.Is(err, sdk.ErrTokenRemoved) {
		s.handles.dropToken(key.URI)
		return
	}
	s.handles.dropOriginKey(c.sess.origin)
}

// keyChooser is what tokenKey uses of the host's consent: *sdk.Consent
// implements it. Consent implementations without it (tests' fakes) get the
// fallback.
type keyChooser interface {
	ChooseKey(ctx context.Context, keyURIs []string, filter sdk.KeyFilter, op sdk.Operation) (sdk.KeyChoice, error)
}

// tokenKey resolves a pseudo-id (ckc, idcard, baikey, uzgrd) to a token key
// for this call. The candidates are tokenCandidates; none is -5003 ("insert
// the token"). The person picks one in the host's key chooser, whose answer
// includes a one-use grant for the signature: it goes into the handle's
// GrantID, and the Sign that follows presents it, so one dialog covers the
// choice and the signature. A signing function (signingFunctions) with exactly
// one candidate skips the chooser: there is nothing to pick, and the Sign's
// own consent shows the same things — the domain, what is signed (summary
// and document) and the key (the summary names its certificate, the host
// shows the key) — so it is still one dialog per signature, without the
// chooser's round trip, key lookups and journal record. Other functions
// (get_certificate_chain, create_pkcs10_from_key) keep the chooser even
// for one key: the person sees a page reach for the token's certificate.
// When the host has no chooser (ErrUnsupported), exactly one candidate is
// used as it is (the Sign then asks on its own); several are an error
// naming the token_key option.
func (s *Server) tokenKey(c *call, pseudo string) (*handle, error) {
	summary := fmt.Sprintf("%s asks to use a hardware token key (E-IMZO %q) for %s", c.sess.domain, pseudo, c.fn.key())
	// The listing only gathers the chooser's candidates: an origin the
	// person has not allowed yet is asked nothing there (the keys come back
	// withheld), and the chooser's one dialog covers the origin's first
	// use, the key and the signature.
	listOp := c.op(summary)
	listOp.ForChoice = true
	cands, err := s.tokenCandidates(c, listOp, false)
	if err != nil {
		return nil, err
	}
	if len(cands) == 0 {
		return nil, fail(StatusInsertDisk)
	}
	uris := make([]string, len(cands))
	for i, k := range cands {
		uris[i] = k.URI
	}
	h := &handle{Type: pseudoIDs[pseudo], Domain: c.sess.domain}
	if signingFunctions[c.fn.key()] && len(cands) == 1 && !cands[0].Withheld {
		// Nothing to choose: the signature's own consent (its Operation
		// has the summary naming the domain, what is signed and the
		// key's certificate, and the document) is the one dialog.
		h.Key = cands[0]
		return h, nil
	}
	if ch, ok := s.consent.(keyChooser); ok {
		choice, err := ch.ChooseKey(c.ctx, uris, sdk.KeyFilter{Certificate: true}, chooserOp(c, pseudo, summary))
		switch {
		case err == nil:
			if !slices.Contains(uris, choice.Key.URI) {
				return nil, fmt.Errorf("the host chose key %s, not one of the candidates", choice.Key.URI)
			}
			// The choice returns the key in full (certificate and chain).
			h.Key, h.GrantID = choice.Key, choice.GrantID
			return h, nil
		case !errors.Is(err, sdk.ErrUnsupported):
			return nil, err
		}
	}
	if len(cands) > 1 {
		return nil, fmt.Errorf("%d token keys and no key chooser in the host: set the plugin option %s to one key's URI", len(cands), OptionTokenKey)
	}
	h.Key = cands[0]
	if h.Key.Withheld {
		// No chooser to put the origin's first use to the person: the
		// lookup asks it, and gives the certificate.
		k, err := s.keys.Key(c.ctx, h.Key.URI, c.op(summary))
		if err != nil {
			return nil, s.gateError(c.sess, err)
		}
		if !s.tokenCandidate(k) {
			return nil, fail(StatusInsertDisk)
		}
		h.Key = k
	}
	return h, nil
}

// signingFunctions are the functions whose key use is one Sign with
// signingWhat's summary and document (pkcs7.go).
var signingFunctions = map[string]bool{
	"pkcs7.create_pkcs7":          true,
	"pkcs7.append_pkcs7_attached": true,
	"pkcs7.append_pkcs7_detached": true,
}

// chooserOp is the Operation of the key choice. The choice is the consent
// for the signature that follows (its grant covers it), so the person must
// see there what is signed: for a signing function (create_pkcs7,
// append_pkcs7_attached — the content inside pkcs7_64 —,
// append_pkcs7_detached) the document is described as the signature's own
// dialog would (signingWhat, pkcs7.go).
func chooserOp(c *call, pseudo, summary string) sdk.Operation {
	op := c.op(summary)
	if phrase, doc, ok := signingWhat(c); ok {
		op.Summary = fmt.Sprintf("%s asks to %s with a hardware token key (E-IMZO %q)", c.sess.domain, phrase, pseudo)
		op.Documents = []sdk.Document{doc}
	}
	return op
}
