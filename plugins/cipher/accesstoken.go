package cipher

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/signet-agent/signet/sdk"
)

// accessGrant is an accessTokenUuid the plugin handed out: the host's grant
// (hostGrant) for key, bound to origin. When the host allowed the request
// without a grant (an unattended rule decides each signature), hostGrant is
// empty and the plugin counts the uses itself.
type accessGrant struct {
	origin    string
	key       sdk.Key
	hostGrant string
	expires   time.Time
	left      int // used only without a host grant
}

// tokens are the access tokens of every origin.
type tokens struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*accessGrant
}

func newTokens(now func() time.Time) *tokens { return &tokens{now: now, m: map[string]*accessGrant{}} }

// maxTokens bounds the live access tokens.
const maxTokens = 1024

func (ts *tokens) add(g *accessGrant) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.m) >= maxTokens {
		return "", errTooManyTickets
	}
	id := newUUID()
	ts.m[id] = g
	return id, nil
}

// use returns the grant id for origin, taking one use when the plugin
// counts them; an unknown, expired, used-up or other origin's token is a
// bad parameter.
func (ts *tokens) use(id, origin string) (*accessGrant, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	g, ok := ts.m[id]
	if !ok || g.origin != origin || ts.now().After(g.expires) {
		return nil, badParam("accessTokenUuid %q: no such access token for this origin (unknown, expired or obtained by another site)", truncate(id, 64))
	}
	if g.hostGrant == "" {
		if g.left <= 0 {
			return nil, &apiError{status: http.StatusForbidden, msg: msgRefused, cause: "the access token is used up"}
		}
		g.left--
	}
	return g, nil
}

func (ts *tokens) sweep() {
	now := ts.now()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for id, g := range ts.m {
		if now.After(g.expires) {
			delete(ts.m, id)
		}
	}
}

// accessTokenRequest is the body of POST /accessToken.
type accessTokenRequest struct {
	AccessTimesNumber json.RawMessage `json:"accessTimesNumber"`
	MetaData          string          `json:"metaData"`
	PrefViewWidth     json.RawMessage `json:"prefViewWidth"`
	PrefViewHeight    json.RawMessage `json:"prefViewHeight"`
}

// accessTimes parses accessTimesNumber: a positive integer (a JSON number
// or a string of digits) of at most max.
func accessTimes(raw json.RawMessage, max int) (int, error) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	n, err := strconv.Atoi(s)
	if len(raw) == 0 || err != nil || n < 1 || n > max {
		return 0, badParam("accessTimesNumber=%s: want a positive integer of at most %d", truncate(string(raw), 32), max)
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	if s == "" {
		return "(missing)"
	}
	return s
}

// accessToken asks the person, in the host's dialog, to allow N signatures
// by this origin with one key; the portal's metaData is shown as its own
// words (sanitised HTML). 200 {accessTokenUuid}, 403 refused, 400 bad input.
func (s *Server) accessToken(w http.ResponseWriter, r *http.Request, c caller) error {
	var req accessTokenRequest
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	n, err := accessTimes(req.AccessTimesNumber, s.cfg.Limits.MaxAccessUses)
	if err != nil {
		return err
	}
	if len(req.MetaData) > sdk.MaxSummaryHTML {
		return badParam("metaData: more than %d bytes", sdk.MaxSummaryHTML)
	}
	ctx := r.Context()
	op := c.op("Allow " + strconv.Itoa(n) + " electronic signatures (Cipher access token)")
	op.SummaryHTML = req.MetaData
	var key sdk.Key
	if s.cfg.AccessTokenKey != "" {
		// The option names one key: its URI, or attributes that select it.
		uris, err := s.candidates(ctx, s.cfg.AccessTokenKey, op, false)
		if err != nil {
			return failure(err, msgFailed)
		}
		if len(uris) != 1 {
			return &apiError{status: http.StatusInternalServerError, msg: msgFailed,
				cause: fmt.Sprintf("the agent's access_token_key selects %d keys, not one", len(uris))}
		}
		if key, err = s.cfg.Keys.Key(ctx, uris[0], op); err != nil {
			return failure(err, msgFailed)
		}
	} else {
		if key, _, err = s.chooseKey(ctx, "", op); err != nil {
			return failure(err, msgFailed)
		}
	}
	op.GrantUses = n
	op.GrantWithin = s.cfg.Limits.AccessTokenTTL
	grant, err := s.cfg.Consent.GrantSign(ctx, key.URI, op)
	if err != nil {
		return failure(err, msgFailed)
	}
	id, err := s.tokens.add(&accessGrant{origin: c.origin, key: key, hostGrant: grant,
		expires: s.cfg.Now().Add(s.cfg.Limits.AccessTokenTTL), left: n})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": s.lang.text(msgOK), "accessTokenUuid": id})
	return nil
}
