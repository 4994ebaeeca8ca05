package kontur

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// oidcVerifier checks OpenID Connect access tokens (JWTs) against the
// issuer's key set, fetched from its discovery document and refreshed when a
// token names a key id it does not know (at most once per refreshEvery).
type oidcVerifier struct {
	cfg    OIDCConfig
	client *http.Client
	now    func() time.Time

	mu        sync.Mutex
	keys      jose.JSONWebKeySet
	fetchedAt time.Time
}

const (
	refreshEvery = 30 * time.Second
	maxJWKS      = 1 << 20
	maxToken     = 16 << 10
)

// algorithms are the JWS algorithms accepted (never "none", never HMAC:
// the issuer's public keys verify, nothing shared does).
var algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384,
	jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

func newOIDCVerifier(cfg OIDCConfig) (*oidcVerifier, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("auth.oidc.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("auth.oidc.ca_file: no certificate in %s", cfg.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &oidcVerifier{cfg: cfg, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}, now: time.Now}, nil
}

// verify checks the token's signature, issuer, audience and validity and
// returns its subject.
func (v *oidcVerifier) verify(ctx context.Context, raw string) (string, error) {
	if len(raw) > maxToken {
		return "", fmt.Errorf("%w: token of %d bytes", errUnauthorized, len(raw))
	}
	tok, err := jwt.ParseSigned(raw, algorithms)
	if err != nil || len(tok.Headers) != 1 {
		return "", fmt.Errorf("%w: not a signed JWT", errUnauthorized)
	}
	key, err := v.key(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return "", err
	}
	var claims jwt.Claims
	if err := tok.Claims(key.Key, &claims); err != nil {
		return "", fmt.Errorf("%w: signature does not verify", errUnauthorized)
	}
	err = claims.ValidateWithLeeway(jwt.Expected{
		Issuer: v.cfg.Issuer, AnyAudience: jwt.Audience{v.cfg.Audience}, Time: v.now(),
	}, 30*time.Second)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errUnauthorized, err)
	}
	if claims.Subject == "" || claims.Expiry == nil {
		return "", fmt.Errorf("%w: token without subject or expiry", errUnauthorized)
	}
	return claims.Subject, nil
}

// key returns the issuer's key kid, refreshing the set when it is unknown.
func (v *oidcVerifier) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if k, ok := v.find(kid); ok {
		return k, nil
	}
	if !v.fetchedAt.IsZero() && v.now().Sub(v.fetchedAt) < refreshEvery {
		return jose.JSONWebKey{}, fmt.Errorf("%w: unknown key id %q", errUnauthorized, kid)
	}
	if err := v.refresh(ctx); err != nil {
		return jose.JSONWebKey{}, err
	}
	if k, ok := v.find(kid); ok {
		return k, nil
	}
	return jose.JSONWebKey{}, fmt.Errorf("%w: unknown key id %q", errUnauthorized, kid)
}

func (v *oidcVerifier) find(kid string) (jose.JSONWebKey, bool) {
	for _, k := range v.keys.Keys {
		if (kid == "" || k.KeyID == kid) && k.Use != "enc" && k.IsPublic() {
			return k, true
		}
	}
	return jose.JSONWebKey{}, false
}

// errIssuerUnavailable: the key set could not be fetched (a 503, not a 401).
var errIssuerUnavailable = errors.New("identity provider unavailable")

func (v *oidcVerifier) refresh(ctx context.Context) error {
	v.fetchedAt = v.now()
	url := v.cfg.JWKSURL
	if url == "" {
		var disc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := v.getJSON(ctx, strings.TrimSuffix(v.cfg.Issuer, "/")+"/.well-known/openid-configuration", &disc); err != nil {
			return err
		}
		if disc.Issuer != v.cfg.Issuer || disc.JWKSURI == "" {
			return fmt.Errorf("%w: discovery document names issuer %q, want %q", errIssuerUnavailable, disc.Issuer, v.cfg.Issuer)
		}
		url = disc.JWKSURI
	}
	var set jose.JSONWebKeySet
	if err := v.getJSON(ctx, url, &set); err != nil {
		return err
	}
	v.keys = set
	return nil
}

func (v *oidcVerifier) getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", errIssuerUnavailable, err)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errIssuerUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s answered %s", errIssuerUnavailable, url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKS)).Decode(out); err != nil {
		return fmt.Errorf("%w: %s: %v", errIssuerUnavailable, url, err)
	}
	return nil
}
