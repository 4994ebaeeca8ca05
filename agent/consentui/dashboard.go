package consentui

// The dashboard: one page, at /d/TOKEN (a random 128-bit token made when
// EnableDashboard is called, stable for the server's life), that shows the
// tokens and keys, the plugins, the remembered origin decisions (forget),
// the grants (revoke) and the last journal records. It follows
// /d/TOKEN/events and reloads when something changed: DashboardChanged
// (the agent calls it on token insertion/removal and plugin state changes),
// a finished dialog, a revocation, or a change the server notices itself
// while a dashboard is open (it compares a fingerprint of grants,
// decisions, journal head, tokens and plugins every two seconds).
//
// Its actions — forget a web site's decision, revoke a grant, lock all
// tokens — are POSTs with the same protection as the dialog: same origin,
// a CSRF token, no CORS. The dashboard is read-only otherwise.

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
)

// Dashboard is what the dashboard shows; a nil field hides its section.
type Dashboard struct {
	// Engine gives the remembered origin decisions and the grants, and
	// revokes them (ForgetOrigin, RevokeGrant, both journaled).
	Engine *consent.Engine
	// Journal gives the last records.
	Journal *journal.Journal
	// JournalLast is how many records a journal page shows (default
	// DefaultJournalPage); the page filters by origin, operation and
	// result and pages through the newest records.
	JournalLast int
	// Keys lists tokens and keys.
	Keys hsm.KeyStore
	// Plugins lists the plugins and their state (host.Manager.Plugins,
	// adapted by the caller).
	Plugins func() []PluginRow
}

// PluginRow is one plugin on the dashboard.
type PluginRow struct {
	Name, State, Detail string
}

type dashboard struct {
	src     Dashboard
	token   string
	csrf    string
	changed chan struct{} // closed and replaced on every change
}

// EnableDashboard serves the dashboard for d and returns its URL. Calling
// it again replaces the sources and keeps the URL.
func (s *Server) EnableDashboard(d Dashboard) string {
	if d.JournalLast <= 0 {
		d.JournalLast = DefaultJournalPage
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dash == nil {
		s.dash = &dashboard{token: randomHex(16), csrf: randomHex(16), changed: make(chan struct{})}
	}
	s.dash.src = d
	s.changedLocked()
	return s.base + "/d/" + s.dash.token
}

// DashboardURL is the dashboard's URL, or "" when it is not enabled.
func (s *Server) DashboardURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dash == nil {
		return ""
	}
	return s.base + "/d/" + s.dash.token
}

// DashboardChanged tells open dashboards to reload (a token was inserted or
// removed, a plugin changed state).
func (s *Server) DashboardChanged() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changedLocked()
}

func (s *Server) changedLocked() {
	if s.dash != nil {
		close(s.dash.changed)
		s.dash.changed = make(chan struct{})
	}
}

func (s *Server) lookupDash(token string) (*dashboard, Dashboard, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dash == nil || subtle.ConstantTimeCompare([]byte(token), []byte(s.dash.token)) != 1 {
		return nil, Dashboard{}, false
	}
	return s.dash, s.dash.src, true
}

type dashView struct {
	L           *locale
	Token, CSRF string
	// Version is the fingerprint of what the page shows, taken before it
	// was built: the page's event stream reports a change made between
	// the render and its connection.
	Version    string
	Now        string
	Notice     string
	Tokens     []dashToken
	TokensErr  string
	HasKeys    bool
	CanLock    bool
	Plugins    []PluginRow
	HasPlugins bool
	HasEngine  bool
	Origins    []dashOrigin
	Grants     []dashGrant
	HasJournal bool
	Journal    dashJournal
}

type dashToken struct {
	Label, Serial, Kind, URI, PIN string
	Keys                          []*keyView
}

type dashOrigin struct{ Origin, Choice, Plugin, Decided string }

type dashGrant struct {
	ID, Origin, Plugin, Key, KeyURI, Operation, Uses, Expires string
}

// dashJournal is one page of the journal, newest first, and its filter.
type dashJournal struct {
	Records            []dashRecord
	Err                string
	Origin, Op, Result string // the filter
	Ops                []field
	Results            []field
	Origins            []string // suggestions for the origin filter
	Page, Pages        int
	Matched            string // "120 records"
	PrevURL, NextURL   string
	Filtered, Capped   bool
}

type dashRecord struct {
	Seq, Time, Op, OpName, Who, Plugin, Decision, Grant, Result, ResultClass, Summary string
	Evidence                                                                          []dashEvidence // in key order
}

// dashEvidence is one entry of a record's plugin evidence; the template
// escapes both parts.
type dashEvidence struct{ Key, Value string }

// Journal page bounds.
const (
	// DefaultJournalPage is how many records a journal page shows.
	DefaultJournalPage = 25
	// maxJournalScan bounds the records (the newest matching the origin
	// and operation) one dashboard page reads.
	maxJournalScan = 10000
	maxFilterLen   = 256
)

// journalQuery is the journal filter and page of a dashboard request;
// out-of-range values fall back to no filter and the first page.
type journalQuery struct {
	origin, op, result string
	page               int
}

var journalResults = []string{"ok", "error", "denied"}

func parseJournalQuery(q url.Values) journalQuery {
	jq := journalQuery{page: 1}
	if v := q.Get("origin"); len(v) <= maxFilterLen {
		jq.origin = strings.TrimSpace(v)
	}
	if v := q.Get("op"); len(v) <= 64 {
		jq.op = v
	}
	if v := q.Get("result"); slices.Contains(journalResults, v) {
		jq.result = v
	}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n >= 1 && n <= maxJournalScan {
		jq.page = n
	}
	return jq
}

func (jq journalQuery) url(token string, page int) string {
	v := url.Values{}
	for k, s := range map[string]string{"origin": jq.origin, "op": jq.op, "result": jq.result} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	u := "/d/" + token
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	return u + "#journal"
}

func (jq journalQuery) match(r journal.Record) bool {
	switch jq.result {
	case "ok":
		return r.Result == journal.ResultOK
	case "error":
		return r.Result == journal.ResultError
	case "denied":
		return r.Decision == journal.DecisionDenied || r.Decision == journal.DecisionTimeout || r.Decision == journal.DecisionCancelled
	}
	return true
}

// dashboard notices (?done=), translated.
var dashNotices = map[string]string{"locked": "dash.lockedAll", "lockfailed": "dash.lockFailed"}

func (s *Server) dashView(ctx context.Context, l *locale, d *dashboard, src Dashboard, q url.Values) dashView {
	now := s.cfg.Now()
	v := dashView{L: l, Token: d.token, CSRF: d.csrf, Now: now.Format("02.01.2006 15:04 MST")}
	if key, ok := dashNotices[q.Get("done")]; ok {
		v.Notice = l.T(key)
	}
	var keys []hsm.KeyInfo
	if src.Keys != nil {
		v.HasKeys = true
		_, v.CanLock = src.Keys.(hsm.Locker)
		toks, err := src.Keys.Tokens(ctx)
		if err != nil {
			v.TokensErr = err.Error()
		}
		var kerr error
		keys, kerr = src.Keys.Keys(ctx)
		if kerr != nil && err == nil {
			v.TokensErr = kerr.Error()
		}
		for _, t := range toks {
			dt := dashToken{Label: t.Label, Serial: t.Serial, URI: t.URI, Kind: l.T("dash.kindToken")}
			if t.Backend == "pfx" {
				dt.Kind = l.T("dash.kindFile")
			}
			switch st := t.Flags.PIN; {
			case st.Locked:
				dt.PIN = l.T("dash.pinLocked")
			case st.FinalTry:
				dt.PIN = l.T("dash.pinFinalTry")
			case st.CountLow:
				dt.PIN = l.T("dash.pinCountLow")
			}
			for i := range keys {
				if keys[i].TokenURI == t.URI {
					dt.Keys = append(dt.Keys, describeKey(l, &keys[i], "", now))
				}
			}
			v.Tokens = append(v.Tokens, dt)
		}
	}
	if src.Plugins != nil {
		v.HasPlugins = true
		v.Plugins = src.Plugins()
	}
	origins := map[string]bool{}
	if e := src.Engine; e != nil {
		v.HasEngine = true
		ods := e.Decisions().List()
		sort.Slice(ods, func(i, j int) bool { return ods[i].Origin < ods[j].Origin })
		for _, od := range ods {
			origins[od.Origin] = true
			v.Origins = append(v.Origins, dashOrigin{Origin: od.Origin, Choice: l.T("choice." + string(od.Choice)), Plugin: od.Plugin,
				Decided: od.Decided.Format("02.01.2006 15:04")})
		}
		for _, g := range e.Grants().List() {
			if g.Expired(now) || g.Remaining <= 0 {
				continue
			}
			origins[g.Origin] = true
			dg := dashGrant{ID: g.ID, Origin: g.Origin, Plugin: g.Plugin, KeyURI: g.KeyURI,
				Operation: opName(l, g.Operation), Uses: l.T("dash.usesLeft", g.Remaining, g.Uses),
				Expires: g.Expires.Format("02.01.2006 15:04")}
			for i := range keys {
				if hsm.SameURI(keys[i].URI, g.KeyURI) {
					kv := describeKey(l, &keys[i], "", now)
					dg.Key = join(kv.Owner, kv.Where)
				}
			}
			if dg.Key == "" {
				dg.Key = where(l, g.KeyURI, "")
			}
			v.Grants = append(v.Grants, dg)
		}
	}
	if j := src.Journal; j != nil {
		v.HasJournal = true
		v.Journal = s.journalPage(l, j, src.JournalLast, d.token, parseJournalQuery(q))
		v.Journal.Origins = slices.Sorted(maps.Keys(origins))
	}
	return v
}

// journalPage reads one page of the journal, newest first.
func (s *Server) journalPage(l *locale, j *journal.Journal, per int, token string, jq journalQuery) dashJournal {
	dj := dashJournal{Origin: jq.origin, Op: jq.op, Result: jq.result, Page: jq.page,
		Filtered: jq.origin != "" || jq.op != "" || jq.result != ""}
	for _, op := range []journal.Op{journal.OpSign, journal.OpDecrypt, journal.OpList, journal.OpConsent, journal.OpGrant,
		journal.OpRevoke, journal.OpKeygen, journal.OpCSR, journal.OpImport} {
		dj.Ops = append(dj.Ops, field{string(op), opName(l, string(op))})
	}
	for _, r := range journalResults {
		dj.Results = append(dj.Results, field{r, l.T("result." + r)})
	}
	recs, err := j.List(journal.Filter{Origin: jq.origin, Op: journal.Op(jq.op), Last: maxJournalScan})
	if err != nil {
		dj.Err = err.Error()
	}
	dj.Capped = len(recs) == maxJournalScan
	matched := recs[:0]
	for _, r := range recs {
		if jq.match(r) {
			matched = append(matched, r)
		}
	}
	dj.Matched = l.N("dash.records", len(matched))
	dj.Pages = max(1, (len(matched)+per-1)/per)
	dj.Page = min(dj.Page, dj.Pages)
	if dj.Page > 1 {
		dj.PrevURL = jq.url(token, dj.Page-1)
	}
	if dj.Page < dj.Pages {
		dj.NextURL = jq.url(token, dj.Page+1)
	}
	// newest first: page 1 ends at the last record
	end := len(matched) - (dj.Page-1)*per
	start := max(0, end-per)
	for i := end - 1; i >= start; i-- {
		dj.Records = append(dj.Records, dashRecordOf(l, matched[i]))
	}
	return dj
}

func dashRecordOf(l *locale, r journal.Record) dashRecord {
	who := r.Origin
	if who == "" {
		who = r.Caller
	}
	dr := dashRecord{Seq: strconv.FormatUint(r.Seq, 10), Time: r.Time.Local().Format("02.01.2006 15:04:05"),
		Op: string(r.Op), OpName: opName(l, string(r.Op)), Who: who, Plugin: r.Plugin, Grant: r.GrantID, Summary: r.Summary}
	if r.Decision != "" {
		dr.Decision = l.T("decision." + string(r.Decision))
	}
	switch r.Result {
	case journal.ResultOK:
		dr.Result, dr.ResultClass = l.T("result.ok"), "ok"
	case journal.ResultError:
		dr.Result, dr.ResultClass = l.T("result.error"), "error"
		if r.ErrorKind != "" {
			dr.Result += " (" + r.ErrorKind + ")"
		}
	default:
		dr.Result = r.Result
	}
	for _, k := range slices.Sorted(maps.Keys(r.Evidence)) {
		dr.Evidence = append(dr.Evidence, dashEvidence{Key: k, Value: r.Evidence[k]})
	}
	return dr
}

// fingerprint summarises what the dashboard shows, cheaply (no key
// listing), to notice changes made elsewhere.
func (s *Server) fingerprint(ctx context.Context, src Dashboard) [32]byte {
	var parts []any
	if src.Keys != nil {
		toks, err := src.Keys.Tokens(ctx)
		parts = append(parts, toks, err != nil)
	}
	if src.Plugins != nil {
		parts = append(parts, src.Plugins())
	}
	if e := src.Engine; e != nil {
		parts = append(parts, e.Decisions().List(), e.Grants().List())
	}
	if j := src.Journal; j != nil {
		seq, _ := j.Head()
		parts = append(parts, seq)
	}
	b, _ := json.Marshal(parts)
	return sha256.Sum256(b)
}

func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	d, src, ok := s.lookupDash(r.PathValue("token"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	fp := s.fingerprint(r.Context(), src)
	v := s.dashView(r.Context(), localeFor(r.Header.Get("Accept-Language")), d, src, r.URL.Query())
	v.Version = hex.EncodeToString(fp[:])
	s.render(w, dashTmpl, v, "dashboard")
}

// dashPost checks a dashboard POST (same origin, the dashboard's token, a
// form with its CSRF token) and returns its form; it writes the refusal
// and returns ok false when a check fails.
func (s *Server) dashPost(w http.ResponseWriter, r *http.Request) (*dashboard, Dashboard, map[string][]byte, bool) {
	if !s.sameOrigin(r) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return nil, Dashboard{}, nil, false
	}
	d, src, ok := s.lookupDash(r.PathValue("token"))
	if !ok {
		http.NotFound(w, r)
		return nil, Dashboard{}, nil, false
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		http.Error(w, "unsupported content type", http.StatusUnsupportedMediaType)
		return nil, Dashboard{}, nil, false
	}
	buf := make([]byte, maxBody+1)
	n, err := io.ReadFull(r.Body, buf)
	if (err != nil && err != io.ErrUnexpectedEOF && err != io.EOF) || n > maxBody {
		http.Error(w, "bad request: form too large or unreadable", http.StatusBadRequest)
		return nil, Dashboard{}, nil, false
	}
	form, err := parseForm(buf[:n])
	if err != nil {
		http.Error(w, "bad request: malformed form", http.StatusBadRequest)
		return nil, Dashboard{}, nil, false
	}
	if subtle.ConstantTimeCompare(form["csrf"], []byte(d.csrf)) != 1 {
		http.Error(w, "stale or forged form", http.StatusForbidden)
		return nil, Dashboard{}, nil, false
	}
	return d, src, form, true
}

// handleDashboardRevoke revokes a grant (form field grant) or forgets a
// web site's remembered decision (origin).
func (s *Server) handleDashboardRevoke(w http.ResponseWriter, r *http.Request) {
	d, src, form, ok := s.dashPost(w, r)
	if !ok {
		return
	}
	if src.Engine == nil {
		http.Error(w, "bad request: no consent engine", http.StatusBadRequest)
		return
	}
	var err error
	switch {
	case len(form["grant"]) > 0:
		err = src.Engine.RevokeGrant(r.Context(), string(form["grant"]))
	case len(form["origin"]) > 0:
		err = src.Engine.ForgetOrigin(r.Context(), string(form["origin"]))
	default:
		http.Error(w, "bad request: neither grant nor origin", http.StatusBadRequest)
		return
	}
	if err != nil {
		s.log.Warn("dashboard: revoke", "err", err)
	}
	s.DashboardChanged()
	http.Redirect(w, r, "/d/"+d.token, http.StatusSeeOther)
}

// handleDashboardLock locks every token now: logs out of each PKCS#11
// token and forgets every unlocked PFX key (hsm.Locker), so the next use
// of any key asks for its PIN or password again.
func (s *Server) handleDashboardLock(w http.ResponseWriter, r *http.Request) {
	d, src, _, ok := s.dashPost(w, r)
	if !ok {
		return
	}
	locker, can := src.Keys.(hsm.Locker)
	if !can {
		http.Error(w, "bad request: the key store cannot be locked", http.StatusBadRequest)
		return
	}
	done := "locked"
	toks, err := src.Keys.Tokens(r.Context())
	if err != nil {
		s.log.Warn("dashboard: lock all: list tokens", "err", err)
		done = "lockfailed"
	}
	for _, t := range toks {
		if err := locker.Lock(r.Context(), t.URI); err != nil {
			s.log.Warn("dashboard: lock", "token", t.Label, "err", err)
			done = "lockfailed"
		}
	}
	s.log.Info("dashboard: locked all tokens", "tokens", len(toks), "result", done)
	s.DashboardChanged()
	http.Redirect(w, r, "/d/"+d.token+"?done="+done, http.StatusSeeOther)
}

func (s *Server) handleDashboardEvents(w http.ResponseWriter, r *http.Request) {
	_, src, ok := s.lookupDash(r.PathValue("token"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	send := func(event string) bool {
		if _, err := fmt.Fprintf(w, "event: %s\ndata: \n\n", event); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("hello") {
		return
	}
	// The page says which state it shows; anything newer is a change.
	last := s.fingerprint(r.Context(), src)
	if v, err := hex.DecodeString(r.URL.Query().Get("v")); err == nil && len(v) == len(last) && [32]byte(v) != last {
		send("changed")
		return
	}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		s.mu.Lock()
		changed := s.dash.changed
		s.mu.Unlock()
		select {
		case <-changed:
			send("changed")
			return
		case <-tick.C:
			if fp := s.fingerprint(r.Context(), src); fp != last {
				send("changed")
				return
			}
			if !send("ping") {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.closed:
			return
		}
	}
}
