package consentui

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"html/template"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
)

// view is what page.html renders. Every string in it is text: html/template
// escapes it. The one exception is SummaryHTML, an HTML summary (Cipher's
// metaData) passed through consent.SanitizeHTML (text formatting, lists,
// tables; no attributes, links, images, styles or scripts) right here,
// whatever sanitising came before.
//
// The page keeps two kinds of facts apart. Who (web site, local caller,
// plugin, operation), What (the sentence built from them), Key and
// Documents (size and SHA-256) are what Signet established: the host sets
// the plugin, the browser the origin, the key store the key and
// certificate, and the plugin hashes the data it signs. The claims —
// Summary, SummaryHTML, ClaimedDocs (names and types) and Evidence — are
// whatever the asking page or program chose to write, and are shown only
// inside the box labelled "The page says".
type view struct {
	L        *locale
	ID       string
	CSRF     string
	PIN      bool // a PIN dialog (else a confirmation)
	State    string
	Pending  bool
	Notice   string
	Title    string
	Deadline string

	// What says in one sentence what happens when the person allows.
	What      string
	Who       []field
	Documents []docView
	Key       *keyView

	// Claims of the asking page (see above).
	Summary     string
	SummaryHTML template.HTML
	ClaimedDocs []docView
	Evidence    []field
	HasClaims   bool

	FirstUse bool
	Grant    string // "Allow 5 signatures within 10 minutes"
	// GrantOnly: the question is only about the grant (Cipher's
	// accessToken): no one-time Approve.
	GrantOnly bool
	// Choices are the keys the person picks from (consent.Request.Choices):
	// radio buttons, none preselected; the Allow buttons stay disabled
	// until one is picked, and the server refuses an Allow without one.
	Choices []choiceView

	// PIN dialogs
	Secret    string // "user PIN", "password"
	TokenName string
	LastError string
	Tries     string
	FinalTry  bool
	Locked    bool
}

type field struct{ Name, Value string }

// docView is one document; Index (from 1) ties a claimed name to the
// verified size and digest.
type docView struct {
	Index                    int
	Name, Size, SHA256, Type string
	DigestOnly               bool
}

// choiceView is one candidate key; Index is what the form posts back.
type choiceView struct {
	Index int
	Key   *keyView
}

// notice keys (dialog.notice), translated when the page is rendered.
const (
	noticePickKey      = "notice.pickKey"
	noticeEnterSecret  = "notice.enterSecret"
	noticeConfirmFinal = "notice.confirmFinal"
)

// view builds the page model in l's language; s.mu is held.
func (s *Server) view(d *dialog, l *locale) view {
	v := view{
		L:        l,
		ID:       d.id,
		CSRF:     d.csrf,
		State:    d.state,
		Pending:  d.state == statePending,
		Deadline: d.deadline.Format("15:04:05 MST"),
	}
	now := s.cfg.Now()
	switch d.kind {
	case kindConfirm:
		req := d.q.Request
		who := asker(l, req)
		describe(l, &v, req)
		v.Key = describeKey(l, req.Key, req.KeyURI, now)
		if d.q.FirstUse || req.Kind == consent.Origin {
			v.FirstUse = d.q.FirstUse
			v.Title = l.T("title.firstUse", who)
			v.What = l.T("what.firstUse", who)
		} else {
			v.Title = l.T("title.asks", who, verb(l, req.Kind))
		}
		for i := range req.Choices {
			v.Choices = append(v.Choices, choiceView{Index: i, Key: describeKey(l, &req.Choices[i], "", now)})
		}
		if len(v.Choices) > 0 && !v.FirstUse {
			v.Title = l.T("title.asksPick", who, verb(l, req.Kind))
			if req.GrantUses > 1 {
				v.Title = l.T("title.asksPickN", who, verb(l, req.Kind), req.GrantUses)
			}
		}
		if g := d.q.Grant; g != nil && g.Uses > 0 {
			v.Grant = l.N("grant."+noun(req.Kind), g.Uses, duration(l, g.Within))
			if req.GrantOnly {
				v.GrantOnly = true
				v.Title = l.T("title.grantOnly", who, verb(l, req.Kind))
				v.What = l.T("what.grantOnly", v.Grant, who)
			}
		}
	case kindPIN:
		p := d.pinReq
		v.PIN = true
		v.Secret = secretName(l, p.Kind)
		v.TokenName = p.Token.Label
		if p.Token.Serial != "" {
			v.TokenName = l.T("token.withSerial", p.Token.Label, p.Token.Serial)
		}
		if p.Kind == hsm.Password {
			v.TokenName = fileName(p.Token.URI)
		}
		v.Title = l.T("title.pin", v.Secret, v.TokenName)
		key := p.Key
		if d.hasReq {
			describe(l, &v, d.req)
			if key == nil {
				key = d.req.Key
			}
			v.Title = l.T("title.pinFor", v.Secret, v.TokenName, asker(l, d.req), verb(l, d.req.Kind))
		}
		v.Key = describeKey(l, key, "", now)
		if p.LastError != nil {
			if errors.Is(p.LastError, hsm.ErrPINIncorrect) {
				v.LastError = l.T("pin.incorrect", v.Secret)
			} else {
				v.LastError = l.T("pin.failed", p.LastError.Error())
			}
		}
		st := p.State
		var pe *hsm.PINError
		if errors.As(p.LastError, &pe) {
			// the state after the failed attempt, if the request's is older
			st.CountLow = st.CountLow || pe.State.CountLow
			st.FinalTry = st.FinalTry || pe.State.FinalTry
			st.Locked = st.Locked || pe.State.Locked
		}
		v.Locked = st.Locked
		v.FinalTry = st.FinalTry && !st.Locked
		switch {
		case st.Locked:
			v.Tries = l.T("pin.locked", v.Secret)
			v.Pending = false
		case st.FinalTry:
			v.Tries = l.T("pin.finalTry", v.Secret)
		case st.Retries >= 0:
			v.Tries = l.N("pin.triesLeft", st.Retries)
		case st.CountLow:
			v.Tries = l.T("pin.countLow", v.Secret)
		}
		if p.Attempt > 1 {
			v.Title += " " + l.T("pin.attempt", p.Attempt)
		}
	}
	switch d.notice {
	case "":
	case noticeEnterSecret:
		v.Notice = l.T(d.notice, v.Secret)
	default:
		v.Notice = l.T(d.notice)
	}
	return v
}

func asker(l *locale, req consent.Request) string {
	switch {
	case req.Origin != "":
		return req.Origin
	case req.Caller != "":
		return req.Caller
	}
	return l.T("who.localProgram")
}

// host is the web site's host name for the one-sentence summary (the
// scheme and default port add nothing a person reads), or the caller.
func host(l *locale, req consent.Request) string {
	if req.Origin != "" {
		if u, err := url.Parse(req.Origin); err == nil && u.Host != "" {
			if u.Port() == "" || (u.Scheme == "https" && u.Port() == "443") {
				return u.Hostname()
			}
			return u.Host
		}
	}
	return asker(l, req)
}

// describe fills v's verified facts, the one-sentence summary and the
// page's claims from req.
func describe(l *locale, v *view, req consent.Request) {
	if req.Origin != "" {
		v.Who = append(v.Who, field{l.T("who.site"), req.Origin})
	}
	if req.Caller != "" {
		v.Who = append(v.Who, field{l.T("who.caller"), req.Caller})
	}
	if req.Plugin != "" {
		v.Who = append(v.Who, field{l.T("who.plugin"), req.Plugin})
	}
	if req.Kind != "" {
		v.Who = append(v.Who, field{l.T("who.operation"), opName(l, string(req.Kind))})
	}
	for i, doc := range req.Documents {
		dv := docView{Index: i + 1, Size: docSize(l, doc), SHA256: hex.EncodeToString(doc.SHA256), DigestOnly: digestOnly(doc)}
		if dv.SHA256 == "" {
			dv.SHA256 = l.T("doc.noDigest")
		}
		v.Documents = append(v.Documents, dv)
		if doc.Name != "" || doc.ContentType != "" {
			v.ClaimedDocs = append(v.ClaimedDocs, docView{Index: i + 1, Name: doc.Name, Type: doc.ContentType})
		}
	}
	v.What = what(l, req)
	v.Summary = req.Summary
	v.SummaryHTML = req.SafeSummaryHTML()
	for _, k := range slices.Sorted(maps.Keys(req.Evidence)) {
		v.Evidence = append(v.Evidence, field{k, req.Evidence[k]})
	}
	v.HasClaims = v.Summary != "" || v.SummaryHTML != "" || len(v.ClaimedDocs) > 0 || len(v.Evidence) > 0
}

// what says in one sentence what the operation does, from the checked
// facts only: "Sign 1 document of 10.0 KB for portal.example.uz."
func what(l *locale, req consent.Request) string {
	h := host(l, req)
	docs := req.Documents
	if req.Kind != consent.Sign && req.Kind != consent.Decrypt || len(docs) == 0 {
		return l.T("what.plain", capital(verb(l, req.Kind)), h)
	}
	var total int64
	digests := 0
	for _, d := range docs {
		total += d.Size
		if digestOnly(d) {
			digests++
		}
	}
	switch {
	case digests == len(docs):
		return l.N("what.digests", len(docs), h)
	case digests > 0:
		return l.N("what.mixed", len(docs), h, digests)
	case req.Kind == consent.Decrypt:
		return l.N("what.decrypt", len(docs), shortSize(l, total), h)
	}
	return l.N("what.sign", len(docs), shortSize(l, total), h)
}

func capital(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// emptySHA256 is the digest of no data.
var emptySHA256 = sha256.Sum256(nil)

// digestOnly reports a document the plugin passed only as a digest (size
// 0 with the digest of something other than no data).
func digestOnly(doc consent.Document) bool {
	return doc.Size == 0 && len(doc.SHA256) > 0 && !bytes.Equal(doc.SHA256, emptySHA256[:])
}

// docSize is a document's size, or "not given" when the plugin passed only
// a digest.
func docSize(l *locale, doc consent.Document) string {
	if digestOnly(doc) {
		return l.T("doc.digestOnly")
	}
	return size(l, doc.Size)
}

func secretName(l *locale, k hsm.PINKind) string {
	switch k {
	case hsm.ContextPIN:
		return l.T("secret.context")
	case hsm.Password:
		return l.T("secret.password")
	}
	return l.T("secret.user")
}

func verb(l *locale, k consent.Kind) string {
	switch k {
	case consent.Sign, consent.Decrypt, consent.Keygen, consent.CSR, consent.Import, consent.List:
		return l.T("verb." + string(k))
	}
	return l.T("verb.use")
}

// opName is an operation (a consent kind or a journal op) for people.
func opName(l *locale, op string) string {
	if s, ok := catalogues[defaultLang]["op."+op]; ok && s != "" {
		return l.T("op." + op)
	}
	return op
}

func noun(k consent.Kind) string {
	switch k {
	case consent.Sign:
		return "sign"
	case consent.Decrypt:
		return "decrypt"
	}
	return "use"
}

func duration(l *locale, d time.Duration) string {
	switch {
	case d <= 0:
		return l.T("dur.session")
	case d%time.Hour == 0:
		return l.N("dur.hours", int(d/time.Hour))
	case d%time.Minute == 0:
		return l.N("dur.minutes", int(d/time.Minute))
	}
	return d.String()
}

// size is a size with its exact byte count.
func size(l *locale, n int64) string {
	if n < 1024 {
		return l.N("size.bytes", int(n))
	}
	return l.T("size.exact", shortSize(l, n), strconv.FormatInt(n, 10))
}

// shortSize is a size rounded for a sentence: "10.0 KB" (units of 1024).
func shortSize(l *locale, n int64) string {
	const k = 1024
	switch {
	case n < k:
		return l.N("size.bytes", int(n))
	case n < k*k:
		return l.T("size.kb", strconv.FormatFloat(float64(n)/k, 'f', 1, 64))
	case n < k*k*k:
		return l.T("size.mb", strconv.FormatFloat(float64(n)/(k*k), 'f', 1, 64))
	}
	return l.T("size.gb", strconv.FormatFloat(float64(n)/(k*k*k), 'f', 1, 64))
}
