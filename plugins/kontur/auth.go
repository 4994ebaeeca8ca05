package kontur

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
)

// errUnauthorized: no credentials, or credentials nobody configured.
var errUnauthorized = errors.New("missing or invalid credentials")

// principal is an authenticated caller and the accounts it may use.
type principal struct {
	name     string // "api key <account>" or "oidc <sub>", for the journal
	accounts map[string]bool
}

// authenticator checks a request's credentials: an API key
// (X-Kontur-Apikey) or an OpenID Connect bearer token.
type authenticator struct {
	cfg  *Config
	oidc *oidcVerifier // nil when auth.oidc is not configured
}

func (a *authenticator) authenticate(ctx context.Context, r *http.Request) (principal, error) {
	if key := r.Header.Get("X-Kontur-Apikey"); key != "" {
		return a.apiKey(key)
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && a.oidc != nil {
		sub, err := a.oidc.verify(ctx, strings.TrimSpace(tok))
		if err != nil {
			return principal{}, err
		}
		p := principal{name: "oidc " + sub, accounts: map[string]bool{}}
		for _, acc := range a.cfg.Accounts {
			for _, s := range acc.Subjects {
				if s == sub {
					p.accounts[acc.ID] = true
				}
			}
		}
		return p, nil
	}
	return principal{}, errUnauthorized
}

// apiKey matches the key's SHA-256 against every account's hashes, in
// constant time per comparison.
func (a *authenticator) apiKey(key string) (principal, error) {
	sum := sha256.Sum256([]byte(key))
	p := principal{accounts: map[string]bool{}}
	for _, acc := range a.cfg.Accounts {
		for _, h := range acc.APIKeys {
			want, _ := hex.DecodeString(h)
			if subtle.ConstantTimeCompare(want, sum[:]) == 1 {
				p.accounts[acc.ID] = true
				if p.name == "" {
					p.name = "api key of " + acc.ID
				}
			}
		}
	}
	if len(p.accounts) == 0 {
		return principal{}, errUnauthorized
	}
	return p, nil
}
