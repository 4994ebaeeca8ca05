package kontur

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// issuer is a test OpenID Connect provider: discovery, JWKS, and tokens.
type issuer struct {
	srv  *httptest.Server
	keys []jose.JSONWebKey // private keys; the JWKS serves their public halves
}

func newIssuer(t *testing.T) *issuer {
	is := &issuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		var set jose.JSONWebKeySet
		for _, k := range is.keys {
			set.Keys = append(set.Keys, k.Public())
		}
		_ = json.NewEncoder(w).Encode(set)
	})
	is.srv = httptest.NewTLSServer(mux)
	t.Cleanup(is.srv.Close)
	is.addRSA(t, "k1")
	return is
}

func (is *issuer) addRSA(t *testing.T, kid string) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	is.keys = append(is.keys, jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"})
}

func (is *issuer) token(t *testing.T, key jose.JSONWebKey, alg jose.SignatureAlgorithm, c jwt.Claims) string {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	raw, err := jwt.Signed(sig).Claims(c).Serialize()
	require.NoError(t, err)
	return raw
}

func (is *issuer) verifier(t *testing.T) *oidcVerifier {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, certPEM(is.srv), 0o600))
	v, err := newOIDCVerifier(OIDCConfig{Issuer: is.srv.URL, Audience: "signet", CAFile: ca})
	require.NoError(t, err)
	return v
}

func TestOIDCTokens(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier(t)
	now := time.Now()
	good := jwt.Claims{Issuer: is.srv.URL, Audience: jwt.Audience{"signet"}, Subject: "alice",
		Expiry: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now)}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	stranger := jose.JSONWebKey{Key: ecKey, KeyID: "k1"}

	with := func(f func(c *jwt.Claims)) jwt.Claims { c := good; f(&c); return c }
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", is.token(t, is.keys[0], jose.RS256, good), true},
		{"expired", is.token(t, is.keys[0], jose.RS256, with(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Hour)) })), false},
		{"other audience", is.token(t, is.keys[0], jose.RS256, with(func(c *jwt.Claims) { c.Audience = jwt.Audience{"someone-else"} })), false},
		{"other issuer", is.token(t, is.keys[0], jose.RS256, with(func(c *jwt.Claims) { c.Issuer = "https://evil.example" })), false},
		{"no expiry", is.token(t, is.keys[0], jose.RS256, with(func(c *jwt.Claims) { c.Expiry = nil })), false},
		{"signed by a stranger under a known kid", is.token(t, stranger, jose.ES256, good), false},
		{"HMAC with the public key as secret", is.token(t, jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "k1"}, jose.HS256, good), false},
		{"garbage", "not.a.jwt", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sub, err := v.verify(context.Background(), tc.token)
			if tc.ok {
				require.NoError(t, err)
				assert.Equal(t, "alice", sub)
			} else {
				assert.ErrorIs(t, err, errUnauthorized)
			}
		})
	}
}

func TestOIDCKeyRotation(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier(t)
	clock := time.Now()
	v.now = func() time.Time { return clock }
	claims := jwt.Claims{Issuer: is.srv.URL, Audience: jwt.Audience{"signet"}, Subject: "bob",
		Expiry: jwt.NewNumericDate(time.Now().Add(2 * time.Hour))}
	_, err := v.verify(context.Background(), is.token(t, is.keys[0], jose.RS256, claims))
	require.NoError(t, err)

	is.addRSA(t, "k2") // the issuer rotates in a new key
	_, err = v.verify(context.Background(), is.token(t, is.keys[1], jose.RS256, claims))
	require.ErrorIs(t, err, errUnauthorized, "within the refresh pause an unknown kid is refused without a fetch")
	clock = clock.Add(time.Minute)
	sub, err := v.verify(context.Background(), is.token(t, is.keys[1], jose.RS256, claims))
	require.NoError(t, err, "an unknown kid refreshes the key set")
	assert.Equal(t, "bob", sub)
}

func TestAuthenticatorMapsSubjectsAndKeys(t *testing.T) {
	is := newIssuer(t)
	cfg := &Config{Accounts: []Account{
		{ID: "a", APIKeys: []string{sha256hex("key-a")}, Subjects: []string{"alice"}},
		{ID: "b", Subjects: []string{"alice", "bob"}},
	}}
	auth := &authenticator{cfg: cfg, oidc: is.verifier(t)}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Kontur-Apikey", "key-a")
	p, err := auth.authenticate(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"a": true}, p.accounts)

	tok := is.token(t, is.keys[0], jose.RS256, jwt.Claims{Issuer: is.srv.URL, Audience: jwt.Audience{"signet"},
		Subject: "alice", Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))})
	req = httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	p, err = auth.authenticate(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"a": true, "b": true}, p.accounts)

	req = httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Kontur-Apikey", "key-b")
	_, err = auth.authenticate(context.Background(), req)
	assert.ErrorIs(t, err, errUnauthorized)
}
