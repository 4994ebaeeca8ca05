package consentui

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
)

//go:embed static/app.js static/app.css
var staticFS embed.FS

//go:embed page.html
var pageHTML string

// keyHTML is the "key" template both pages show a key with.
//
//go:embed key.html
var keyHTML string

var pageTmpl = template.Must(template.Must(template.New("page").Parse(pageHTML)).Parse(keyHTML))

//go:embed used.html
var usedHTML string

var usedTmpl = template.Must(template.New("used").Parse(usedHTML))

//go:embed dashboard.html
var dashHTML string

var dashTmpl = template.Must(template.Must(template.New("dashboard").Parse(dashHTML)).Parse(keyHTML))

// CSP is the Content-Security-Policy of every response.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /static/app.js", s.static("static/app.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /static/app.css", s.static("static/app.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /q/{id}", s.handlePage)
	mux.HandleFunc("GET /q/{id}/events", s.handleEvents)
	mux.HandleFunc("POST /q/{id}/answer", s.handleAnswer)
	mux.HandleFunc("GET /d/{token}", s.handleDashboard)
	mux.HandleFunc("GET /d/{token}/events", s.handleDashboardEvents)
	mux.HandleFunc("POST /d/{token}/revoke", s.handleDashboardRevoke)
	mux.HandleFunc("POST /d/{token}/lock", s.handleDashboardLock)
	return s.guard(mux)
}

// guard sets the security headers on every response and refuses requests
// whose Host is not this server on loopback (DNS rebinding).
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !s.hostOK(r.Host) {
			http.Error(w, "bad host", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) hostOK(hostport string) bool {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || port != s.port {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameOrigin accepts a state-changing request only from this server's own
// pages. Browsers send Sec-Fetch-Site (not settable by scripts); with
// Referrer-Policy no-referrer, Chromium sends "Origin: null" on a form POST,
// so a same-origin Sec-Fetch-Site is authoritative. Without Sec-Fetch-Site
// the Origin header must be this server's origin. Neither → refused.
func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	own := strings.SplitN(s.base, "://", 2)[0] + "://" + r.Host
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin":
		return origin == "" || origin == "null" || origin == own
	case "":
		return origin == own
	default:
		return false
	}
}

func (s *Server) static(name, ctype string) http.HandlerFunc {
	data, err := staticFS.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Write(data) //nolint:errcheck
	}
}

// handlePage serves the dialog. The single-use link (?k=KEY) is swapped
// for the dialog's session cookie on its first load; after that the page
// is served only to the holder of the cookie, and the link, loaded again by
// anyone, gets the "already used" page. The page itself is served on that
// first load (not a redirect): the person's first navigation comes from a
// redirect file, a cross-site initiator for which a browser would not send
// the SameSite=Strict cookie to a redirect target. app.js then drops the
// key from the address bar.
func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	d := s.lookup(r.PathValue("id"))
	if d == nil {
		http.NotFound(w, r)
		return
	}
	key, hasKey := r.URL.Query()["k"]
	s.mu.Lock()
	ok := false
	switch {
	case hasKey:
		if !d.linkUsed && len(key) == 1 && subtle.ConstantTimeCompare([]byte(key[0]), []byte(d.link)) == 1 {
			d.linkUsed = true
			ok = true
			http.SetCookie(w, s.sessionCookie(d))
		}
	default:
		ok = s.hasSession(r, d)
	}
	l := localeFor(r.Header.Get("Accept-Language"))
	var v view
	if ok {
		v = s.view(d, l)
	}
	s.mu.Unlock()
	if !ok {
		s.log.Warn("consent dialog: refused a used or foreign link", "id", d.q.ID, "with_key", hasKey)
		w.WriteHeader(http.StatusForbidden)
		s.render(w, usedTmpl, l, "used link")
		return
	}
	s.render(w, pageTmpl, v, "consent dialog")
}

// sessionCookie is the cookie d's link is swapped for; s.mu is held.
func (s *Server) sessionCookie(d *dialog) *http.Cookie {
	return &http.Cookie{
		Name:     sessionCookie,
		Value:    d.session,
		Path:     "/q/" + d.id,
		MaxAge:   int((d.deadline.Sub(s.cfg.Now()) + keepFinished) / time.Second),
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteStrictMode,
	}
}

// hasSession reports whether r carries d's session cookie.
func (s *Server) hasSession(r *http.Request, d *dialog) bool {
	for _, c := range r.CookiesNamed(sessionCookie) {
		if subtle.ConstantTimeCompare([]byte(c.Value), []byte(d.session)) == 1 {
			return true
		}
	}
	return false
}

// session looks up the dialog of r's path and checks r's session cookie;
// it writes the refusal and returns nil when either fails.
func (s *Server) session(w http.ResponseWriter, r *http.Request) *dialog {
	d := s.lookup(r.PathValue("id"))
	if d == nil {
		http.NotFound(w, r)
		return nil
	}
	if !s.hasSession(r, d) {
		http.Error(w, "this dialog belongs to another browser window", http.StatusForbidden)
		return nil
	}
	return d
}

// render executes tmpl into a buffer first, so a template error becomes a
// clean 500 instead of a half-written page.
func (s *Server) render(w http.ResponseWriter, tmpl *template.Template, v any, what string) {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, v); err != nil {
		s.log.Error(what+": render page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away
}

func (s *Server) handleAnswer(w http.ResponseWriter, r *http.Request) {
	if !s.sameOrigin(r) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	d := s.session(w, r)
	if d == nil {
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		http.Error(w, "unsupported content type", http.StatusUnsupportedMediaType)
		return
	}
	// One fixed buffer (io.ReadAll would leave PIN bytes in the buffers it
	// outgrows); wiped after decoding.
	buf := make([]byte, maxBody+1)
	n, err := io.ReadFull(r.Body, buf)
	body := buf[:n]
	if (err != nil && err != io.ErrUnexpectedEOF && err != io.EOF) || n > maxBody {
		wipe(buf)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	form, err := parseForm(body)
	wipe(buf)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	keep := ""
	defer func() { wipeForm(form, keep) }()
	if subtle.ConstantTimeCompare(form["csrf"], []byte(d.csrf)) != 1 {
		http.Error(w, "stale or forged form", http.StatusForbidden)
		return
	}
	action := string(form["action"])
	back := "/q/" + d.id
	switch d.kind {
	case kindConfirm:
		var a consent.Answer
		choices := d.q.Request.Choices
		switch {
		case action == "approve":
			a.Allow = true
		case action == "always" && d.q.FirstUse, action == "grant" && d.q.Grant != nil && len(choices) == 0:
			a.Allow, a.Remember = true, true
		case action == "deny":
		case action == "never" && d.q.FirstUse:
			a.Remember = true // remember the refusal
		default:
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if a.Allow && len(choices) > 0 {
			// The person must pick: nothing is preselected, and an Allow
			// without a valid pick only asks again.
			i, err := strconv.Atoi(string(form["key"]))
			if err != nil || i < 0 || i >= len(choices) {
				s.setNotice(d, noticePickKey)
				break
			}
			a.KeyURI = choices[i].URI
		}
		if s.finish(d, stateAnswered, outcome{answer: a}) {
			s.log.Info("consent dialog answered", "id", d.q.ID, "allow", a.Allow, "remember", a.Remember, "key", a.KeyURI)
		}
	case kindPIN:
		switch action {
		case "cancel":
			if s.finish(d, stateCanceled, outcome{err: fmt.Errorf("%s entry: %w", d.pinReq.Kind, hsm.ErrCancelled)}) {
				s.log.Info("PIN dialog cancelled", "kind", d.pinReq.Kind.String())
			}
		case "submit":
			pin := form["pin"]
			confirmed := string(form["confirm_final"]) == "yes"
			if len(pin) == 0 {
				s.setNotice(d, noticeEnterSecret)
				break
			}
			if d.pinReq.State.FinalTry && !confirmed {
				s.setNotice(d, noticeConfirmFinal)
				break
			}
			resp := hsm.PINResponse{PIN: pin, ConfirmFinalTry: d.pinReq.State.FinalTry && confirmed}
			if s.finish(d, stateAnswered, outcome{pin: resp}) {
				keep = "pin" // handed to the waiting call, which owns it now
				s.log.Info("PIN dialog answered", "kind", d.pinReq.Kind.String())
			}
		default:
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// setNotice shows a notice (a message key) above d's form.
func (s *Server) setNotice(d *dialog, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.state == statePending {
		d.notice = msg
	}
}

// handleEvents streams the dialog's state as Server-Sent Events until it
// is finished: the final state is the stream's last event. A finished
// dialog's stream never carries anything else (no next question).
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	d := s.session(w, r)
	if d == nil {
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	send := func(event, data string) bool {
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	for {
		s.mu.Lock()
		state, changed := d.state, d.changed
		s.mu.Unlock()
		if !send("state", state) || state != statePending {
			return
		}
		select {
		case <-changed:
		case <-ping.C:
			if !send("ping", "") {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.closed:
			return
		}
	}
}
