package eimzo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"unicode/utf8"

	"github.com/signet-agent/signet/sdk"
)

// Request is one E-IMZO call: {"plugin": "pfx", "name": "load_key",
// "arguments": ["/media/", "DSKEYS", "DS123", "cn=…"]}. Plugin is empty for
// the main functions (version, apikey, apidoc). Every argument is a string.
type Request struct {
	Plugin    string   `json:"plugin"`
	Name      string   `json:"name"`
	Arguments []string `json:"arguments"`
}

// Reply is a flat JSON reply object. Success replies carry "success": true
// and "status": 1 plus the function's fields; failures carry "success":
// false, a status code and a localized "reason".
type Reply map[string]any

// gate says how a function's caller is authorised.
type gate int

const (
	// gateAsk: the dispatcher asks the host's origin policy
	// (sdk.Consent.Ask) before running the function. For functions that do
	// not call the key store.
	gateAsk gate = iota
	// gateNone: main functions (version, apikey, apidoc), never gated.
	gateNone
	// gateKeyStore: the function's own key-store or consent calls carry
	// the origin, and the host applies its origin policy there (one
	// dialog for the origin and the operation, not two).
	gateKeyStore
)

// arg describes one declared argument (for arity checks and apidoc).
type arg struct {
	Name        string
	Optional    bool
	Description string
}

// function is one callable E-IMZO function.
type function struct {
	Plugin      string // "" for main
	Name        string
	Description string // Russian, as E-IMZO's apidoc
	Args        []arg
	// Variadic functions check their arguments themselves (apikey).
	Variadic bool
	// Hidden functions work but are not listed by apidoc (legacy ones).
	Hidden bool
	Gate   gate
	Run    func(s *Server, c *call) (Reply, error)
}

// key is the registry key "plugin.name".
func (f *function) key() string { return f.Plugin + "." + f.Name }

// arity returns the accepted argument counts: a function with an optional
// argument in the middle still needs it positionally, so only trailing
// optional arguments may be left out.
func (f *function) arity() (min, max int) {
	max = len(f.Args)
	for i, a := range f.Args {
		if !a.Optional {
			min = i + 1
		}
	}
	return min, max
}

// catalogue holds every function, registered by the files that implement
// them (register in init). It is a static table, written only during
// package initialisation.
var catalogue = map[string]*function{}

// register adds functions to the catalogue; a duplicate is a programming
// error.
func register(fs ...*function) {
	for _, f := range fs {
		if _, dup := catalogue[f.key()]; dup {
			panic("eimzo: function registered twice: " + f.key())
		}
		catalogue[f.key()] = f
	}
}

// pluginOrder is the order apidoc lists plugins in (E-IMZO's own order);
// plugins not named here follow alphabetically.
var pluginOrder = []string{"", "pfx", "ytks", "pkcs7", "x509", "pkcs10", "pki", "idcard", "baikey", "ckc", "uzgrd", "ftjc", "app"}

// functions returns the catalogue sorted for apidoc.
func functions() []*function {
	rank := map[string]int{}
	for i, p := range pluginOrder {
		rank[p] = i + 1
	}
	out := make([]*function, 0, len(catalogue))
	for _, f := range catalogue {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		ri, rj := rank[out[i].Plugin], rank[out[j].Plugin]
		if ri == 0 {
			ri = len(pluginOrder) + 1
		}
		if rj == 0 {
			rj = len(pluginOrder) + 1
		}
		if ri != rj {
			return ri < rj
		}
		if out[i].Plugin != out[j].Plugin {
			return out[i].Plugin < out[j].Plugin
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// call is one request being served.
type call struct {
	ctx  context.Context
	sess *session
	fn   *function
	args []string
}

// op builds the Operation for host calls made on behalf of this call: the
// caller's origin, the protocol evidence (function name, API key status)
// and the summary the person sees.
func (c *call) op(summary string) sdk.Operation {
	return c.sess.server.operation(c.sess, c.fn, summary)
}

// MaxArguments bounds the number of arguments a request may carry.
const MaxArguments = 64

// handle decodes one frame, runs the function and returns the encoded
// reply. It never fails: malformed requests get the "function not found"
// reply, as E-IMZO gives them.
func (s *Server) handle(ctx context.Context, sess *session, frame []byte) []byte {
	reply := s.dispatch(ctx, sess, frame)
	out, err := json.Marshal(reply)
	if err != nil {
		// A function returned a value JSON cannot encode: a bug, reported
		// without the value.
		s.log.Error("encode reply", "err", err)
		out, _ = json.Marshal(s.failure(sess, fail(StatusRuntime, "internal error encoding the reply")))
	}
	return out
}

// dispatch runs one request and returns the reply value (a Reply, or the
// bare array apidoc returns).
func (s *Server) dispatch(ctx context.Context, sess *session, frame []byte) any {
	// json.Unmarshal, not a Decoder: it refuses anything after the one
	// value (a Decoder's More() lets a stray "}" or "]" through).
	var req Request
	if err := json.Unmarshal(frame, &req); err != nil {
		return s.failure(sess, fail(StatusNotFound))
	}
	f := catalogue[req.Plugin+"."+req.Name]
	if f == nil || len(req.Arguments) > MaxArguments {
		return s.failure(sess, fail(StatusNotFound))
	}
	if !f.Variadic {
		if min, max := f.arity(); len(req.Arguments) < min || len(req.Arguments) > max {
			return s.failure(sess, fail(StatusNotFound))
		}
	}
	c := &call{ctx: ctx, sess: sess, fn: f, args: req.Arguments}
	if f.Gate != gateNone {
		if sess.domain == "" {
			return s.failure(sess, fail(StatusNoDomain))
		}
		if f.Gate == gateAsk {
			if err := s.consent.Ask(ctx, "", c.op(fmt.Sprintf("%s uses E-IMZO function %s", sess.domain, f.key()))); err != nil {
				return s.failure(sess, s.gateError(sess, err))
			}
			s.origins.allow(sess.origin)
		}
	}
	if f.Plugin == "" && f.Name == "apidoc" {
		return apidoc(s.language(sess.domain))
	}
	reply, err := f.Run(s, c)
	if err != nil {
		return s.failure(sess, err)
	}
	if f.Gate == gateKeyStore {
		// Its host calls carried the origin and succeeded: the host
		// accepted the origin (Limits: the large message limit).
		s.origins.allow(sess.origin)
	}
	if reply == nil {
		reply = Reply{}
	}
	reply["success"] = true
	reply["status"] = StatusOK
	return reply
}

// gateError maps a refusal of the origin policy to -1022 (domain not
// authorised); host failures keep their own codes.
func (s *Server) gateError(sess *session, err error) error {
	if errors.Is(err, sdk.ErrDenied) {
		return fail(StatusDomainNotAllowed, sess.domain)
	}
	return err
}

// failure builds the failure reply for err in the session's language.
func (s *Server) failure(sess *session, err error) Reply {
	e := asError(err)
	if e.Status == StatusRuntime && e.cause != nil {
		s.log.Warn("request failed", "domain", sess.domain, "err", e.cause)
	}
	return Reply{"success": false, "status": e.Status, "reason": clipReason(e.reason(s.language(sess.domain)))}
}

// MaxReason bounds a failure reason in bytes. Reasons quote request
// arguments (a domain, an alias, a file name) and host error texts; a reply
// never echoes more than this of them.
const MaxReason = 1024

// clipReason cuts s to MaxReason bytes at a character boundary.
func clipReason(s string) string {
	if len(s) <= MaxReason {
		return s
	}
	cut := MaxReason
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
