package consent

import (
	"context"
	"crypto"
	"crypto/sha256"
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
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NoError(t, tokenErr)
	all, err := tokenStore.Keys(context.Background())
	require.NoError(t, err)
	var keys []hsm.KeyInfo
	for _, k := range all {
		if k.HasPrivateKey && strings.Contains(k.TokenURI, "token="+tokenLabel) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Label < keys[j].Label })
	require.Len(t, keys, 3, "private keys on the token")
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
	require.NoError(t, e.Ask(WithOutcome(ctx, &out), choice(portal, keys[0].URI, unknown, keys[1].URI, keys[0].URI)))
	require.Equal(t, keys[1].URI, out.KeyURI, "picked key")
	require.NotEmpty(t, out.GrantID, "grant")
	qs := p.asked()
	require.Len(t, qs, 1, "one plain question")
	require.False(t, qs[0].FirstUse, "one plain question")
	require.Nil(t, qs[0].Grant, "one plain question")
	got := qs[0].Request.Choices
	require.Equal(t, []string{keys[0].URI, keys[1].URI}, uris(got), "the two known keys, once each, in order")
	for i, k := range got {
		if assert.NotNil(t, k.Certificate, "choice %d shows no certificate", i) {
			assert.True(t, k.Certificate.Equal(keys[i].Certificate), "choice %d shows the wrong certificate", i)
		}
	}
	assert.Empty(t, qs[0].Request.KeyURI, "question request")
	assert.Equal(t, "contract", qs[0].Request.Summary, "question request")
	assert.Len(t, qs[0].Request.Documents, 1, "question request")
	g, ok := e.Grants().Get(out.GrantID)
	require.True(t, ok, "grant of the choice")
	require.True(t, g.ByID, "ID-only grant")
	require.Equal(t, 1, g.Uses)
	require.Equal(t, keys[1].URI, g.KeyURI)
	require.Equal(t, "sign", g.Operation)
	require.Equal(t, portal, g.Origin)

	// Another key with the grant: refused, the grant stays.
	other := sign(portal)
	other.KeyURI, other.GrantID = keys[0].URI, out.GrantID
	require.ErrorIs(t, e.Ask(ctx, other), hsm.ErrDenied, "grant presented for another key")
	// The same key without presenting the grant: the person is asked.
	plain := sign(portal)
	plain.KeyURI = keys[1].URI
	require.ErrorIs(t, e.Ask(ctx, plain), hsm.ErrDenied, "sign without the grant")
	require.Len(t, p.asked(), 2, "sign without the grant asks")
	// The signature the person chose the key for: no question, real signature.
	s := sign(portal)
	s.KeyURI, s.GrantID = keys[1].URI, out.GrantID
	require.NoError(t, e.Ask(ctx, s), "sign with the choice's grant")
	digest := sha256.Sum256([]byte("doc"))
	_, err := store.Sign(WithRequest(ctx, s), s.KeyURI, digest[:], crypto.SHA256)
	require.NoError(t, err)
	require.NoError(t, e.Record(ctx, s, nil))
	require.ErrorIs(t, e.Ask(ctx, s), hsm.ErrDenied, "second sign with the one-use grant")
	require.Len(t, p.asked(), 2, "questions")

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
	assert.True(t, chose, "journal: choice recorded: %+v", f.records(t))
	assert.True(t, byGrant, "journal: signature by its grant: %+v", f.records(t))
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
			req: func() Request { r := choice(portal, keys[0].URI); r.GrantUses = MaxChoiceUses + 1; return r }, want: hsm.ErrInvalidRequest},
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
				require.NoError(t, e.Decisions().Set(OriginDecision{Origin: portal, Choice: Never, Decided: time.Now()}))
			}
			req := choice(portal, keys[0].URI, keys[1].URI)
			if c.req != nil {
				req = c.req()
			}
			var out Outcome
			err := e.Ask(WithOutcome(ctx, &out), req)
			require.ErrorIs(t, err, c.want)
			assert.Equal(t, Outcome{}, out, "a refusal reported an outcome")
			assert.Len(t, p.asked(), c.asked, "questions")
			assert.Equal(t, c.lookups, f.keyInfo.Load() > 0, "keys looked up")
			assert.Empty(t, e.Grants().List(), "a refusal left a grant")
			recs := f.records(t)
			if assert.NotEmpty(t, recs, "refusal not journaled") {
				assert.NotEqual(t, journal.DecisionAllowed, recs[len(recs)-1].Decision, "refusal not journaled")
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
			require.NoError(t, e.Ask(WithOutcome(ctx, &out), choice(c.origin, keys[0].URI, keys[2].URI)))
			qs := p.asked()
			require.Len(t, qs, 1, "one first-use question with the two keys")
			require.True(t, qs[0].FirstUse, "one first-use question with the two keys")
			require.Len(t, qs[0].Request.Choices, 2, "one first-use question with the two keys")
			require.Equal(t, keys[2].URI, out.KeyURI, "outcome")
			require.NotEmpty(t, out.GrantID, "outcome")
			s := sign(c.origin)
			s.KeyURI, s.GrantID = out.KeyURI, out.GrantID
			require.NoError(t, e.Ask(ctx, s), "sign with the grant")
			require.Len(t, p.asked(), 1, "questions: the choice's only")
			od, ok := e.Decisions().Get(c.origin)
			if c.choice == "" {
				assert.False(t, ok, "remembered %+v", od)
			} else {
				assert.Equal(t, c.choice, od.Choice, "remembered")
			}
		})
	}
	t.Run("never", func(t *testing.T) {
		f := newFixture(t, "")
		p := &script{confirm: answer(Answer{Remember: true})}
		e := f.engine(t, p, f.withStore(store))
		require.ErrorIs(t, e.Ask(ctx, choice(portal, keys[0].URI)), ErrRefused)
		od, ok := e.Decisions().Get(portal)
		require.True(t, ok, "remembered")
		require.Equal(t, Never, od.Choice, "remembered")
		n := f.keyInfo.Load()
		require.ErrorIs(t, e.Ask(ctx, choice(portal, keys[0].URI)), ErrRefused, "after never")
		require.Len(t, p.asked(), 1, "after never: questions")
		require.Equal(t, n, f.keyInfo.Load(), "after never: key lookups")
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
	require.NoError(t, e.Ask(WithOutcome(ctx, &out), choice(ci, ecdsa.URI)), "one candidate, allowed by a rule")
	require.Equal(t, ecdsa.URI, out.KeyURI, "the candidate")
	require.Empty(t, out.GrantID, "no grant")
	// The denied key is dropped: one candidate left, picked.
	out = Outcome{}
	require.NoError(t, e.Ask(WithOutcome(ctx, &out), choice(ci, rsa.URI, ecdsa.URI)), "denied key and allowed key")
	require.Equal(t, ecdsa.URI, out.KeyURI, "denied key and allowed key: the allowed key")
	require.ErrorIs(t, e.Ask(ctx, choice(ci, rsa.URI)), ErrRefused, "only a denied candidate")
	require.ErrorIs(t, e.Ask(ctx, choice(ci, ecdsa.URI, keys[1].URI)), ErrRefused, "two allowed candidates, no one to ask")
	// The choices took no use of the rule: the signature takes it.
	s := sign(ci)
	s.KeyURI = ecdsa.URI
	require.NoError(t, e.Ask(ctx, s), "sign after the choice")
	require.ErrorIs(t, e.Ask(ctx, s), ErrRefused, "second sign with a rule of one use")
	// Used up: the rule no longer picks either.
	require.ErrorIs(t, e.Ask(ctx, choice(ci, ecdsa.URI)), ErrRefused, "choice after the rule is used up")
	// An origin no rule names is refused without a key lookup.
	n := f.keyInfo.Load()
	require.ErrorIs(t, e.Ask(ctx, choice(portal, ecdsa.URI)), ErrRefused, "unknown origin, headless")
	require.Equal(t, n, f.keyInfo.Load(), "unknown origin, headless: key lookups")
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
	require.NoError(t, e.Ask(WithOutcome(ctx, &out), r))
	require.Equal(t, keys[0].URI, out.KeyURI)
	require.Empty(t, out.GrantID, "a local caller gets no grant")
	require.Empty(t, e.Grants().List(), "a local caller gets no grant")
	qs := p.asked()
	require.Len(t, qs, 1)
	require.False(t, qs[0].FirstUse)
}

// AllowAll (plugintest's default) picks the first candidate; DenyAll
// refuses.
func TestChooseKeyAllowAllDenyAll(t *testing.T) {
	var out Outcome
	r := choice(portal, "pkcs11:object=a", "pkcs11:object=b")
	require.NoError(t, AllowAll.Ask(WithOutcome(context.Background(), &out), r), "AllowAll")
	require.Equal(t, Outcome{KeyURI: "pkcs11:object=a"}, out, "AllowAll")
	out = Outcome{}
	require.ErrorIs(t, DenyAll.Ask(WithOutcome(context.Background(), &out), r), hsm.ErrDenied, "DenyAll")
	require.Empty(t, out.KeyURI, "DenyAll")
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
	require.ErrorIs(t, e.Ask(WithOutcome(context.Background(), &out), choice(portal, keys[0].URI)), hsm.ErrDenied)
	require.Equal(t, Outcome{}, out)
	require.Empty(t, e.Grants().List())
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
			if c.err == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, c.err)
			}
			require.Equal(t, c.want, a)
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
				if c.err == nil {
					assert.Contains(t, out, want)
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
	_, cached := store.CachedKey(uri)
	require.False(t, cached, "cached before any use")

	choose := func(uris ...string) Outcome {
		t.Helper()
		var out Outcome
		require.NoError(t, e.Ask(WithOutcome(ctx, &out), choice(ci, uris...)), "choice")
		return out
	}
	n := f.keyInfo.Load()
	require.Equal(t, uri, choose(uri).KeyURI, "first choice")
	require.Equal(t, n+1, f.keyInfo.Load(), "first choice: one lookup")
	digest := make([]byte, 32)
	_, err := store.Sign(ctx, uri, digest, crypto.SHA256)
	require.NoError(t, err)
	n = f.keyInfo.Load()
	require.Equal(t, uri, choose(uri).KeyURI, "choice of a key the store used")
	require.Equal(t, n, f.keyInfo.Load(), "choice of a key the store used: no lookup")
	recs := f.records(t)
	last := recs[len(recs)-1]
	require.Equal(t, uri, last.KeyURI, "journal of the cached choice")
	require.NotEmpty(t, last.CertSerial, "journal of the cached choice")
	require.Equal(t, ecdsa.Certificate.SerialNumber.Text(16), last.CertSerial, "journal of the cached choice")
	// Two candidates: the person picks, and sees them fresh from the token.
	n = f.keyInfo.Load()
	require.Equal(t, uri, choose(uri, ed.URI).KeyURI, "asked choice")
	require.Equal(t, n+2, f.keyInfo.Load(), "asked choice: two lookups")
	require.Len(t, p.asked(), 1, "asked choice: one question")
}
