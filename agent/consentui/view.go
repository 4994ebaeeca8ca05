package consentui

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strconv"
	"time"

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
// plugin, operation), Key and Documents (size and SHA-256) are what Signet
// established: the host sets the plugin, the browser the origin, the key
// store the key and certificate, and the plugin hashes the data it signs.
// The claims — Summary, SummaryHTML, ClaimedDocs (names and types) and
// Evidence — are whatever the asking page or program chose to write, and
// are shown only inside the box labelled "The page says".
type view struct {
	ID       string
	CSRF     string
	PIN      bool // a PIN dialog (else a confirmation)
	State    string
	Pending  bool
	Notice   string
	Title    string
	Deadline string

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
}

// choiceView is one candidate key; Index is what the form posts back.
type choiceView struct {
	Index int
	Key   *keyView
}

type keyView struct {
	Label, URI, Algorithm        string
	Subject, Issuer, Serial      string
	NotBefore, NotAfter, Warning string
	HasCert                      bool
}

// view builds the page model; s.mu is held.
func (s *Server) view(d *dialog) view {
	v := view{
		ID:       d.id,
		CSRF:     d.csrf,
		State:    d.state,
		Pending:  d.state == statePending,
		Notice:   d.notice,
		Deadline: d.deadline.Format("15:04:05 MST"),
	}
	now := s.cfg.Now()
	switch d.kind {
	case kindConfirm:
		req := d.q.Request
		who := asker(req)
		describe(&v, req)
		v.Key = describeKey(req.Key, req.KeyURI, now)
		if d.q.FirstUse || req.Kind == consent.Origin {
			v.FirstUse = d.q.FirstUse
			v.Title = who + " wants to use Signet to list your certificates and request signatures"
		} else {
			v.Title = who + " asks to " + verb(req.Kind) + " with your key"
		}
		for i := range req.Choices {
			v.Choices = append(v.Choices, choiceView{Index: i, Key: describeKey(&req.Choices[i], "", now)})
		}
		if len(v.Choices) > 0 && !v.FirstUse {
			v.Title = who + " asks to " + verb(req.Kind) + " with a key you pick"
			if req.GrantUses > 1 {
				v.Title = fmt.Sprintf("%s asks to %s %d documents with a key you pick", who, verb(req.Kind), req.GrantUses)
			}
		}
		if g := d.q.Grant; g != nil && g.Uses > 0 {
			v.Grant = fmt.Sprintf("Allow %d %s within %s", g.Uses, plural(g.Uses, noun(req.Kind)), duration(g.Within))
			if req.GrantOnly {
				v.GrantOnly = true
				v.Title = who + " asks for permission to " + verb(req.Kind) + " with your key several times"
			}
		}
	case kindPIN:
		p := d.pinReq
		v.PIN = true
		v.Secret = p.Kind.String()
		v.TokenName = p.Token.Label
		if p.Token.Serial != "" {
			v.TokenName += " (serial " + p.Token.Serial + ")"
		}
		if p.Kind == hsm.Password {
			v.TokenName = p.Token.URI
		}
		v.Title = "Enter the " + v.Secret + " for " + v.TokenName
		key := p.Key
		if d.hasReq {
			describe(&v, d.req)
			if key == nil {
				key = d.req.Key
			}
			v.Title += " to let " + asker(d.req) + " " + verb(d.req.Kind)
		}
		v.Key = describeKey(key, "", now)
		if p.LastError != nil {
			if errors.Is(p.LastError, hsm.ErrPINIncorrect) {
				v.LastError = "The " + v.Secret + " you entered was incorrect."
			} else {
				v.LastError = "The previous attempt failed: " + p.LastError.Error()
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
			v.Tries = "The " + v.Secret + " is locked: no tries are left. An administrator must unblock the token."
			v.Pending = false
		case st.FinalTry:
			v.Tries = "This is the final try: one more wrong " + v.Secret + " locks the token."
		case st.Retries >= 0:
			v.Tries = strconv.Itoa(st.Retries) + " " + plural(st.Retries, "try") + " left."
		case st.CountLow:
			v.Tries = "A wrong " + v.Secret + " was entered before: few tries are left."
		}
		if p.Attempt > 1 {
			v.Title += " (attempt " + strconv.Itoa(p.Attempt) + ")"
		}
	}
	return v
}

func asker(req consent.Request) string {
	switch {
	case req.Origin != "":
		return req.Origin
	case req.Caller != "":
		return req.Caller
	}
	return "A local program"
}

// describe fills v's verified facts and the page's claims from req.
func describe(v *view, req consent.Request) {
	if req.Origin != "" {
		v.Who = append(v.Who, field{"Web site", req.Origin})
	}
	if req.Caller != "" {
		v.Who = append(v.Who, field{"Local caller", req.Caller})
	}
	if req.Plugin != "" {
		v.Who = append(v.Who, field{"Plugin", req.Plugin})
	}
	if req.Kind != "" {
		v.Who = append(v.Who, field{"Operation", string(req.Kind)})
	}
	for i, doc := range req.Documents {
		dv := docView{Index: i + 1, Size: docSize(doc), SHA256: hex.EncodeToString(doc.SHA256)}
		if dv.SHA256 == "" {
			dv.SHA256 = "not given"
		}
		v.Documents = append(v.Documents, dv)
		if doc.Name != "" || doc.ContentType != "" {
			v.ClaimedDocs = append(v.ClaimedDocs, docView{Index: i + 1, Name: doc.Name, Type: doc.ContentType})
		}
	}
	v.Summary = req.Summary
	v.SummaryHTML = req.SafeSummaryHTML()
	for _, k := range slices.Sorted(maps.Keys(req.Evidence)) {
		v.Evidence = append(v.Evidence, field{k, req.Evidence[k]})
	}
	v.HasClaims = v.Summary != "" || v.SummaryHTML != "" || len(v.ClaimedDocs) > 0 || len(v.Evidence) > 0
}

// emptySHA256 is the digest of no data.
var emptySHA256 = sha256.Sum256(nil)

// docSize is a document's size, or "not given" when the plugin passed only
// a digest (size 0 with the digest of something other than no data).
func docSize(doc consent.Document) string {
	if doc.Size == 0 && len(doc.SHA256) > 0 && !bytes.Equal(doc.SHA256, emptySHA256[:]) {
		return "not given (digest only)"
	}
	return size(doc.Size)
}

func describeKey(k *hsm.KeyInfo, uri string, now time.Time) *keyView {
	if k == nil {
		if uri == "" {
			return nil
		}
		return &keyView{URI: uri}
	}
	kv := &keyView{Label: k.Label, URI: k.URI}
	if k.Algorithm != "" {
		kv.Algorithm = string(k.Algorithm)
		if k.Bits > 0 {
			kv.Algorithm += " " + strconv.Itoa(k.Bits)
		}
	}
	if c := k.Certificate; c != nil {
		kv.HasCert = true
		kv.Subject = name(c.Subject.String(), c)
		kv.Issuer = c.Issuer.String()
		kv.Serial = c.SerialNumber.Text(16)
		kv.NotBefore = c.NotBefore.UTC().Format(time.DateTime + " UTC")
		kv.NotAfter = c.NotAfter.UTC().Format(time.DateTime + " UTC")
		switch {
		case now.After(c.NotAfter):
			kv.Warning = "This certificate has expired."
		case now.Before(c.NotBefore):
			kv.Warning = "This certificate is not valid yet."
		}
	}
	return kv
}

func name(dn string, c *x509.Certificate) string {
	if dn == "" && len(c.EmailAddresses) > 0 {
		return c.EmailAddresses[0]
	}
	return dn
}

func verb(k consent.Kind) string {
	switch k {
	case consent.Sign:
		return "sign"
	case consent.Decrypt:
		return "decrypt"
	case consent.Keygen:
		return "create a key"
	case consent.CSR:
		return "create a certificate request"
	case consent.Import:
		return "import a certificate"
	case consent.List:
		return "list your certificates"
	}
	return "use Signet"
}

func noun(k consent.Kind) string {
	switch k {
	case consent.Sign:
		return "signature"
	case consent.Decrypt:
		return "decryption"
	}
	return "use"
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	if s == "try" {
		return "tries"
	}
	return s + "s"
}

func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "this session"
	case d%time.Hour == 0:
		h := int(d / time.Hour)
		return strconv.Itoa(h) + " " + plural(h, "hour")
	case d%time.Minute == 0:
		m := int(d / time.Minute)
		return strconv.Itoa(m) + " " + plural(m, "minute")
	}
	return d.String()
}

func size(n int64) string {
	const k = 1024
	switch {
	case n < k:
		return strconv.FormatInt(n, 10) + " bytes"
	case n < k*k:
		return fmt.Sprintf("%.1f KiB (%d bytes)", float64(n)/k, n)
	case n < k*k*k:
		return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/(k*k), n)
	}
	return fmt.Sprintf("%.1f GiB (%d bytes)", float64(n)/(k*k*k), n)
}
