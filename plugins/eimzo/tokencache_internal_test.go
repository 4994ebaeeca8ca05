package eimzo

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-agent/signet/sdk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The pseudo-ids' remembered token key (per origin, and its URI shared) is
// forgotten when the host no longer finds it — the token pulled between
// two calls, or a signature failing because the key is gone — and
// forgotten after TokenCacheTTL. A
// real SoftHSM token cannot be pulled under a running test, so a key store
// that can lose its key stands in (the faults are sdk.ErrTokenRemoved and
// sdk.ErrKeyNotFound, as the host reports them).

// tokenStore is a key store with one token key (or none) that records the
// calls the plugin makes.
type tokenStore struct {
	listingKeys
	priv crypto.Signer

	mu      sync.Mutex
	key     *sdk.Key // nil: the token is gone
	signErr error    // the next Sign fails with it
	calls   []string
}

func (s *tokenStore) log(c string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

func (s *tokenStore) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

func (s *tokenStore) Keys(context.Context, sdk.Operation) ([]sdk.Key, error) {
	s.log("keys")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == nil {
		return nil, nil
	}
	return []sdk.Key{*s.key}, nil
}

func (s *tokenStore) Key(_ context.Context, uri string, _ sdk.Operation) (sdk.Key, error) {
	s.log("key " + uri)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == nil {
		return sdk.Key{}, fmt.Errorf("%s: %w", uri, sdk.ErrTokenRemoved)
	}
	if s.key.URI != uri {
		return sdk.Key{}, fmt.Errorf("%s: %w", uri, sdk.ErrKeyNotFound)
	}
	return *s.key, nil
}

func (s *tokenStore) Signer(_ context.Context, k sdk.Key, _ sdk.Operation) crypto.Signer {
	return storeSigner{s, k}
}

type storeSigner struct {
	s *tokenStore
	k sdk.Key
}

func (g storeSigner) Public() crypto.PublicKey { return g.k.PublicKey }

func (g storeSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	g.s.log("sign " + g.k.URI)
	g.s.mu.Lock()
	err := g.s.signErr
	g.s.signErr = nil
	if err == nil && g.s.key == nil {
		err = fmt.Errorf("%s: %w", g.k.URI, sdk.ErrTokenRemoved)
	}
	g.s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return g.s.priv.Sign(r, digest, opts)
}

// newTokenStore makes a store with one P-256 token key and its certificate.
func newTokenStore(t *testing.T, uri string) *tokenStore {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x5ca1ab1e), Subject: pkix.Name{CommonName: "Token Holder"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	k := sdk.Key{URI: uri, HasPrivateKey: true, CanSign: true, Certificate: cert, PublicKey: priv.Public()}
	return &tokenStore{priv: priv, key: &k}
}

// request runs one E-IMZO request through the dispatcher and returns the
// reply's status (0 for success).
func request(t *testing.T, s *Server, origin string, plugin, name string, args ...string) int {
	t.Helper()
	o, d := parseOrigin(origin)
	frame, _ := json.Marshal(map[string]any{"plugin": plugin, "name": name, "arguments": args})
	reply := s.dispatch(context.Background(), &session{server: s, origin: o, domain: d}, frame)
	r, ok := reply.(Reply)
	require.True(t, ok, "reply %T", reply)
	if ok, _ := r["success"].(bool); ok {
		return 0
	}
	st, _ := r["status"].(int)
	return st
}

func TestTokenCacheForgotten(t *testing.T) {
	const uri = "pkcs11:token=t;serial=1;id=%01;object=k;type=private"
	const portal, other = "https://portal.example", "https://other.example"
	store := newTokenStore(t, uri)
	now := time.Unix(1_800_000_000, 0)
	var clock sync.Mutex
	s := NewServer(Config{Keys: store, Consent: oldHost{}, TokenKey: "pkcs11:token=t;",
		Now: func() time.Time { clock.Lock(); defer clock.Unlock(); return now }})
	data := base64.StdEncoding.EncodeToString([]byte("hujjat"))
	signAs := func(origin, what string, wantStatus int, wantCalls ...string) {
		t.Helper()
		st := request(t, s, origin, "pkcs7", "create_pkcs7", data, "ckc", "no")
		require.Equal(t, wantStatus, st, "%s: status", what)
		require.Equal(t, strings.Join(wantCalls, "|"), strings.Join(store.take(), "|"), "%s: key store calls", what)
	}
	sign := func(what string, wantStatus int, wantCalls ...string) {
		t.Helper()
		signAs(portal, what, wantStatus, wantCalls...)
	}
	advance := func(d time.Duration) {
		clock.Lock()
		now = now.Add(d)
		clock.Unlock()
	}
	// One host call per signature once the origin has its key: the Sign.
	sign("cold", 0, "keys", "sign "+uri)
	sign("warm", 0, "sign "+uri)
	// Another origin gets nothing from the first one's key but its URI:
	// it looks that key up for itself, once — even an origin of the same
	// domain.
	signAs(other, "other domain, cold", 0, "key "+uri, "sign "+uri)
	signAs(other, "other domain, warm", 0, "sign "+uri)
	signAs("http://portal.example", "same domain, other origin", 0, "key "+uri, "sign "+uri)

	// The TTL runs from the listing, not from the last use, and the other
	// domain's key (looked up under the listing's URI) expires with it.
	advance(TokenCacheTTL / 2)
	sign("warm, half the TTL later", 0, "sign "+uri)
	advance(TokenCacheTTL / 2)
	signAs(other, "other domain, expired", 0, "keys", "sign "+uri)
	sign("expired", 0, "key "+uri, "sign "+uri)

	// list_ckc always lists (a page polls it for a token just inserted).
	require.Zero(t, request(t, s, portal, "ckc", "list_ckc"), "list_ckc: status")
	require.Equal(t, "keys", strings.Join(store.take(), "|"), "list_ckc: key store calls, want a listing")

	// The token is pulled: the signature with the remembered key fails
	// (-5003, insert the token) and every origin forgets it; the next call
	// lists, as without a cache.
	store.mu.Lock()
	k := store.key
	store.key = nil
	store.mu.Unlock()
	sign("token pulled", StatusInsertDisk, "sign "+uri)
	sign("still pulled", StatusInsertDisk, "keys")
	signAs(other, "still pulled, other domain", StatusInsertDisk, "keys")
	store.mu.Lock()
	store.key = k
	store.mu.Unlock()
	sign("token back", 0, "keys", "sign "+uri)

	// A lookup that finds no key any more falls back to the listing in the
	// same call.
	store.mu.Lock()
	store.key = nil
	store.mu.Unlock()
	signAs(other, "pulled, other domain looks up", StatusInsertDisk, "key "+uri, "keys")
	store.mu.Lock()
	store.key = k
	store.mu.Unlock()

	// A signature that fails because the key is gone drops the cache too.
	sign("warm again", 0, "keys", "sign "+uri)
	store.mu.Lock()
	store.signErr = fmt.Errorf("sign: %w", sdk.ErrKeyNotFound)
	store.mu.Unlock()
	sign("sign fails", StatusKeyIDNotFound, "sign "+uri)
	sign("after the failed sign", 0, "keys", "sign "+uri)

	// Another failure (the person or the policy refused) makes the domain
	// ask the host for its key again (one lookup: the URI is kept); the
	// other domain keeps its key.
	signAs(other, "other domain, warm again", 0, "key "+uri, "sign "+uri)
	store.mu.Lock()
	store.signErr = fmt.Errorf("sign: %w", sdk.ErrDenied)
	store.mu.Unlock()
	sign("refused", StatusUserCancelled, "sign "+uri)
	sign("after the refusal", 0, "key "+uri, "sign "+uri)
	signAs(other, "other domain after the refusal", 0, "sign "+uri)

	// A key that no longer qualifies (no certificate now) is still used
	// with the remembered certificate until the TTL passes, then listed
	// again and refused.
	store.mu.Lock()
	bare := *k
	bare.Certificate = nil
	store.key = &bare
	store.mu.Unlock()
	sign("certificate gone, remembered", 0, "sign "+uri)
	advance(TokenCacheTTL)
	sign("certificate gone", StatusInsertDisk, "keys")
}

// TestOriginKeysBounded: the per-origin keys stay within MaxHandles
// origins, the entry expiring soonest giving way.
func TestOriginKeysBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	hs := newHandles(func() time.Time { return now })
	for i := range MaxHandles + 10 {
		hs.setOriginKey(fmt.Sprintf("https://d%d.example", i), sdk.Key{URI: "pkcs11:k"}, now.Add(time.Duration(i+1)*time.Second))
	}
	assert.Len(t, hs.originKeys, MaxHandles)
	_, ok := hs.originKey("https://d0.example")
	assert.False(t, ok, "the entry expiring soonest was kept")
	_, ok = hs.originKey(fmt.Sprintf("https://d%d.example", MaxHandles+9))
	assert.True(t, ok, "the newest entry is missing")
	hs.dropToken("pkcs11:k")
	assert.Empty(t, hs.originKeys, "dropToken keeps origins' keys of the URI")
}

func TestTokenKeyExactSpelling(t *testing.T) {
	for _, tc := range []struct {
		tokenKey string
		exact    bool
	}{
		{"pkcs11:token=t;serial=1;id=%01;object=k;type=private", true},
		{"pkcs11:token=t;type=private;id=%01", true},
		{"pkcs11:token=t;serial=1;id=%01;object=k;type=private?pin-source=file:/p", true},
		{"pkcs11:token=t;serial=1;id=%01;object=k", false},
		{"pkcs11:token=t;", false},
		{"pkcs11:token=type=private", false},
		{"pkcs11:token=t;type=cert", false},
		{"", false},
	} {
		s := NewServer(Config{TokenKey: tc.tokenKey})
		_, exact := s.tokenKeyExact()
		assert.Equal(t, tc.exact, exact, "token_key %q: exact", tc.tokenKey)

	}
}
