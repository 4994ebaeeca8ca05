package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/softhsmtest"
)

// countAPI counts the module calls the backend makes, by function.
type countAPI struct {
	ckAPI
	mu sync.Mutex
	n  map[string]int
}

func (c *countAPI) add(name string) {
	c.mu.Lock()
	c.n[name]++
	c.mu.Unlock()
}

// take returns the counts since the last take and resets them.
func (c *countAPI) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

func (c *countAPI) GetSlotList(p bool) ([]uint, error) {
	c.add("C_GetSlotList")
	return c.ckAPI.GetSlotList(p)
}

func (c *countAPI) GetTokenInfo(slot uint) (p11.TokenInfo, error) {
	c.add("C_GetTokenInfo")
	return c.ckAPI.GetTokenInfo(slot)
}

func (c *countAPI) GetSessionInfo(h p11.SessionHandle) (p11.SessionInfo, error) {
	c.add("C_GetSessionInfo")
	return c.ckAPI.GetSessionInfo(h)
}

func (c *countAPI) FindObjectsInit(h p11.SessionHandle, t []*p11.Attribute) error {
	c.add("C_FindObjectsInit")
	return c.ckAPI.FindObjectsInit(h, t)
}

func (c *countAPI) GetAttributeValue(h p11.SessionHandle, o p11.ObjectHandle, a []*p11.Attribute) ([]*p11.Attribute, error) {
	c.add("C_GetAttributeValue")
	return c.ckAPI.GetAttributeValue(h, o, a)
}

func (c *countAPI) SignInit(h p11.SessionHandle, m []*p11.Mechanism, o p11.ObjectHandle) error {
	c.add("C_SignInit")
	return c.ckAPI.SignInit(h, m, o)
}

func (c *countAPI) Sign(h p11.SessionHandle, msg []byte) ([]byte, error) {
	c.add("C_Sign")
	return c.ckAPI.Sign(h, msg)
}

func (c *countAPI) OpenSession(slot uint, flags uint) (p11.SessionHandle, error) {
	c.add("C_OpenSession")
	return c.ckAPI.OpenSession(slot, flags)
}

// openCounting opens a Backend whose module calls are counted.
func openCounting(t testing.TB, cfg Config) (*Backend, *countAPI) {
	t.Helper()
	setup(t)
	if cfg.Module == "" {
		cfg.Module = softhsmtest.Shared().Module
	}
	c := &countAPI{n: map[string]int{}}
	b, err := open(cfg, func(api ckAPI) ckAPI { c.ckAPI = api; return c })
	require.NoError(t, err, "Open")
	t.Cleanup(func() { b.Close() })
	return b, c
}

// listingCalls is the module calls that read a token's objects.
func listingCalls(n map[string]int) int {
	return n["C_FindObjectsInit"] + n["C_GetAttributeValue"]
}

func labelsOf(keys []hsm.KeyInfo, token string) []string {
	var out []string
	for _, k := range keys {
		if u, _ := hsm.ParseURI(k.TokenURI); u.Token == token {
			out = append(out, k.Label)
		}
	}
	sort.Strings(out)
	return out
}

func listLabels(t *testing.T, b *Backend, token string) []string {
	t.Helper()
	keys, err := b.Keys(context.Background())
	require.NoError(t, err)
	return labelsOf(keys, token)
}

// A second listing within ListingTTL reads nothing from the tokens, and
// gives the same keys; Key finds a key without reading a token; callers
// cannot change the cache through what they got.
func TestListingCached(t *testing.T) {
	p := goodPrompt()
	b, c := openCounting(t, Config{PINPrompt: p.fn, ListingTTL: time.Hour})
	ctx := context.Background()
	first, err := b.Keys(ctx)
	require.NoError(t, err)
	n := c.take()
	require.NotEqual(t, 0, listingCalls(n), "first listing read no objects: %v", n)
	second, err := b.Keys(ctx)
	require.NoError(t, err)
	n = c.take()
	assert.Empty(t, n, "second listing made module calls %v, want none", n)
	require.Len(t, first, len(second), "listings differ: %d and %d keys", len(first), len(second))
	require.NotEmpty(t, first, "listings differ: %d and %d keys", len(first), len(second))
	for i := range first {
		if assert.Equal(t, second[i].URI, first[i].URI, "key %d: %s then %s", i, first[i].URI, second[i].URI) {
			assert.Same(t, second[i].Certificate, first[i].Certificate, "key %d: %s then %s", i, first[i].URI, second[i].URI)
		}
	}
	// what a caller does to its copy does not reach the cache
	first[0].ID[0] ^= 0xff
	first[0].Chain = append(first[0].Chain[:0], nil)
	third, _ := b.Keys(ctx)
	assert.NotEqual(t, first[0].ID[0], third[0].ID[0], "a caller's change to a listed key reached the cache")
	if len(third[0].Chain) > 0 {
		assert.NotNil(t, third[0].Chain[0], "a caller's change to a listed key reached the cache")
	}

	// Key: only the key's token, from the cache
	want := keysOf(t, b, "alpha")[softhsmtest.KeyECDSA]
	c.take()
	st := hsm.NewStore(b)
	u, _ := hsm.ParseURI(want.URI)
	reordered := fmt.Sprintf("pkcs11:type=private;object=%s;id=%%02;serial=%s;model=SoftHSM%%20v2;manufacturer=SoftHSM%%20project;token=alpha", u.Object, u.Serial)
	for _, uri := range []string{want.URI, reordered} {
		got, err := st.Key(ctx, uri)
		if assert.NoError(t, err, "Store.Key(%s) = %s", uri, got.URI) {
			if assert.Equal(t, want.URI, got.URI, "Store.Key(%s) = %s", uri, got.URI) {
				assert.NotNil(t, got.Certificate, "Store.Key(%s) = %s", uri, got.URI)
			}
		}
	}
	n = c.take()
	assert.Empty(t, n, "Key from a cached listing made module calls %v", n)
	_, err = st.Key(ctx, "pkcs11:token=alpha;object=nosuchkey;type=private")
	assert.ErrorIs(t, err, hsm.ErrKeyNotFound, "Key of a missing key: %v, want ErrKeyNotFound", err)

	// ListingTTL < 0: every listing reads the tokens (as before the cache)
	nb, nc := openCounting(t, Config{PINPrompt: p.fn, ListingTTL: -1})
	nc.take()
	for i := 0; i < 2; i++ {
		_, err := nb.Keys(ctx)
		require.NoError(t, err)
		n := nc.take()
		if assert.NotEqual(t, 0, listingCalls(n), "uncached listing %d: %v, want objects read and one C_GetSlotList", i, n) {
			assert.Equal(t, 1, n["C_GetSlotList"], "uncached listing %d: %v, want objects read and one C_GetSlotList", i, n)
		}
	}
}

// A signature with a key the backend already resolved makes no slot,
// token or object calls: one session from the pool, C_SignInit, C_Sign.
func TestSignKnownKeyCalls(t *testing.T) {
	p := goodPrompt()
	b, c := openCounting(t, Config{PINPrompt: p.fn})
	ctx := context.Background()
	k := keysOf(t, b, "alpha")[softhsmtest.KeyECDSA]
	_, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256) // logs in, resolves
	require.NoError(t, err)
	c.take()
	for i := 0; i < 3; i++ {
		_, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
		require.NoError(t, err)
	}
	n := c.take()
	if assert.Equal(t, 3, n["C_SignInit"], "3 signatures with a known key made %v, want only 3 C_SignInit and 3 C_Sign", n) {
		if assert.Equal(t, 3, n["C_Sign"], "3 signatures with a known key made %v, want only 3 C_SignInit and 3 C_Sign", n) {
			assert.Len(t, n, 2, "3 signatures with a known key made %v, want only 3 C_SignInit and 3 C_Sign", n)
		}
	}
}

// A listing is redone after Signet changes the token's objects
// (GenerateKey, ImportCertificate, Delete) and after login, however long
// ListingTTL is.
func TestListingInvalidatedBySignet(t *testing.T) {
	p := goodPrompt()
	b, c := openCounting(t, Config{PINPrompt: p.fn, ListingTTL: time.Hour})
	ctx := context.Background()
	tokURI := keysOf(t, b, "cache")["ecdsa"].TokenURI

	// login: the listing before it shows public keys for the private keys
	before := keysOf(t, b, "cache")["rsa"]
	_, err := b.Sign(ctx, before.URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err)
	c.take()
	after := keysOf(t, b, "cache")["rsa"]
	n := c.take()
	assert.NotEqual(t, 0, listingCalls(n), "listing after login came from the cache made before login")
	if assert.Equal(t, before.URI, after.URI, "after login: %+v", after) {
		if assert.True(t, after.CanSign, "after login: %+v", after) {
			assert.True(t, after.CanDecrypt, "after login: %+v", after)
		}
	}

	k, err := b.GenerateKey(ctx, hsm.GenerateKeyRequest{TokenURI: tokURI, Algorithm: hsm.ECDSA, Label: "made", ID: []byte{0x4a}})
	require.NoError(t, err)
	defer b.Delete(ctx, k.URI)
	got := listLabels(t, b, "cache")
	require.Equal(t, "ecdsa,made,rsa", strings.Join(got, ","), "after GenerateKey: %v", got)
	cert, err := fx.cache.PKI.Issue(k.PublicKey, softhsmtest.IssueOptions{})
	require.NoError(t, err)
	_, err = b.ImportCertificate(ctx, hsm.ImportCertificateRequest{KeyURI: k.URI, Certificate: cert})
	require.NoError(t, err)
	key, err := b.Key(ctx, k.URI)
	require.NoError(t, err, "after ImportCertificate: Key")
	require.NotNil(t, key.Certificate, "after ImportCertificate: Key has no certificate")
	require.True(t, key.Certificate.Equal(cert), "after ImportCertificate: Key = %+v, want the new certificate", key.Certificate)
	require.NoError(t, b.Delete(ctx, k.URI))
	got = listLabels(t, b, "cache")
	require.Equal(t, "ecdsa,rsa", strings.Join(got, ","), "after Delete: %v", got)
	_, err = b.Key(ctx, k.URI)
	assert.ErrorIs(t, err, hsm.ErrKeyNotFound, "Key after Delete: %v, want ErrKeyNotFound", err)
}

// Objects another process adds or deletes: within ListingTTL, Keys still
// shows the listing made before (the staleness the cache accepts), but
// operations do not depend on it — a new key signs at once and Key finds it
// (a miss relists the token), a deleted key fails with ErrKeyNotFound and
// that failure drops the stale listing; after ListingTTL the listing shows
// the change anyway.
func TestListingOtherProcess(t *testing.T) {
	p := goodPrompt()
	ctx := context.Background()
	long, _ := openCounting(t, Config{PINPrompt: p.fn, ListingTTL: time.Hour})
	short, _ := openCounting(t, Config{PINPrompt: p.fn, ListingTTL: 50 * time.Millisecond})
	for _, b := range []*Backend{long, short} {
		got := listLabels(t, b, "cache")
		require.Equal(t, "ecdsa,rsa", strings.Join(got, ","), "before: %v", got)
	}
	tok := fx.cache.Token
	nk, err := tok.GenerateKey(softhsmtest.KeySpec{Label: "other", ID: []byte{0x4b}, Type: softhsmtest.ECP256})
	require.NoError(t, err)
	defer tok.DeleteObjects([]byte{0x4b})
	otherURI := strings.Replace(keysOf(t, long, "cache")["ecdsa"].URI, "id=%41;object=ecdsa", "id=%4b;object=other", 1)
	require.Contains(t, otherURI, "object=other", "cannot build the new key's URI from %s", otherURI)

	// long TTL: the listing does not show it yet; the key signs anyway, and
	// Key finds it, which refreshes the listing
	got := listLabels(t, long, "cache")
	assert.Equal(t, "ecdsa,rsa", strings.Join(got, ","), "cached listing changed within ListingTTL: %v", got)
	sig, err := long.Sign(ctx, otherURI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err, "sign with a key added elsewhere")
	require.True(t, ecdsa.VerifyASN1(nk.Public.(*ecdsa.PublicKey), sha(t, "x"), sig), "sign with a key added elsewhere")
	k, err := long.Key(ctx, otherURI)
	if assert.NoError(t, err, "Key of a key added elsewhere: %+v", k) {
		assert.Equal(t, "other", k.Label, "Key of a key added elsewhere: %+v", k)
	}
	got = listLabels(t, long, "cache")
	assert.Equal(t, "ecdsa,other,rsa", strings.Join(got, ","), "listing after Key found the new key: %v", got)

	// short TTL: shown once the listing expired
	waitLabels(t, short, "cache", "ecdsa,other,rsa")

	// deleted elsewhere: still listed (long TTL), but a Sign fails with
	// ErrKeyNotFound and drops the stale listing
	require.NoError(t, tok.DeleteObjects([]byte{0x4b}))
	got = listLabels(t, long, "cache")
	assert.Equal(t, "ecdsa,other,rsa", strings.Join(got, ","), "cached listing changed within ListingTTL: %v", got)
	_, err = long.Sign(ctx, otherURI, sha(t, "x"), crypto.SHA256)
	assert.ErrorIs(t, err, hsm.ErrKeyNotFound, "sign with a key deleted elsewhere: %v, want ErrKeyNotFound", err)
	got = listLabels(t, long, "cache")
	assert.Equal(t, "ecdsa,rsa", strings.Join(got, ","), "listing after the failed Sign: %v, want the deleted key gone", got)
	_, err = long.Key(ctx, otherURI)
	assert.ErrorIs(t, err, hsm.ErrKeyNotFound, "Key of a key deleted elsewhere after a failed Sign: %v, want ErrKeyNotFound", err)
	waitLabels(t, short, "cache", "ecdsa,rsa")
}

// waitLabels lists until token shows the labels want (the listing expires
// after ListingTTL), or fails after 10 s.
func waitLabels(t *testing.T, b *Backend, token, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := strings.Join(listLabels(t, b, token), ",")
		if got == want {
			return
		}
		require.False(t, time.Now().After(deadline), "token %q lists %s, want %s", token, got, want)
		time.Sleep(20 * time.Millisecond)
	}
}

// A token removed, re-inserted with other objects, or re-created (new
// serial) is listed anew at once, however long ListingTTL is: the slot
// scan that sees it gone or back drops its listing.
func TestListingTokenRemovedAndBack(t *testing.T) {
	p := goodPrompt()
	b, _ := openCounting(t, Config{PINPrompt: p.fn, ListingTTL: time.Hour})
	ctx := context.Background()
	tok := fx.cache.Token
	got := listLabels(t, b, "cache")
	require.Equal(t, "ecdsa,rsa", strings.Join(got, ","), "before: %v", got)
	k := keysOf(t, b, "cache")["ecdsa"]
	_, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err)

	require.NoError(t, tok.Unplug())
	_, err = b.Tokens(ctx) // a slot scan (as Watch's) sees it gone
	require.NoError(t, err)
	got = listLabels(t, b, "cache")
	assert.Empty(t, got, "pulled token still listed: %v", got)
	_, err = b.Key(ctx, k.URI)
	assert.ErrorIs(t, err, hsm.ErrKeyNotFound, "Key on a pulled token: %v, want ErrKeyNotFound", err)
	_, err = b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	assert.ErrorIs(t, err, hsm.ErrTokenRemoved, "Sign on a pulled token: %v, want ErrTokenRemoved", err)

	// back, and changed by another process
	require.NoError(t, tok.Replug())
	reinitModule(t)
	_, err = tok.GenerateKey(softhsmtest.KeySpec{Label: "back", ID: []byte{0x4c}, Type: softhsmtest.ECP256})
	require.NoError(t, err)
	_, err = b.Tokens(ctx)
	require.NoError(t, err)
	got = listLabels(t, b, "cache")
	assert.Equal(t, "back,ecdsa,rsa", strings.Join(got, ","), "re-inserted token with a new key lists %v", got)

	// re-created: same label, new serial, other keys
	oldTokURI := k.TokenURI
	require.NoError(t, tok.Recreate())
	_, err = tok.GenerateKey(softhsmtest.KeySpec{Label: "fresh", ID: []byte{0x4d}, Type: softhsmtest.ECP256})
	require.NoError(t, err)
	reinitModule(t)
	_, err = b.Tokens(ctx)
	require.NoError(t, err)
	keys, err := b.Keys(ctx)
	require.NoError(t, err)
	assert.Equal(t, "fresh", strings.Join(labelsOf(keys, "cache"), ","), "the re-created token lists only its new key")
	for _, k := range keys {
		assert.NotEqual(t, oldTokURI, k.TokenURI, "key of the old token still listed: %s", k.URI)
	}
	// put the fixture's keys back for the other tests
	for _, spec := range []softhsmtest.KeySpec{
		{Label: "ecdsa", ID: []byte{0x41}, Type: softhsmtest.ECP256},
		{Label: "rsa", ID: []byte{0x42}, Type: softhsmtest.RSA2048}} {
		_, err := tok.AddKeyWithCert(fx.cache.PKI, spec, softhsmtest.IssueOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, tok.DeleteObjects([]byte{0x4d}))
	reinitModule(t)
}

// Concurrent listings of a token whose cached listing is stale read it
// once: the others wait for that listing.
func TestListingReadOnceConcurrently(t *testing.T) {
	p := goodPrompt()
	b, c := openCounting(t, Config{PINPrompt: p.fn, ListingTTL: time.Hour})
	ctx := context.Background()
	_, err := b.Keys(ctx)
	require.NoError(t, err)
	s, err := b.findToken(&hsm.URI{Token: "cache"})
	require.NoError(t, err)
	b.listingStale(s.tok)
	c.take()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys, err := b.Keys(ctx)
			if err == nil && len(labelsOf(keys, "cache")) != 2 {
				err = fmt.Errorf("listed %v on token cache", labelsOf(keys, "cache"))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	// one listing of one token: C_FindObjectsInit once per object class
	n := c.take()
	assert.Equal(t, 3, n["C_FindObjectsInit"], "8 concurrent listings of a stale token made %v, want one listing (3 C_FindObjectsInit)", n)
}
