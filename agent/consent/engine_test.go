package consent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/agent/keybackends"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// script stands for the person: it answers questions with confirm and PIN
// requests with pin, and records what it was asked.
type script struct {
	confirm func(ctx context.Context, n int, q Question) (Answer, error)
	pin     func(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error)

	mu        sync.Mutex
	questions []Question
}

func (s *script) Confirm(ctx context.Context, q Question) (Answer, error) {
	s.mu.Lock()
	n := len(s.questions)
	s.questions = append(s.questions, q)
	s.mu.Unlock()
	if s.confirm == nil {
		return Answer{}, fmt.Errorf("no answer scripted: %w", hsm.ErrDenied)
	}
	return s.confirm(ctx, n, q)
}

func (s *script) PIN(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
	if s.pin == nil {
		return hsm.PINResponse{}, hsm.ErrCancelled
	}
	return s.pin(ctx, req)
}

func (s *script) asked() []Question {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Question(nil), s.questions...)
}

func answer(a Answer) func(context.Context, int, Question) (Answer, error) {
	return func(context.Context, int, Question) (Answer, error) { return a, nil }
}

type fixture struct {
	dir     string
	policy  *config.Policy
	journal *journal.Journal
	keyInfo atomic.Int32 // KeyInfo calls: the engine's only way to the key store
}

// newFixture parses policy YAML (the part under "policy:") and opens a
// journal in a fresh data directory. The journal is verified at cleanup.
func newFixture(t *testing.T, policy string) *fixture {
	t.Helper()
	dir := t.TempDir()
	doc := "data_dir: " + dir + "\n"
	if policy != "" {
		doc += "policy:\n" + policy
	}
	cfg, err := config.Parse("test.yaml", []byte(doc))
	require.NoError(t, err)
	j, err := journal.Open(journal.PathIn(dir), journal.WithoutSync())
	require.NoError(t, err)
	f := &fixture{dir: dir, policy: &cfg.Policy, journal: j}
	t.Cleanup(func() {
		j.Close()
		rep, err := journal.VerifyFile(journal.PathIn(dir))
		if assert.NoError(t, err, "journal verify") {
			assert.True(t, rep.OK(), "journal verify: %+v", rep)
		}
	})
	return f
}

func (f *fixture) engine(t *testing.T, p Prompter, mod ...func(*EngineConfig)) *Engine {
	t.Helper()
	cfg := EngineConfig{
		Policy: f.policy, Journal: f.journal, DataDir: f.dir,
		KeyInfo: func(context.Context, string) (hsm.KeyInfo, error) {
			f.keyInfo.Add(1)
			return hsm.KeyInfo{}, hsm.ErrKeyNotFound
		},
	}
	if p != nil {
		cfg.Prompter = p
	}
	for _, m := range mod {
		m(&cfg)
	}
	e, err := NewEngine(cfg)
	require.NoError(t, err)
	return e
}

func (f *fixture) records(t *testing.T) []journal.Record {
	t.Helper()
	recs, err := journal.ReadFile(journal.PathIn(f.dir), journal.Filter{})
	require.NoError(t, err)
	return recs
}

const (
	portal = "https://portal.example"
	key1   = "pkcs11:token=T;object=k1;type=private"
)

func list(origin string) Request {
	return Request{Kind: List, Plugin: "eimzo", Origin: origin}
}

func sign(origin string) Request {
	return Request{Kind: Sign, Plugin: "eimzo", Origin: origin, KeyURI: key1, Summary: "contract",
		Documents: []Document{{Name: "a.pdf", Size: 3, SHA256: bytes.Repeat([]byte{1}, 32)}}}
}

func TestFirstUse(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		ans      Answer
		allowed  bool
		askAgain bool // a second request is asked again
		choice   OriginChoice
	}{
		{"allow once", Answer{Allow: true}, true, true, ""},
		{"always", Answer{Allow: true, Remember: true}, true, false, Always},
		{"deny", Answer{}, false, true, ""},
		{"deny forever", Answer{Remember: true}, false, false, Never},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, "")
			p := &script{confirm: answer(c.ans)}
			e := f.engine(t, p)
			err := e.Ask(ctx, list(portal))
			if c.allowed {
				require.NoError(t, err, "first request")
			} else {
				require.ErrorIs(t, err, ErrRefused, "first request")
			}
			q := p.asked()
			require.Len(t, q, 1)
			require.True(t, q[0].FirstUse)
			require.Equal(t, portal, q[0].Request.Origin)
			require.NotEmpty(t, q[0].ID)
			// Across a restart: a new Engine over the same data directory.
			p2 := &script{confirm: answer(c.ans)}
			e2 := f.engine(t, p2)
			err2 := e2.Ask(ctx, list(portal))
			if c.allowed {
				require.NoError(t, err2, "after restart")
			} else {
				require.ErrorIs(t, err2, ErrRefused, "after restart")
			}
			require.Equal(t, c.askAgain, len(p2.asked()) == 1, "asked again after restart")
			od, ok := e2.Decisions().Get(portal)
			if c.choice == "" {
				require.False(t, ok, "remembered %+v", od)
			} else {
				require.Equal(t, c.choice, od.Choice, "remembered")
			}
			if c.choice != "" {
				st, err := os.Stat(filepath.Join(f.dir, DecisionsFile))
				require.NoError(t, err, "decisions file")
				require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "decisions file")
				// Revoke: asked again.
				require.NoError(t, e2.ForgetOrigin(ctx, portal))
				e2.Ask(ctx, list(portal))
				require.Len(t, p2.asked(), 1, "not asked after revoke")
			}
		})
	}
}

func TestFirstUseCoversTheOperation(t *testing.T) {
	f := newFixture(t, "")
	p := &script{confirm: answer(Answer{Allow: true, Remember: true})}
	e := f.engine(t, p)
	require.NoError(t, e.Ask(context.Background(), sign(portal)))
	// Origin now always allowed: the next signature asks about the
	// operation only.
	require.NoError(t, e.Ask(context.Background(), sign(portal)))
	q := p.asked()
	require.Len(t, q, 2)
	require.True(t, q[0].FirstUse, "first question")
	require.False(t, q[1].FirstUse, "second question")
	require.Equal(t, "contract", q[1].Request.Summary, "question lacks the request")
	require.Len(t, q[1].Request.Documents, 1, "question lacks the request")
}

func TestAdminDenyBeatsUserAllow(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "")
	p := &script{confirm: answer(Answer{Allow: true, Remember: true})}
	require.NoError(t, f.engine(t, p).Ask(ctx, list(portal)))
	// The administrator now denies it; same data dir, user said Always.
	cfg, err := config.Parse("t.yaml", []byte("data_dir: "+f.dir+"\npolicy:\n  deny: [\"https://*.example\"]\n  allow: [\""+portal+"\"]\n"))
	require.NoError(t, err)
	p2 := &script{confirm: answer(Answer{Allow: true})}
	e := f.engine(t, p2, func(c *EngineConfig) { c.Policy = &cfg.Policy })
	od, ok := e.Decisions().Get(portal)
	require.True(t, ok, "user decision lost")
	require.Equal(t, Always, od.Choice, "user decision lost")
	for _, r := range []Request{list(portal), sign(portal)} {
		require.ErrorIs(t, e.Ask(ctx, r), ErrRefused, r.Kind)
	}
	require.Empty(t, p2.asked(), "asked")
	require.Zero(t, f.keyInfo.Load(), "key lookups")
	recs := f.records(t)
	last := recs[len(recs)-1]
	require.Equal(t, journal.DecisionDenied, last.Decision, "journal")
	require.Equal(t, journal.ByAdmin, last.DecidedBy, "journal")
}

func TestAdminAllowSkipsFirstUse(t *testing.T) {
	f := newFixture(t, "  allow: [\"https://*.gov.uz\"]\n")
	p := &script{confirm: answer(Answer{Allow: true})}
	e := f.engine(t, p)
	ctx := context.Background()
	require.NoError(t, e.Ask(ctx, list("https://my.gov.uz")))
	require.Empty(t, p.asked(), "listing from an admin-allowed origin asked")
	require.NoError(t, e.Ask(ctx, sign("https://my.gov.uz")))
	q := p.asked()
	require.Len(t, q, 1)
	require.False(t, q[0].FirstUse)
	require.EqualValues(t, 1, f.keyInfo.Load(), "key lookups for the dialog")
	// Not admin-allowed: first use.
	e.Ask(ctx, list("https://gov.uz"))
	q = p.asked()
	require.Len(t, q, 2)
	require.True(t, q[1].FirstUse)
}

// TestDeniedOriginLearnsNothing: admin-denied, remembered-denied and
// denied-in-the-dialog origins get the same error, whatever key they name
// (existing or not), and the key store is never reached.
func TestDeniedOriginLearnsNothing(t *testing.T) {
	ctx := context.Background()
	const (
		adminDenied = "https://evil.example"
		userDenied  = "https://spam.example"
		dialogNo    = "https://new.example"
	)
	f := newFixture(t, "  deny: [\""+adminDenied+"\"]\n")
	p := &script{confirm: func(_ context.Context, _ int, q Question) (Answer, error) {
		return Answer{Remember: q.Request.Origin == userDenied}, nil
	}}
	e := f.engine(t, p)
	e.Ask(ctx, list(userDenied)) // remembers Never
	lookups := f.keyInfo.Load()

	var errs []error
	for _, origin := range []string{adminDenied, userDenied, dialogNo} {
		for _, r := range []Request{list(origin), sign(origin), {Kind: Sign, Plugin: "eimzo", Origin: origin, KeyURI: "pkcs11:token=none;object=nope"}} {
			r.Origin = origin
			err := e.Ask(ctx, r)
			require.ErrorIs(t, err, hsm.ErrDenied, "%s %s", origin, r.Kind)
			errs = append(errs, err)
		}
	}
	for _, err := range errs {
		require.Same(t, ErrRefused, err, "refusals differ")
		require.Equal(t, errs[0].Error(), err.Error(), "refusals differ")
	}
	require.Equal(t, lookups, f.keyInfo.Load(), "key store reached for a refused origin")
}

func TestUnattendedRules(t *testing.T) {
	f := newFixture(t, `  deny: ["https://evil.example"]
  unattended:
    rules:
      - {origin: "https://*.gov.uz", plugin: eimzo, operation: sign, action: allow, uses: 2}
      - {origin: "local", operation: list, action: allow}
      - {origin: "https://ask.example", action: ask}
      - {origin: "https://evil.example", action: allow}
      - {origin: "https://ci.example", operation: list, action: deny}
      - {origin: "https://ci.example", action: allow}
`)
	ctx := context.Background()
	cases := []struct {
		name string
		req  Request
		ok   bool
	}{
		{"gov sign 1", Request{Kind: Sign, Origin: "https://my.gov.uz", Plugin: "eimzo"}, true},
		{"gov origin question takes no use", Request{Kind: Origin, Origin: "https://my.gov.uz", Plugin: "eimzo"}, true},
		{"gov list needs no use", Request{Kind: List, Origin: "https://my.gov.uz", Plugin: "eimzo"}, true},
		{"gov sign 2", Request{Kind: Sign, Origin: "https://my.gov.uz", Plugin: "eimzo"}, true},
		{"gov sign 3: uses exhausted", Request{Kind: Sign, Origin: "https://my.gov.uz", Plugin: "eimzo"}, false},
		{"other plugin", Request{Kind: Sign, Origin: "https://my.gov.uz", Plugin: "cipher"}, false},
		{"local list", Request{Kind: List, Caller: "cli"}, true},
		{"local sign", Request{Kind: Sign, Caller: "cli"}, false},
		{"ask has no one to ask", Request{Kind: Sign, Origin: "https://ask.example"}, false},
		{"admin deny beats allow rule", Request{Kind: List, Origin: "https://evil.example"}, false},
		{"deny rule", Request{Kind: List, Origin: "https://ci.example"}, false},
		{"allow rule after deny rule", Request{Kind: Decrypt, Origin: "https://ci.example"}, true},
	}
	e := f.engine(t, nil) // headless: no one to ask
	for _, c := range cases {
		err := e.Ask(ctx, c.req)
		if c.ok {
			assert.NoError(t, err, c.name)
		} else {
			assert.ErrorIs(t, err, ErrRefused, c.name)
		}
	}
	assert.Zero(t, f.keyInfo.Load(), "headless engine looked keys up")
	// Refusals in a row from one site are coalesced (the second is
	// counted in a record written at the latest when the journal closes).
	require.NoError(t, f.journal.Close())
	n := 0
	for _, r := range f.records(t) {
		n++
		if r.Repeat != nil {
			n += r.Repeat.Count - 1
		}
	}
	assert.Equal(t, len(cases), n, "decisions the journal records stand for")
}

func TestEngineRuleUsesRace(t *testing.T) {
	f := newFixture(t, `  unattended:
    rules:
      - {origin: "https://ci.example", operation: sign, action: allow, uses: 31}
`)
	e := f.engine(t, nil)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if e.Ask(context.Background(), Request{Kind: Sign, Origin: "https://ci.example", KeyURI: key1}) == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 31, ok.Load(), "allowed")
}

// TestGrantRace: the person approves one signature and accepts the
// offered grant of N; then 32 racing requests get exactly N-1 more.
func TestGrantRace(t *testing.T) {
	const n = 10
	for _, byID := range []bool{false, true} {
		t.Run(fmt.Sprintf("byID=%v", byID), func(t *testing.T) {
			f := newFixture(t, "  allow: [\""+portal+"\"]\n")
			var first atomic.Bool
			p := &script{confirm: func(_ context.Context, _ int, q Question) (Answer, error) {
				if first.CompareAndSwap(false, true) {
					if q.Grant == nil || q.Grant.Uses != n || q.Grant.Within != 5*time.Minute {
						return Answer{}, fmt.Errorf("offer %+v", q.Grant)
					}
					return Answer{Allow: true, Remember: true}, nil
				}
				return Answer{}, nil // later questions: deny
			}}
			e := f.engine(t, p)
			r := sign(portal)
			r.GrantUses, r.GrantWithin = n, 5*time.Minute
			ctx := context.Background()
			require.NoError(t, e.Ask(ctx, r))
			gs := e.Grants().List()
			require.Len(t, gs, 1)
			require.Equal(t, n-1, gs[0].Remaining)
			r.GrantUses = 0
			if byID {
				r.GrantID = gs[0].ID
			}
			var ok atomic.Int32
			var wg sync.WaitGroup
			for range 32 {
				wg.Go(func() {
					if e.Ask(ctx, r) == nil {
						ok.Add(1)
					}
				})
			}
			wg.Wait()
			require.EqualValues(t, n-1, ok.Load(), "allowed")
			require.Empty(t, e.Grants().List(), "grant left after its uses")
			byGrant := 0
			for _, rec := range f.records(t) {
				if rec.DecidedBy == journal.ByGrant && rec.Decision == journal.DecisionAllowed {
					byGrant++
					require.Equal(t, gs[0].ID, rec.GrantID, "record without grant id: %+v", rec)
				}
			}
			require.Equal(t, n-1, byGrant, "grant records")
		})
	}
}

func TestTimeout(t *testing.T) {
	cases := []struct {
		name    string
		confirm func(context.Context, int, Question) (Answer, error)
		want    error
	}{
		{"prompter waits for ctx", func(ctx context.Context, _ int, q Question) (Answer, error) {
			<-ctx.Done()
			return Answer{}, ctx.Err()
		}, hsm.ErrTimeout},
		{"prompter reports timeout", func(context.Context, int, Question) (Answer, error) {
			return Answer{}, fmt.Errorf("dialog: %w", hsm.ErrTimeout)
		}, hsm.ErrTimeout},
		{"dismissed", func(context.Context, int, Question) (Answer, error) {
			return Answer{}, fmt.Errorf("closed: %w", hsm.ErrCancelled)
		}, hsm.ErrCancelled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, "")
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			p := &script{confirm: c.confirm}
			e := f.engine(t, p, func(ec *EngineConfig) {
				ec.Timeout = 20 * time.Millisecond
				ec.Now = func() time.Time { return now }
			})
			err := e.Ask(context.Background(), sign(portal))
			require.ErrorIs(t, err, c.want)
			q := p.asked()
			require.Len(t, q, 1)
			require.True(t, q[0].Deadline.Equal(now.Add(20*time.Millisecond)), "deadline %v", q[0].Deadline)
			recs := f.records(t)
			want := map[error]journal.Decision{hsm.ErrTimeout: journal.DecisionTimeout, hsm.ErrCancelled: journal.DecisionCancelled}[c.want]
			require.Len(t, recs, 1)
			require.Equal(t, want, recs[0].Decision)
		})
	}
	require.Equal(t, 2*time.Minute, DefaultTimeout)
}

func TestBatchBound(t *testing.T) {
	f := newFixture(t, "  allow: [\"*\"]\n")
	p := &script{confirm: answer(Answer{Allow: true})}
	e := f.engine(t, p)
	r := sign(portal)
	r.Documents = make([]Document, MaxDocuments)
	require.NoError(t, e.Ask(context.Background(), r))
	require.Len(t, p.asked(), 1, "a batch is one question")
	r.Documents = make([]Document, MaxDocuments+1)
	require.ErrorIs(t, e.Ask(context.Background(), r), hsm.ErrInvalidRequest, "oversized batch")
}

// TestJournalEveryDecision: each decision and each reported outcome is
// one record, in a chain that verifies.
func TestJournalEveryDecision(t *testing.T) {
	f := newFixture(t, "  deny: [\"https://evil.example\"]\n")
	p := &script{confirm: func(_ context.Context, n int, q Question) (Answer, error) {
		return Answer{Allow: n%2 == 0, Remember: q.FirstUse}, nil
	}}
	e := f.engine(t, p)
	ctx := context.Background()
	reqs := []Request{list(portal), sign(portal), sign(portal), list("https://evil.example"), {Kind: List, Caller: "cli"}}
	for _, r := range reqs {
		err := e.Ask(ctx, r)
		if err == nil && r.Kind == Sign {
			require.NoError(t, e.Record(ctx, r, nil))
		}
	}
	recs := f.records(t)
	// The remembered origin, 5 decisions and 1 outcome: list (always),
	// sign (refused by the person), sign (approved), its outcome, admin
	// deny, local list.
	require.Len(t, recs, 7)
	assert.Equal(t, journal.OpConsent, recs[0].Op, "first-use record")
	assert.Equal(t, journal.DecisionAllowed, recs[0].Decision, "first-use record")
	assert.Equal(t, journal.OpList, recs[1].Op, "first-use listing")
	assert.Equal(t, journal.DecisionDenied, recs[2].Decision, "refusal record")
	assert.Equal(t, journal.ByUser, recs[2].DecidedBy, "refusal record")
	assert.Equal(t, journal.ResultOK, recs[4].Result, "outcome record")
	assert.Equal(t, journal.OpSign, recs[4].Op, "outcome record")
	if assert.NotEmpty(t, recs[4].Documents, "outcome record") {
		assert.NotEmpty(t, recs[4].Documents[0].SHA256, "outcome record")
	}
	assert.Equal(t, journal.ByAdmin, recs[5].DecidedBy)
	assert.Equal(t, "cli", recs[6].Caller)
	rep, err := f.journal.Verify()
	require.NoError(t, err)
	require.True(t, rep.OK(), "verify %+v", rep)
	require.Equal(t, 7, rep.Records)
}

// TestPINNeverRecorded runs real signatures with a PFX key whose password
// comes through the engine's PIN prompt (wrong first, then right) and from
// an environment PIN source, and scans the journal, every error and the log
// for the secrets.
func TestPINNeverRecorded(t *testing.T) {
	const (
		password = "Pfx-Secret-7391"
		wrong    = "Wrong-Secret-5520"
	)
	dir := t.TempDir()
	sk, err := softhsmtest.NewSoftwareKey(softhsmtest.ECP256)
	require.NoError(t, err)
	pfxPath := filepath.Join(dir, "keys", "signer.pfx")
	require.NoError(t, sk.WritePFX(pfxPath, password, softhsmtest.Modern))
	f := newFixture(t, "  allow: [\""+portal+"\"]\n")
	var logBuf bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logBuf.Write(b)
	}), nil))
	p := &script{
		confirm: func(_ context.Context, n int, _ Question) (Answer, error) { return Answer{Allow: n != 1}, nil },
		pin: func(_ context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
			if req.Attempt == 1 {
				return hsm.PINResponse{PIN: []byte(wrong)}, nil
			}
			return hsm.PINResponse{PIN: []byte(password)}, nil
		},
	}
	var store *hsm.Store
	e := f.engine(t, p, func(c *EngineConfig) {
		c.Log = log
		c.KeyInfo = func(ctx context.Context, uri string) (hsm.KeyInfo, error) { return store.Key(ctx, uri) }
	})
	store, err = keybackends.Open(keybackends.Config{NoProbe: true, PFXFiles: []string{pfxPath}}, e.PINPrompt())
	require.NoError(t, err)
	defer store.Close()
	ctx := context.Background()
	keys, err := store.Keys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	var errs []error
	digest := sha256.Sum256([]byte("doc"))
	for i := range 3 {
		r := sign(portal)
		r.KeyURI = keys[0].URI
		r.RequestID = fmt.Sprint(i)
		if err := e.Ask(ctx, r); err != nil {
			errs = append(errs, err)
			continue
		}
		_, err := store.Sign(WithRequest(ctx, r), r.KeyURI, digest[:], crypto.SHA256)
		if err != nil {
			errs = append(errs, err)
		}
		require.NoError(t, e.Record(ctx, r, err))
	}
	require.Len(t, errs, 1)
	require.ErrorIs(t, errs[0], hsm.ErrDenied)
	// A wrong password as the only answer: the error is recorded.
	p.pin = func(context.Context, hsm.PINRequest) (hsm.PINResponse, error) {
		return hsm.PINResponse{PIN: []byte(wrong)}, nil
	}
	store.Close()
	store, err = keybackends.Open(keybackends.Config{NoProbe: true, PFXFiles: []string{pfxPath}}, e.PINPrompt())
	require.NoError(t, err)
	r := sign(portal)
	r.KeyURI = keys[0].URI
	require.NoError(t, e.Ask(ctx, r))
	_, err = store.Sign(WithRequest(ctx, r), r.KeyURI, digest[:], crypto.SHA256)
	require.ErrorIs(t, err, hsm.ErrPINIncorrect, "wrong password")
	errs = append(errs, err)
	e.Record(ctx, r, err)

	// Environment PIN source for an unattended token.
	t.Setenv("SIGNET_TEST_PIN", password)
	pol, err := config.Parse("t.yaml", []byte("data_dir: "+dir+"\npolicy:\n  unattended:\n    pin_sources:\n      - {token: \"pkcs11:token=CI\", env: SIGNET_TEST_PIN}\n"))
	require.NoError(t, err)
	e2 := f.engine(t, nil, func(c *EngineConfig) { c.Policy = &pol.Policy })
	resp, err := e2.PINPrompt()(ctx, hsm.PINRequest{Token: hsm.TokenInfo{URI: "pkcs11:model=SoftHSM%20v2;token=CI;serial=1", Label: "CI"}})
	require.NoError(t, err, "env source")
	require.True(t, string(resp.PIN) == password, "env source: wrong PIN") // the PIN stays out of the failure message
	_, err = e2.PINPrompt()(ctx, hsm.PINRequest{Token: hsm.TokenInfo{URI: "pkcs11:token=Other", Label: "Other"}})
	require.ErrorIs(t, err, hsm.ErrCancelled, "headless, no source")
	errs = append(errs, err)

	data, err := os.ReadFile(journal.PathIn(f.dir))
	require.NoError(t, err)
	okRecords := bytes.Count(data, []byte(`"result":"ok"`))
	require.Equal(t, 2, okRecords, "successful signatures journaled")
	logMu.Lock()
	logged := logBuf.String()
	logMu.Unlock()
	for _, secret := range []string{password, wrong} {
		// assert.True, not NotContains: a failure must not print the secret.
		assert.False(t, bytes.Contains(data, []byte(secret)), "journal contains a secret")
		assert.False(t, strings.Contains(logged, secret), "log contains a secret")
		for _, err := range errs {
			assert.False(t, strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), secret), "error contains a secret")
		}
	}
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(b []byte) (int, error) { return w(b) }

// TestOneQuestionPerOrigin: concurrent requests from one origin put one
// question at a time, and those queued behind it use its outcome.
func TestOneQuestionPerOrigin(t *testing.T) {
	ctx := context.Background()
	t.Run("first use remembered", func(t *testing.T) {
		f := newFixture(t, "")
		var open, maxOpen atomic.Int32
		p := &script{confirm: func(context.Context, int, Question) (Answer, error) {
			n := open.Add(1)
			defer open.Add(-1)
			for {
				m := maxOpen.Load()
				if n <= m || maxOpen.CompareAndSwap(m, n) {
					break
				}
			}
			return Answer{Allow: true, Remember: true}, nil
		}}
		e := f.engine(t, p)
		var wg sync.WaitGroup
		var failed atomic.Int32
		for range 8 {
			wg.Go(func() {
				if e.Ask(ctx, list(portal)) != nil {
					failed.Add(1)
				}
			})
		}
		wg.Wait()
		require.Zero(t, failed.Load(), "failed")
		require.Len(t, p.asked(), 1, "questions")
		require.EqualValues(t, 1, maxOpen.Load(), "questions open at once")
	})
	t.Run("grant accepted covers the queue", func(t *testing.T) {
		f := newFixture(t, "  allow: [\""+portal+"\"]\n")
		p := &script{confirm: answer(Answer{Allow: true, Remember: true})}
		e := f.engine(t, p)
		r := sign(portal)
		r.GrantUses = 10
		var wg sync.WaitGroup
		var ok atomic.Int32
		for range 10 {
			wg.Go(func() {
				if e.Ask(ctx, r) == nil {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		require.EqualValues(t, 10, ok.Load(), "allowed")
		require.Len(t, p.asked(), 1, "questions")
		require.Empty(t, e.Grants().List(), "grants")
	})
	t.Run("bounded queue", func(t *testing.T) {
		f := newFixture(t, "  allow: [\""+portal+"\"]\n")
		unblock := make(chan struct{})
		p := &script{confirm: func(ctx context.Context, _ int, _ Question) (Answer, error) {
			<-unblock
			return Answer{}, nil
		}}
		e := f.engine(t, p)
		const extra = 5
		errs := make(chan error, MaxQueued+extra)
		for range MaxQueued + extra {
			go func() { errs <- e.Ask(ctx, sign(portal)) }()
		}
		for range extra { // the ones beyond the bound return without waiting
			require.ErrorIs(t, <-errs, ErrRefused)
		}
		close(unblock)
		for range MaxQueued {
			require.ErrorIs(t, <-errs, ErrRefused)
		}
		require.Len(t, p.asked(), MaxQueued, "questions")
	})
}

func TestTokenURIMatcher(t *testing.T) {
	m := TokenURIMatcher("pkcs11:token=CI;serial=42")
	assert.True(t, m("pkcs11:token=CI;manufacturer=SoftHSM;serial=42"), "subset not matched")
	for _, other := range []string{"pkcs11:token=CI;serial=43", "pkcs11:token=CIX;serial=42", "file:///x.pfx"} {
		assert.False(t, m(other), "wrong token matched: %s", other)
	}
	f := TokenURIMatcher("file:///k/a.pfx")
	assert.True(t, f("file:///k/a.pfx"), "file URI matching")
	assert.False(t, f("file:///k/b.pfx"), "file URI matching")
}

func TestRevokeGrant(t *testing.T) {
	f := newFixture(t, "  allow: [\""+portal+"\"]\n")
	var n atomic.Int32
	p := &script{confirm: func(context.Context, int, Question) (Answer, error) {
		n.Add(1)
		return Answer{Allow: true, Remember: true}, nil
	}}
	e := f.engine(t, p)
	ctx := context.Background()
	r := sign(portal)
	r.GrantUses = 5
	require.NoError(t, e.Ask(ctx, r))
	gs := e.Grants().List()
	require.Len(t, gs, 1)
	require.NoError(t, e.RevokeGrant(ctx, gs[0].ID))
	r.GrantUses = 0
	require.NoError(t, e.Ask(ctx, r), "after revoke")
	require.EqualValues(t, 2, n.Load(), "questions after revoke")
	recs := f.records(t)
	found := false
	for _, rec := range recs {
		found = found || rec.Op == journal.OpRevoke && rec.GrantID == gs[0].ID
	}
	require.True(t, found, "revocation not journaled")
	require.Error(t, e.RevokeGrant(ctx, gs[0].ID), "second revoke succeeded")
}

// TestOpaqueOriginNotRemembered: "null" is shared by every sandboxed page,
// so neither Always nor a grant is kept for it.
func TestOpaqueOriginNotRemembered(t *testing.T) {
	f := newFixture(t, "")
	p := &script{confirm: answer(Answer{Allow: true, Remember: true})}
	e := f.engine(t, p)
	ctx := context.Background()
	r := sign("null")
	r.GrantUses = 5
	for range 2 {
		require.NoError(t, e.Ask(ctx, list("null")))
	}
	_, remembered := e.Decisions().Get("null")
	require.False(t, remembered, "always remembered for null")
	require.NoError(t, e.Ask(ctx, r))
	q := p.asked()
	require.Len(t, q, 3)
	require.Nil(t, q[2].Grant, "grant offered to null")
	require.Empty(t, e.Grants().List(), "grant kept for null")
}
