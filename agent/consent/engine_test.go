package consent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
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
	"github.com/signet-agent/signet/softhsm-config/softhsmtest"
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
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(journal.PathIn(dir), journal.WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir, policy: &cfg.Policy, journal: j}
	t.Cleanup(func() {
		j.Close()
		rep, err := journal.VerifyFile(journal.PathIn(dir))
		if err != nil || !rep.OK() {
			t.Errorf("journal verify: %v %+v", err, rep)
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
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (f *fixture) records(t *testing.T) []journal.Record {
	t.Helper()
	recs, err := journal.ReadFile(journal.PathIn(f.dir), journal.Filter{})
	if err != nil {
		t.Fatal(err)
	}
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
			if c.allowed != (err == nil) {
				t.Fatalf("first request: %v", err)
			}
			if err != nil && err != ErrRefused {
				t.Fatalf("refusal is %v, want ErrRefused", err)
			}
			q := p.asked()
			if len(q) != 1 || !q[0].FirstUse || q[0].Request.Origin != portal || q[0].ID == "" {
				t.Fatalf("questions %+v", q)
			}
			// Across a restart: a new Engine over the same data directory.
			p2 := &script{confirm: answer(c.ans)}
			e2 := f.engine(t, p2)
			err2 := e2.Ask(ctx, list(portal))
			if c.allowed != (err2 == nil) {
				t.Fatalf("after restart: %v", err2)
			}
			if got := len(p2.asked()) == 1; got != c.askAgain {
				t.Fatalf("asked again after restart: %v, want %v", got, c.askAgain)
			}
			od, ok := e2.Decisions().Get(portal)
			if c.choice == "" && ok || c.choice != "" && od.Choice != c.choice {
				t.Fatalf("remembered %+v %v, want %q", od, ok, c.choice)
			}
			if c.choice != "" {
				st, err := os.Stat(filepath.Join(f.dir, DecisionsFile))
				if err != nil || st.Mode().Perm() != 0o600 {
					t.Fatalf("decisions file: %v %v", st, err)
				}
				// Revoke: asked again.
				if err := e2.ForgetOrigin(ctx, portal); err != nil {
					t.Fatal(err)
				}
				e2.Ask(ctx, list(portal))
				if len(p2.asked()) != 1 {
					t.Fatalf("not asked after revoke")
				}
			}
		})
	}
}

func TestFirstUseCoversTheOperation(t *testing.T) {
	f := newFixture(t, "")
	p := &script{confirm: answer(Answer{Allow: true, Remember: true})}
	e := f.engine(t, p)
	if err := e.Ask(context.Background(), sign(portal)); err != nil {
		t.Fatal(err)
	}
	// Origin now always allowed: the next signature asks about the
	// operation only.
	if err := e.Ask(context.Background(), sign(portal)); err != nil {
		t.Fatal(err)
	}
	q := p.asked()
	if len(q) != 2 || !q[0].FirstUse || q[1].FirstUse {
		t.Fatalf("questions: %+v", q)
	}
	if q[1].Request.Summary != "contract" || len(q[1].Request.Documents) != 1 {
		t.Fatalf("question lacks the request: %+v", q[1].Request)
	}
}

func TestAdminDenyBeatsUserAllow(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "")
	p := &script{confirm: answer(Answer{Allow: true, Remember: true})}
	if err := f.engine(t, p).Ask(ctx, list(portal)); err != nil {
		t.Fatal(err)
	}
	// The administrator now denies it; same data dir, user said Always.
	cfg, err := config.Parse("t.yaml", []byte("data_dir: "+f.dir+"\npolicy:\n  deny: [\"https://*.example\"]\n  allow: [\""+portal+"\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	p2 := &script{confirm: answer(Answer{Allow: true})}
	e := f.engine(t, p2, func(c *EngineConfig) { c.Policy = &cfg.Policy })
	if od, ok := e.Decisions().Get(portal); !ok || od.Choice != Always {
		t.Fatalf("user decision lost: %+v", od)
	}
	for _, r := range []Request{list(portal), sign(portal)} {
		if err := e.Ask(ctx, r); err != ErrRefused {
			t.Fatalf("%s: %v", r.Kind, err)
		}
	}
	if len(p2.asked()) != 0 || f.keyInfo.Load() != 0 {
		t.Fatalf("asked %d, key lookups %d", len(p2.asked()), f.keyInfo.Load())
	}
	recs := f.records(t)
	last := recs[len(recs)-1]
	if last.Decision != journal.DecisionDenied || last.DecidedBy != journal.ByAdmin {
		t.Fatalf("journal: %+v", last)
	}
}

func TestAdminAllowSkipsFirstUse(t *testing.T) {
	f := newFixture(t, "  allow: [\"https://*.gov.uz\"]\n")
	p := &script{confirm: answer(Answer{Allow: true})}
	e := f.engine(t, p)
	ctx := context.Background()
	if err := e.Ask(ctx, list("https://my.gov.uz")); err != nil {
		t.Fatal(err)
	}
	if len(p.asked()) != 0 {
		t.Fatal("listing from an admin-allowed origin asked")
	}
	if err := e.Ask(ctx, sign("https://my.gov.uz")); err != nil {
		t.Fatal(err)
	}
	q := p.asked()
	if len(q) != 1 || q[0].FirstUse {
		t.Fatalf("questions %+v", q)
	}
	if f.keyInfo.Load() != 1 {
		t.Fatalf("key looked up %d times for the dialog, want 1", f.keyInfo.Load())
	}
	// Not admin-allowed: first use.
	e.Ask(ctx, list("https://gov.uz"))
	if q := p.asked(); len(q) != 2 || !q[1].FirstUse {
		t.Fatalf("questions %+v", q)
	}
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
			if !errors.Is(err, hsm.ErrDenied) {
				t.Fatalf("%s %s: %v", origin, r.Kind, err)
			}
			errs = append(errs, err)
		}
	}
	for _, err := range errs {
		if err != ErrRefused || err.Error() != errs[0].Error() {
			t.Fatalf("refusals differ: %q vs %q", err, errs[0])
		}
	}
	if f.keyInfo.Load() != lookups {
		t.Fatalf("key store reached for a refused origin")
	}
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
		if c.ok != (err == nil) {
			t.Errorf("%s: %v", c.name, err)
		}
		if err != nil && err != ErrRefused {
			t.Errorf("%s: %v is not ErrRefused", c.name, err)
		}
	}
	if f.keyInfo.Load() != 0 {
		t.Errorf("headless engine looked keys up")
	}
	// Refusals in a row from one site are coalesced (the second is
	// counted in a record written at the latest when the journal closes).
	if err := f.journal.Close(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range f.records(t) {
		n++
		if r.Repeat != nil {
			n += r.Repeat.Count - 1
		}
	}
	if n != len(cases) {
		t.Errorf("journal records stand for %d decisions, want %d", n, len(cases))
	}
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
	if ok.Load() != 31 {
		t.Fatalf("allowed %d, want 31", ok.Load())
	}
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
			if err := e.Ask(ctx, r); err != nil {
				t.Fatal(err)
			}
			gs := e.Grants().List()
			if len(gs) != 1 || gs[0].Remaining != n-1 {
				t.Fatalf("grants %+v", gs)
			}
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
			if ok.Load() != n-1 {
				t.Fatalf("allowed %d, want %d", ok.Load(), n-1)
			}
			if len(e.Grants().List()) != 0 {
				t.Fatal("grant left after its uses")
			}
			byGrant := 0
			for _, rec := range f.records(t) {
				if rec.DecidedBy == journal.ByGrant && rec.Decision == journal.DecisionAllowed {
					byGrant++
					if rec.GrantID != gs[0].ID {
						t.Fatalf("record without grant id: %+v", rec)
					}
				}
			}
			if byGrant != n-1 {
				t.Fatalf("%d grant records, want %d", byGrant, n-1)
			}
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
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if q := p.asked(); len(q) != 1 || !q[0].Deadline.Equal(now.Add(20*time.Millisecond)) {
				t.Fatalf("questions %+v", q)
			}
			recs := f.records(t)
			want := map[error]journal.Decision{hsm.ErrTimeout: journal.DecisionTimeout, hsm.ErrCancelled: journal.DecisionCancelled}[c.want]
			if len(recs) != 1 || recs[0].Decision != want {
				t.Fatalf("journal %+v", recs)
			}
		})
	}
	if DefaultTimeout != 2*time.Minute {
		t.Fatal("default timeout")
	}
}

func TestBatchBound(t *testing.T) {
	f := newFixture(t, "  allow: [\"*\"]\n")
	p := &script{confirm: answer(Answer{Allow: true})}
	e := f.engine(t, p)
	r := sign(portal)
	r.Documents = make([]Document, MaxDocuments)
	if err := e.Ask(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if len(p.asked()) != 1 {
		t.Fatal("a batch is one question")
	}
	r.Documents = make([]Document, MaxDocuments+1)
	if err := e.Ask(context.Background(), r); !errors.Is(err, hsm.ErrInvalidRequest) {
		t.Fatalf("oversized batch: %v", err)
	}
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
			if err := e.Record(ctx, r, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	recs := f.records(t)
	// The remembered origin, 5 decisions and 1 outcome: list (always),
	// sign (refused by the person), sign (approved), its outcome, admin
	// deny, local list.
	if len(recs) != 7 {
		for _, r := range recs {
			t.Logf("%+v", r)
		}
		t.Fatalf("%d records", len(recs))
	}
	if recs[0].Op != journal.OpConsent || recs[0].Decision != journal.DecisionAllowed || recs[1].Op != journal.OpList {
		t.Fatalf("first-use records %+v %+v", recs[0], recs[1])
	}
	if recs[2].Decision != journal.DecisionDenied || recs[2].DecidedBy != journal.ByUser {
		t.Fatalf("refusal record %+v", recs[2])
	}
	if recs[4].Result != journal.ResultOK || recs[4].Op != journal.OpSign || recs[4].Documents[0].SHA256 == "" {
		t.Fatalf("outcome record %+v", recs[4])
	}
	if recs[5].DecidedBy != journal.ByAdmin || recs[6].Caller != "cli" {
		t.Fatalf("records %+v %+v", recs[5], recs[6])
	}
	rep, err := f.journal.Verify()
	if err != nil || !rep.OK() || rep.Records != 7 {
		t.Fatalf("verify %+v %v", rep, err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	pfxPath := filepath.Join(dir, "keys", "signer.pfx")
	if err := sk.WritePFX(pfxPath, password, softhsmtest.Modern); err != nil {
		t.Fatal(err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	keys, err := store.Keys(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v %v", keys, err)
	}
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
		if err := e.Record(ctx, r, err); err != nil {
			t.Fatal(err)
		}
	}
	if len(errs) != 1 || !errors.Is(errs[0], hsm.ErrDenied) {
		t.Fatalf("errors %v", errs)
	}
	// A wrong password as the only answer: the error is recorded.
	p.pin = func(context.Context, hsm.PINRequest) (hsm.PINResponse, error) {
		return hsm.PINResponse{PIN: []byte(wrong)}, nil
	}
	store.Close()
	store, err = keybackends.Open(keybackends.Config{NoProbe: true, PFXFiles: []string{pfxPath}}, e.PINPrompt())
	if err != nil {
		t.Fatal(err)
	}
	r := sign(portal)
	r.KeyURI = keys[0].URI
	if err := e.Ask(ctx, r); err != nil {
		t.Fatal(err)
	}
	_, err = store.Sign(WithRequest(ctx, r), r.KeyURI, digest[:], crypto.SHA256)
	if !errors.Is(err, hsm.ErrPINIncorrect) {
		t.Fatalf("wrong password: %v", err)
	}
	errs = append(errs, err)
	e.Record(ctx, r, err)

	// Environment PIN source for an unattended token.
	t.Setenv("SIGNET_TEST_PIN", password)
	pol, err := config.Parse("t.yaml", []byte("data_dir: "+dir+"\npolicy:\n  unattended:\n    pin_sources:\n      - {token: \"pkcs11:token=CI\", env: SIGNET_TEST_PIN}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e2 := f.engine(t, nil, func(c *EngineConfig) { c.Policy = &pol.Policy })
	resp, err := e2.PINPrompt()(ctx, hsm.PINRequest{Token: hsm.TokenInfo{URI: "pkcs11:model=SoftHSM%20v2;token=CI;serial=1", Label: "CI"}})
	if err != nil || string(resp.PIN) != password {
		t.Fatalf("env source: %v", err)
	}
	if _, err := e2.PINPrompt()(ctx, hsm.PINRequest{Token: hsm.TokenInfo{URI: "pkcs11:token=Other", Label: "Other"}}); !errors.Is(err, hsm.ErrCancelled) {
		t.Fatalf("headless, no source: %v", err)
	} else {
		errs = append(errs, err)
	}

	data, err := os.ReadFile(journal.PathIn(f.dir))
	if err != nil {
		t.Fatal(err)
	}
	okRecords := bytes.Count(data, []byte(`"result":"ok"`))
	if okRecords != 2 {
		t.Fatalf("%d successful signatures journaled, want 2", okRecords)
	}
	logMu.Lock()
	logged := logBuf.String()
	logMu.Unlock()
	for _, secret := range []string{password, wrong} {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("journal contains a secret")
		}
		if strings.Contains(logged, secret) {
			t.Errorf("log contains a secret")
		}
		for _, err := range errs {
			if strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), secret) {
				t.Errorf("error contains a secret: %v", err)
			}
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
		if failed.Load() != 0 || len(p.asked()) != 1 || maxOpen.Load() != 1 {
			t.Fatalf("failed %d, questions %d, max open %d", failed.Load(), len(p.asked()), maxOpen.Load())
		}
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
		if ok.Load() != 10 || len(p.asked()) != 1 || len(e.Grants().List()) != 0 {
			t.Fatalf("allowed %d, questions %d, grants %+v", ok.Load(), len(p.asked()), e.Grants().List())
		}
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
			if err := <-errs; err != ErrRefused {
				t.Fatalf("%v", err)
			}
		}
		close(unblock)
		for range MaxQueued {
			if err := <-errs; err != ErrRefused {
				t.Fatalf("%v", err)
			}
		}
		if n := len(p.asked()); n != MaxQueued {
			t.Fatalf("%d questions", n)
		}
	})
}

func TestTokenURIMatcher(t *testing.T) {
	m := TokenURIMatcher("pkcs11:token=CI;serial=42")
	if !m("pkcs11:token=CI;manufacturer=SoftHSM;serial=42") {
		t.Error("subset not matched")
	}
	if m("pkcs11:token=CI;serial=43") || m("pkcs11:token=CIX;serial=42") || m("file:///x.pfx") {
		t.Error("wrong token matched")
	}
	f := TokenURIMatcher("file:///k/a.pfx")
	if !f("file:///k/a.pfx") || f("file:///k/b.pfx") {
		t.Error("file URI matching")
	}
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
	if err := e.Ask(ctx, r); err != nil {
		t.Fatal(err)
	}
	gs := e.Grants().List()
	if len(gs) != 1 {
		t.Fatalf("grants %+v", gs)
	}
	if err := e.RevokeGrant(ctx, gs[0].ID); err != nil {
		t.Fatal(err)
	}
	r.GrantUses = 0
	if err := e.Ask(ctx, r); err != nil || n.Load() != 2 {
		t.Fatalf("after revoke: %v, %d questions", err, n.Load())
	}
	recs := f.records(t)
	found := false
	for _, rec := range recs {
		found = found || rec.Op == journal.OpRevoke && rec.GrantID == gs[0].ID
	}
	if !found {
		t.Fatal("revocation not journaled")
	}
	if err := e.RevokeGrant(ctx, gs[0].ID); err == nil {
		t.Fatal("second revoke succeeded")
	}
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
		if err := e.Ask(ctx, list("null")); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := e.Decisions().Get("null"); ok {
		t.Fatal("always remembered for null")
	}
	if err := e.Ask(ctx, r); err != nil {
		t.Fatal(err)
	}
	q := p.asked()
	if len(q) != 3 || q[2].Grant != nil || len(e.Grants().List()) != 0 {
		t.Fatalf("questions %d, offer %+v, grants %+v", len(q), q[len(q)-1].Grant, e.Grants().List())
	}
}
