package consent

import (
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/agent/prompt"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pkcs11"
	"github.com/signet-agent/signet/softhsm-config/softhsmtest"
)

// TestMain gives the package a private SoftHSM2 configuration with one
// token (softhsmtest.StandardKeys: RSA, ECDSA and Ed25519 keys with
// certificates), created before any test initialises the module.
func TestMain(m *testing.M) {
	softhsmtest.MainSetup(m, func(env *softhsmtest.Env) error {
		_, err := softhsmtest.NewFixture(env, tokenLabel, softhsmtest.DefaultUserPIN, softhsmtest.DefaultSOPIN, softhsmtest.StandardKeys)
		return err
	})
}

const tokenLabel = "consent-test"

var (
	tokenOnce  sync.Once
	tokenStore *hsm.Store
	tokenErr   error
)

// tokenKeys returns the key store over the SoftHSM token (one per test
// binary: a PKCS#11 module is initialised once per process) and its
// private keys, sorted by label (ecdsa-p256, ed25519, rsa2048).
func tokenKeys(t *testing.T) (*hsm.Store, []hsm.KeyInfo) {
	t.Helper()
	tokenOnce.Do(func() {
		b, err := pkcs11.Open(pkcs11.Config{
			Module: softhsmtest.Shared().Module,
			PINPrompt: func(context.Context, hsm.PINRequest) (hsm.PINResponse, error) {
				return hsm.PINResponse{PIN: []byte(softhsmtest.DefaultUserPIN)}, nil
			},
		})
		tokenStore, tokenErr = hsm.NewStore(b), err
	})
	if tokenErr != nil {
		t.Fatal(tokenErr)
	}
	all, err := tokenStore.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var keys []hsm.KeyInfo
	for _, k := range all {
		if k.HasPrivateKey && strings.Contains(k.TokenURI, "token="+tokenLabel) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Label < keys[j].Label })
	if len(keys) != 3 {
		t.Fatalf("%d private keys on the token; want 3", len(keys))
	}
	return tokenStore, keys
}

// withStore makes the engine look keys up in store (counting lookups).
func (f *fixture) withStore(store *hsm.Store) func(*EngineConfig) {
	return func(c *EngineConfig) {
		c.KeyInfo = func(ctx context.Context, uri string) (hsm.KeyInfo, error) {
			f.keyInfo.Add(1)
			return store.Key(ctx, uri)
		}
	}
}

func choice(origin string, uris ...string) Request {
	r := sign(origin)
	r.KeyURI = ""
	for _, u := range uris {
		r.Choices = append(r.Choices, hsm.KeyInfo{URI: u})
	}
	return r
}

func uris(keys []hsm.KeyInfo) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.URI)
	}
	return out
}

// pick answers a choice question with the key whose URI is uri.
func pick(uri string, remember bool) func(context.Context, int, Question) (Answer, error) {
	return answer(Answer{Allow: true, Remember: remember, KeyURI: uri})
}

// The person picks the second of two keys (an unknown third candidate is
// dropped); the question shows both keys with their certificates; the
// one-use grant covers exactly the following signature with that key:
// that Sign needs no question, a second one with the same grant is
// refused, the grant does not cover another key, and a Sign that does not
// present it is asked about.
func TestChooseKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "  allow: [\""+portal+"\"]\n")
	store, keys := tokenKeys(t)
	keys = []hsm.KeyInfo{keys[0], keys[2]} // ECDSA and RSA: signed below with SHA-256
	p := &script{confirm: func(_ context.Context, n int, q Question) (Answer, error) {
		if n == 0 {
			return Answer{Allow: true, KeyURI: keys[1].URI}, nil
		}
		return Answer{}, nil // later questions: refused
	}}
	e := f.engine(t, p, f.withStore(store))
	unknown := "pkcs11:token=" + tokenLabel + ";object=nonexistent;type=private"
	var out Outcome
	if err := e.Ask(WithOutcome(ctx, &out), choice(portal, keys[0].URI, unknown, keys[1].URI, keys[0].URI)); err != nil {
		t.Fatal(err)
	}
	if out.KeyURI != keys[1].URI || out.GrantID == "" {
		t.Fatalf("outcome %+v; want key %s and a grant", out, keys[1].URI)
	}
	qs := p.asked()
	if len(qs) != 1 || qs[0].FirstUse || qs[0].Grant != nil {
		t.Fatalf("questions %+v; want one plain question", qs)
	}
	got := qs[0].Request.Choices
	if len(got) != 2 || got[0].URI != keys[0].URI || got[1].URI != keys[1].URI {
		t.Fatalf("question offers %v; want the two known keys, once each, in order", uris(got))
	}
	for i, k := range got {
		if k.Certificate == nil || !k.Certificate.Equal(keys[i].Certificate) {
			t.Errorf("choice %d shows no (or the wrong) certificate", i)
		}
	}
	if qs[0].Request.KeyURI != "" || qs[0].Request.Summary != "contract" || len(qs[0].Request.Documents) != 1 {
		t.Errorf("question request %+v", qs[0].Request)
	}
	g, ok := e.Grants().Get(out.GrantID)
	if !ok || !g.ByID || g.Uses != 1 || g.KeyURI != keys[1].URI || g.Operation != "sign" || g.Origin != portal {
		t.Fatalf("grant %+v, %v; want a one-use ID-only sign grant for the picked key", g, ok)
	}

	// Another key with the grant: refused, the grant stays.
	other := sign(portal)
	other.KeyURI, other.GrantID = keys[0].URI, out.GrantID
	if err := e.Ask(ctx, other); !errors.Is(err, hsm.ErrDenied) {
		t.Fatalf("grant presented for another key: %v; want ErrDenied", err)
	}
	// The same key without presenting the grant: the person is asked.
	plain := sign(portal)
	plain.KeyURI = keys[1].URI
	if err := e.Ask(ctx, plain); !errors.Is(err, hsm.ErrDenied) || len(p.asked()) != 2 {
		t.Fatalf("sign without the grant: %v after %d questions; want a question, refused", err, len(p.asked()))
	}
	// The signature the person chose the key for: no question, real signature.
	s := sign(portal)
	s.KeyURI, s.GrantID = keys[1].URI, out.GrantID
	if err := e.Ask(ctx, s); err != nil {
		t.Fatalf("sign with the choice's grant: %v", err)
	}
	digest := sha256.Sum256([]byte("doc"))
	if _, err := store.Sign(WithRequest(ctx, s), s.KeyURI, digest[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if err := e.Record(ctx, s, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Ask(ctx, s); !errors.Is(err, hsm.ErrDenied) {
		t.Fatalf("second sign with the one-use grant: %v; want ErrDenied", err)
	}
	if n := len(p.asked()); n != 2 {
		t.Fatalf("%d questions; want 2", n)
	}

	// The journal: the choice as a consent decision naming the picked key,
	// its certificate and the grant; the signature allowed by that grant.
	var chose, byGrant bool
	for _, r := range f.records(t) {
		if r.Op == journal.OpConsent && r.Decision == journal.DecisionAllowed && r.DecidedBy == journal.ByUser {
			chose = r.KeyURI == keys[1].URI && r.GrantID == out.GrantID &&
				r.CertSerial == keys[1].Certificate.SerialNumber.Text(16) && r.Summary == "key chosen among 3: contract"
		}
		if r.Op == journal.OpSign && r.DecidedBy == journal.ByGrant && r.GrantID == out.GrantID && r.Decision == journal.DecisionAllowed {
			byGrant = true
		}
	}
	if !chose || !byGrant {
		t.Errorf("journal: choice recorded %v, signature by its grant %v: %+v", chose, byGrant, f.records(t))
	}
}

// Refusals: the person's, the policy's, and requests that cannot be a key
// choice. A refused origin causes no key lookup and no question.
func TestChooseKeyRefused(t *testing.T) {
	ctx := context.Background()
	store, keys := tokenKeys(t)
	cases := []struct {
		name    string
		policy  string
		never   bool // the person refused the origin for good
		confirm func(context.Context, int, Question) (Answer, error)
		req     func() Request
		want    error
		asked   int
		lookups bool
	}{
		{name: "person denies", policy: allowPortal, confirm: answer(Answer{}), want: ErrRefused, asked: 1, lookups: true},
		{name: "allow without a key", policy: allowPortal, confirm: answer(Answer{Allow: true}), want: ErrRefused, asked: 1, lookups: true},
		{name: "key not offered", policy: allowPortal, confirm: pick("file:///other.pfx#k", false), want: ErrRefused, asked: 1, lookups: true},
		{name: "timeout", policy: allowPortal, confirm: func(ctx context.Context, _ int, _ Question) (Answer, error) {
			return Answer{}, fmt.Errorf("slow: %w", hsm.ErrTimeout)
		}, want: hsm.ErrTimeout, asked: 1, lookups: true},
		{name: "dismissed", policy: allowPortal, confirm: func(context.Context, int, Question) (Answer, error) {
			return Answer{}, fmt.Errorf("closed: %w", hsm.ErrCancelled)
		}, want: hsm.ErrCancelled, asked: 1, lookups: true},
		{name: "admin deny", policy: "  deny: [\"" + portal + "\"]\n", confirm: pick(keys[0].URI, false), want: ErrRefused},
		{name: "remembered never", never: true, confirm: pick(keys[0].URI, false), want: ErrRefused},
		{name: "none known", policy: allowPortal, confirm: pick(keys[0].URI, false),
			req: func() Request { return choice(portal, "file:///a.pfx#k", "file:///b.pfx#k") }, want: hsm.ErrKeyNotFound, lookups: true},
		{name: "none known, origin not approved", confirm: pick(keys[0].URI, false),
			req: func() Request { return choice(portal, "file:///a.pfx#k") }, want: ErrRefused, lookups: true},
		{name: "not a signature", policy: allowPortal, confirm: pick(keys[0].URI, false),
			req: func() Request { r := choice(portal, keys[0].URI); r.Kind = Decrypt; return r }, want: hsm.ErrInvalidRequest},
		{name: "presents a grant", policy: allowPortal, confirm: pick(keys[0].URI, false),
			req: func() Request { r := choice(portal, keys[0].URI); r.GrantID = "00"; return r }, want: hsm.ErrInvalidRequest},
		{name: "offers a grant", policy: allowPortal, confirm: pick(keys[0].URI, false),
			req: func() Request { r := choice(portal, keys[0].URI); r.GrantUses = 5; return r }, want: hsm.ErrInvalidRequest},
		{name: "too many", policy: allowPortal, confirm: pick(keys[0].URI, false),
			req: func() Request {
				r := choice(portal)
				for i := range MaxChoices + 1 {
					r.Choices = append(r.Choices, hsm.KeyInfo{URI: fmt.Sprintf("file:///%d.pfx#k", i)})
				}
				return r
			}, want: hsm.ErrInvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.policy)
			p := &script{confirm: c.confirm}
			e := f.engine(t, p, f.withStore(store))
			if c.never {
				if err := e.Decisions().Set(OriginDecision{Origin: portal, Choice: Never, Decided: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			req := choice(portal, keys[0].URI, keys[1].URI)
			if c.req != nil {
				req = c.req()
			}
			var out Outcome
			err := e.Ask(WithOutcome(ctx, &out), req)
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v; want %v", err, c.want)
			}
			if out != (Outcome{}) {
				t.Errorf("a refusal reported %+v", out)
			}
			if n := len(p.asked()); n != c.asked {
				t.Errorf("%d questions; want %d", n, c.asked)
			}
			if got := f.keyInfo.Load() > 0; got != c.lookups {
				t.Errorf("keys looked up: %v; want %v", got, c.lookups)
			}
			if len(e.Grants().List()) != 0 {
				t.Errorf("a refusal left a grant")
			}
			recs := f.records(t)
			if len(recs) == 0 || recs[len(recs)-1].Decision == journal.DecisionAllowed {
				t.Errorf("refusal not journaled: %+v", recs)
			}
		})
	}
}

const allowPortal = "  allow: [\"" + portal + "\"]\n"

// A first-use origin gets the first-use choices in the key's dialog; the
// signature that follows, presenting the grant, needs no second question
// whatever the person chose for the origin ("Allow once" included, and the
// opaque origin "null", for which nothing is remembered).
func TestChooseKeyFirstUse(t *testing.T) {
	ctx := context.Background()
	store, keys := tokenKeys(t)
	cases := []struct {
		name     string
		origin   string
		remember bool
		choice   OriginChoice // remembered afterwards
	}{
		{"allow once", portal, false, ""},
		{"always", portal, true, Always},
		{"null origin, always", "null", true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, "")
			p := &script{confirm: pick(keys[2].URI, c.remember)}
			e := f.engine(t, p, f.withStore(store))
			var out Outcome
			if err := e.Ask(WithOutcome(ctx, &out), choice(c.origin, keys[0].URI, keys[2].URI)); err != nil {
				t.Fatal(err)
			}
			qs := p.asked()
			if len(qs) != 1 || !qs[0].FirstUse || len(qs[0].Request.Choices) != 2 {
				t.Fatalf("questions %+v; want one first-use question with the two keys", qs)
			}
			if out.KeyURI != keys[2].URI || out.GrantID == "" {
				t.Fatalf("outcome %+v", out)
			}
			s := sign(c.origin)
			s.KeyURI, s.GrantID = out.KeyURI, out.GrantID
			if err := e.Ask(ctx, s); err != nil {
				t.Fatalf("sign with the grant: %v", err)
			}
			if n := len(p.asked()); n != 1 {
				t.Fatalf("%d questions; want the choice's only", n)
			}
			od, ok := e.Decisions().Get(c.origin)
			if c.choice == "" && ok || c.choice != "" && od.Choice != c.choice {
				t.Errorf("remembered %+v %v; want %q", od, ok, c.choice)
			}
		})
	}
	t.Run("never", func(t *testing.T) {
		f := newFixture(t, "")
		p := &script{confirm: answer(Answer{Remember: true})}
		e := f.engine(t, p, f.withStore(store))
		if err := e.Ask(ctx, choice(portal, keys[0].URI)); err != ErrRefused {
			t.Fatalf("err %v; want ErrRefused", err)
		}
		if od, ok := e.Decisions().Get(portal); !ok || od.Choice != Never {
			t.Fatalf("remembered %+v %v; want never", od, ok)
		}
		n := f.keyInfo.Load()
		if err := e.Ask(ctx, choice(portal, keys[0].URI)); err != ErrRefused || len(p.asked()) != 1 || f.keyInfo.Load() != n {
			t.Fatalf("after never: %v, %d questions, key lookups %d → %d", err, len(p.asked()), n, f.keyInfo.Load())
		}
	})
}

// Without anyone to ask, an unattended rule that allows the signature
// picks the only candidate (no grant: the rule decides the signature,
// which takes the rule's counted use); several candidates are refused;
// candidates a rule denies are not offered.
func TestChooseKeyUnattended(t *testing.T) {
	ctx := context.Background()
	store, keys := tokenKeys(t)
	ecdsa, rsa := keys[0], keys[2]
	f := newFixture(t, `  unattended:
    rules:
      - {origin: "https://ci.example", plugin: eimzo, key: "`+rsa.URI+`", operation: sign, action: deny}
      - {origin: "https://ci.example", plugin: eimzo, operation: sign, action: allow, uses: 1}
`)
	e := f.engine(t, nil, f.withStore(store))
	const ci = "https://ci.example"

	var out Outcome
	if err := e.Ask(WithOutcome(ctx, &out), choice(ci, ecdsa.URI)); err != nil {
		t.Fatalf("one candidate, allowed by a rule: %v", err)
	}
	if out.KeyURI != ecdsa.URI || out.GrantID != "" {
		t.Fatalf("outcome %+v; want the candidate and no grant", out)
	}
	// The denied key is dropped: one candidate left, picked.
	out = Outcome{}
	if err := e.Ask(WithOutcome(ctx, &out), choice(ci, rsa.URI, ecdsa.URI)); err != nil || out.KeyURI != ecdsa.URI {
		t.Fatalf("denied key and allowed key: %v, %+v; want the allowed key", err, out)
	}
	if err := e.Ask(ctx, choice(ci, rsa.URI)); err != ErrRefused {
		t.Fatalf("only a denied candidate: %v; want ErrRefused", err)
	}
	if err := e.Ask(ctx, choice(ci, ecdsa.URI, keys[1].URI)); err != ErrRefused {
		t.Fatalf("two allowed candidates, no one to ask: %v; want ErrRefused", err)
	}
	// The choices took no use of the rule: the signature takes it.
	s := sign(ci)
	s.KeyURI = ecdsa.URI
	if err := e.Ask(ctx, s); err != nil {
		t.Fatalf("sign after the choice: %v", err)
	}
	if err := e.Ask(ctx, s); err != ErrRefused {
		t.Fatalf("second sign with a rule of one use: %v", err)
	}
	// Used up: the rule no longer picks either.
	if err := e.Ask(ctx, choice(ci, ecdsa.URI)); err != ErrRefused {
		t.Fatalf("choice after the rule is used up: %v", err)
	}
	// An origin no rule names is refused without a key lookup.
	n := f.keyInfo.Load()
	if err := e.Ask(ctx, choice(portal, ecdsa.URI)); err != ErrRefused || f.keyInfo.Load() != n {
		t.Fatalf("unknown origin, headless: %v, lookups %d → %d", err, n, f.keyInfo.Load())
	}
}

// A local caller picks a key too, without a grant (grants are for web
// origins): its signature is decided on its own.
func TestChooseKeyLocalCaller(t *testing.T) {
	ctx := context.Background()
	store, keys := tokenKeys(t)
	f := newFixture(t, "")
	p := &script{confirm: pick(keys[0].URI, false)}
	e := f.engine(t, p, f.withStore(store))
	r := choice("", keys[0].URI, keys[2].URI)
	r.Caller = "signet sign"
	var out Outcome
	if err := e.Ask(WithOutcome(ctx, &out), r); err != nil {
		t.Fatal(err)
	}
	if out.KeyURI != keys[0].URI || out.GrantID != "" || len(e.Grants().List()) != 0 {
		t.Fatalf("outcome %+v, grants %v", out, e.Grants().List())
	}
	if qs := p.asked(); len(qs) != 1 || qs[0].FirstUse {
		t.Fatalf("questions %+v", qs)
	}
}

// AllowAll (plugintest's default) picks the first candidate; DenyAll
// refuses.
func TestChooseKeyAllowAllDenyAll(t *testing.T) {
	var out Outcome
	r := choice(portal, "pkcs11:object=a", "pkcs11:object=b")
	if err := AllowAll.Ask(WithOutcome(context.Background(), &out), r); err != nil || out.KeyURI != "pkcs11:object=a" || out.GrantID != "" {
		t.Fatalf("AllowAll: %v, %+v", err, out)
	}
	out = Outcome{}
	if err := DenyAll.Ask(WithOutcome(context.Background(), &out), r); !errors.Is(err, hsm.ErrDenied) || out.KeyURI != "" {
		t.Fatalf("DenyAll: %v, %+v", err, out)
	}
}

// When the journal cannot record the choice, it is refused and its grant
// does not survive.
func TestChooseKeyJournalFailure(t *testing.T) {
	store, keys := tokenKeys(t)
	f := newFixture(t, allowPortal)
	p := &script{confirm: pick(keys[0].URI, false)}
	e := f.engine(t, p, f.withStore(store))
	f.journal.Close()
	var out Outcome
	if err := e.Ask(WithOutcome(context.Background(), &out), choice(portal, keys[0].URI)); !errors.Is(err, hsm.ErrDenied) {
		t.Fatalf("err %v; want ErrDenied", err)
	}
	if out != (Outcome{}) || len(e.Grants().List()) != 0 {
		t.Fatalf("outcome %+v, grants %v; want none", out, e.Grants().List())
	}
}

// The terminal lists the candidate keys, numbered, with their
// certificates, and reads the number of the key to use.
func TestTerminalChooseKey(t *testing.T) {
	_, keys := tokenKeys(t)
	two := []hsm.KeyInfo{keys[0], keys[2]}
	cases := []struct {
		name     string
		firstUse bool
		lines    []string
		want     Answer
		err      error
	}{
		{"second key", false, []string{"2"}, Answer{Allow: true, KeyURI: two[1].URI}, nil},
		{"no key preselected: empty line, out of range, then 1", false, []string{"", "3", "0", "1"}, Answer{}, nil},
		{"retry then 1", false, []string{"x", " 1 "}, Answer{Allow: true, KeyURI: two[0].URI}, nil},
		{"no", false, []string{"n"}, Answer{}, nil},
		{"first use: always, then key 2", true, []string{"a", "2"}, Answer{Allow: true, Remember: true, KeyURI: two[1].URI}, nil},
		{"first use: once, then key 1", true, []string{"o", "1"}, Answer{Allow: true, KeyURI: two[0].URI}, nil},
		{"first use: never", true, []string{"n"}, Answer{Remember: true}, nil},
		{"first use: always, then no key", true, []string{"always", "no"}, Answer{}, nil},
		{"end of input", false, nil, Answer{}, hsm.ErrCancelled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			con := &console{lines: c.lines}
			term := NewTerminalWithConsole(func() (prompt.Console, error) { return con, nil })
			r := sign(portal)
			r.KeyURI, r.Choices = "", two
			a, err := term.Confirm(context.Background(), Question{Request: r, FirstUse: c.firstUse})
			if a != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
				t.Fatalf("got %+v %v, want %+v %v", a, err, c.want, c.err)
			}
			out := con.output()
			for _, want := range []string{
				"[1] " + two[0].Label, "[2] " + two[1].Label,
				"subject:  " + two[0].Certificate.Subject.String(),
				"issuer:   " + two[1].Certificate.Issuer.String(),
				"uri:      " + two[1].URI,
				"key to sign with [1-2], or [n]o? ",
				"this allows one signature with it",
			} {
				if strings.HasPrefix(want, "key to sign") && c.firstUse && !c.want.Allow && c.want.Remember {
					continue // refused for good before any key was asked for
				}
				if c.err == nil && !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// A key choice the unattended rules settle without a question reads the
// token only until the key store knows the key from a signature
// (EngineConfig.CachedKey); after that the choice is made from what it
// remembers, with the key's certificate in the journal. A choice that
// asks the person always looks the candidates up afresh.
func TestChooseKeyUnattendedCached(t *testing.T) {
	ctx := context.Background()
	store, keys := tokenKeys(t)
	ecdsa, ed := keys[0], keys[1]
	f := newFixture(t, `  unattended:
    rules:
      - {origin: "https://ci.example", plugin: eimzo, operation: sign, action: allow}
`)
	p := &script{confirm: func(_ context.Context, _ int, q Question) (Answer, error) {
		return Answer{Allow: true, KeyURI: q.Request.Choices[0].URI}, nil
	}}
	e := f.engine(t, p, f.withStore(store), func(c *EngineConfig) { c.CachedKey = store.CachedKey })
	const ci = "https://ci.example"
	// A URI spelling no earlier test used, so that the cache starts empty
	// for it (the cache is keyed by the URI as given).
	attrs := strings.Split(strings.TrimPrefix(ecdsa.URI, "pkcs11:"), ";")
	slices.Reverse(attrs)
	uri := "pkcs11:" + strings.Join(attrs, ";")
	if _, ok := store.CachedKey(uri); ok {
		t.Fatal("cached before any use")
	}

	choose := func(uris ...string) Outcome {
		t.Helper()
		var out Outcome
		if err := e.Ask(WithOutcome(ctx, &out), choice(ci, uris...)); err != nil {
			t.Fatalf("choice: %v", err)
		}
		return out
	}
	n := f.keyInfo.Load()
	if out := choose(uri); out.KeyURI != uri || f.keyInfo.Load() != n+1 {
		t.Fatalf("first choice: %+v, lookups %d → %d; want the key, one lookup", out, n, f.keyInfo.Load())
	}
	digest := make([]byte, 32)
	if _, err := store.Sign(ctx, uri, digest, crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	n = f.keyInfo.Load()
	if out := choose(uri); out.KeyURI != uri || f.keyInfo.Load() != n {
		t.Fatalf("choice of a key the store used: %+v, lookups %d → %d; want none", out, n, f.keyInfo.Load())
	}
	recs := f.records(t)
	last := recs[len(recs)-1]
	if last.KeyURI != uri || last.CertSerial == "" || last.CertSerial != ecdsa.Certificate.SerialNumber.Text(16) {
		t.Fatalf("journal of the cached choice: %+v; want the key and its certificate serial", last)
	}
	// Two candidates: the person picks, and sees them fresh from the token.
	n = f.keyInfo.Load()
	if out := choose(uri, ed.URI); out.KeyURI != uri || f.keyInfo.Load() != n+2 || len(p.asked()) != 1 {
		t.Fatalf("asked choice: %+v, lookups %d → %d, %d questions; want two lookups, one question", out, n, f.keyInfo.Load(), len(p.asked()))
	}
}
