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
// Revocations are POSTs with the same protection as the dialog: same
// origin, a CSRF token, no CORS. The dashboard is read-only otherwise.

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
	"slices"
	"sort"
	"strconv"
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
	// JournalLast is how many records to show (default 50).
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
		d.JournalLast = 50
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
	Token, CSRF string
	// Version is the fingerprint of what the page shows, taken before it
	// was built: the page's event stream reports a change made between
	// the render and its connection.
	Version    string
	Now        string
	Tokens     []dashToken
	TokensErr  string
	HasKeys    bool
	Plugins    []PluginRow
	HasPlugins bool
	HasEngine  bool
	Origins    []dashOrigin
	Grants     []dashGrant
	HasJournal bool
	Journal    []dashRecord
	JournalErr string
}

type dashToken struct {
	Label, Serial, URI, Backend, PIN string
	Keys                             []dashKey
}

type dashKey struct {
	Label, Algorithm, Subject, NotAfter string
}

type dashOrigin struct{ Origin, Choice, Plugin, Decided string }

type dashGrant struct {
	ID, Origin, Plugin, KeyURI, Operation, Uses, Expires string
}

type dashRecord struct {
	Seq, Time, Op, Who, Plugin, Decision, Grant, Result, Summary string
	Evidence                                                     []dashEvidence // in key order
}

// dashEvidence is one entry of a record's plugin evidence; the template
// escapes both parts.
type dashEvidence struct{ Key, Value string }

func (s *Server) dashView(ctx context.Context, d *dashboard, src Dashboard) dashView {
	now := s.cfg.Now()
	v := dashView{Token: d.token, CSRF: d.csrf, Now: now.Format(time.DateTime + " MST")}
	if src.Keys != nil {
		v.HasKeys = true
		toks, err := src.Keys.Tokens(ctx)
		if err != nil {
			v.TokensErr = err.Error()
		}
		keys, kerr := src.Keys.Keys(ctx)
		if kerr != nil && err == nil {
			v.TokensErr = kerr.Error()
		}
		for _, t := range toks {
			dt := dashToken{Label: t.Label, Serial: t.Serial, URI: t.URI, Backend: t.Backend}
			switch st := t.Flags.PIN; {
			case st.Locked:
				dt.PIN = "PIN locked"
			case st.FinalTry:
				dt.PIN = "PIN final try"
			case st.CountLow:
				dt.PIN = "PIN count low"
			}
			for _, k := range keys {
				if k.TokenURI != t.URI {
					continue
				}
				dk := dashKey{Label: k.Label, Algorithm: string(k.Algorithm)}
				if k.Certificate != nil {
					dk.Subject = k.Certificate.Subject.String()
					dk.NotAfter = k.Certificate.NotAfter.UTC().Format(time.DateOnly)
				}
				dt.Keys = append(dt.Keys, dk)
			}
			v.Tokens = append(v.Tokens, dt)
		}
	}
	if src.Plugins != nil {
		v.HasPlugins = true
		v.Plugins = src.Plugins()
	}
	if e := src.Engine; e != nil {
		v.HasEngine = true
		ods := e.Decisions().List()
		sort.Slice(ods, func(i, j int) bool { return ods[i].Origin < ods[j].Origin })
		for _, od := range ods {
			v.Origins = append(v.Origins, dashOrigin{Origin: od.Origin, Choice: string(od.Choice), Plugin: od.Plugin,
				Decided: od.Decided.UTC().Format(time.DateTime + " UTC")})
		}
		for _, g := range e.Grants().List() {
			if g.Expired(now) || g.Remaining <= 0 {
				continue
			}
			v.Grants = append(v.Grants, dashGrant{ID: g.ID, Origin: g.Origin, Plugin: g.Plugin, KeyURI: g.KeyURI,
				Operation: g.Operation, Uses: fmt.Sprintf("%d of %d left", g.Remaining, g.Uses),
				Expires: g.Expires.UTC().Format(time.DateTime + " UTC")})
		}
	}
	if j := src.Journal; j != nil {
		v.HasJournal = true
		recs, err := j.List(journal.Filter{Last: src.JournalLast})
		if err != nil {
			v.JournalErr = err.Error()
		}
		for i := len(recs) - 1; i >= 0; i-- { // newest first
			r := recs[i]
			who := r.Origin
			if who == "" {
				who = r.Caller
			}
			res := r.Result
			if r.ErrorKind != "" {
				res += " (" + r.ErrorKind + ")"
			}
			dr := dashRecord{Seq: strconv.FormatUint(r.Seq, 10),
				Time: r.Time.UTC().Format(time.DateTime), Op: string(r.Op), Who: who, Plugin: r.Plugin,
				Decision: string(r.Decision), Grant: r.GrantID, Result: res, Summary: r.Summary}
			for _, k := range slices.Sorted(maps.Keys(r.Evidence)) {
				dr.Evidence = append(dr.Evidence, dashEvidence{Key: k, Value: r.Evidence[k]})
			}
			v.Journal = append(v.Journal, dr)
		}
	}
	return v
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
	v := s.dashView(r.Context(), d, src)
	v.Version = hex.EncodeToString(fp[:])
	s.render(w, dashTmpl, v, "dashboard")
}

func (s *Server) handleDashboardRevoke(w http.ResponseWriter, r *http.Request) {
	if !s.sameOrigin(r) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	d, src, ok := s.lookupDash(r.PathValue("token"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		http.Error(w, "unsupported content type", http.StatusUnsupportedMediaType)
		return
	}
	buf := make([]byte, maxBody+1)
	n, err := io.ReadFull(r.Body, buf)
	if (err != nil && err != io.ErrUnexpectedEOF && err != io.EOF) || n > maxBody {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	form, err := parseForm(buf[:n])
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if subtle.ConstantTimeCompare(form["csrf"], []byte(d.csrf)) != 1 {
		http.Error(w, "stale or forged form", http.StatusForbidden)
		return
	}
	if src.Engine == nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	switch {
	case len(form["grant"]) > 0:
		err = src.Engine.RevokeGrant(r.Context(), string(form["grant"]))
	case len(form["origin"]) > 0:
		err = src.Engine.ForgetOrigin(r.Context(), string(form["origin"]))
	default:
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if err != nil {
		s.log.Warn("dashboard: revoke", "err", err)
	}
	s.DashboardChanged()
	http.Redirect(w, r, "/d/"+d.token, http.StatusSeeOther)
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
