package eimzo

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"testing"

	"github.com/signet-agent/signet/sdk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fallback of tokenKey for a host without a key chooser cannot be
// produced with the real host (it has one), so it is tested here with a
// key store that lists fixed keys and consents that lack ChooseKey or
// answer ErrUnsupported, as a host predating ChooseKey does.

// listingKeys lists fixed keys; nothing else is used by tokenKey.
type listingKeys struct{ keys []sdk.Key }

func (l listingKeys) Tokens(context.Context, sdk.Operation) ([]sdk.Token, error) { return nil, nil }
func (l listingKeys) Keys(context.Context, sdk.Operation) ([]sdk.Key, error)     { return l.keys, nil }
func (l listingKeys) Key(context.Context, string, sdk.Operation) (sdk.Key, error) {
	return sdk.Key{}, sdk.ErrKeyNotFound
}
func (l listingKeys) Signer(context.Context, sdk.Key, sdk.Operation) crypto.Signer { return nil }
func (l listingKeys) CreateCSR(context.Context, string, *x509.CertificateRequest, sdk.Operation) ([]byte, error) {
	return nil, sdk.ErrUnsupported
}
func (l listingKeys) GenerateKey(context.Context, sdk.GenerateKeyRequest, sdk.Operation) (sdk.Key, error) {
	return sdk.Key{}, sdk.ErrUnsupported
}
func (l listingKeys) ImportCertificate(context.Context, sdk.ImportCertificateRequest, sdk.Operation) (sdk.Key, error) {
	return sdk.Key{}, sdk.ErrUnsupported
}

// askOnly is a consent without ChooseKey.
type askOnly struct{}

func (askOnly) Ask(context.Context, string, sdk.Operation) error { return nil }

// oldHost is a consent whose ChooseKey answers ErrUnsupported.
type oldHost struct{ askOnly }

func (oldHost) ChooseKey(context.Context, []string, sdk.KeyFilter, sdk.Operation) (sdk.KeyChoice, error) {
	return sdk.KeyChoice{}, fmt.Errorf("ChooseKey: %w", sdk.ErrUnsupported)
}

func TestTokenKeyWithoutChooser(t *testing.T) {
	cert := &x509.Certificate{}
	tokenKey := func(uri string) sdk.Key {
		return sdk.Key{URI: uri, HasPrivateKey: true, CanSign: true, Certificate: cert}
	}
	one := []sdk.Key{
		tokenKey("pkcs11:token=a;object=k1;type=private"),
		{URI: "pkcs11:token=a;object=nocert;type=private", HasPrivateKey: true, CanSign: true},
		{URI: "pkcs11:token=a;object=certonly;type=cert", Certificate: cert},
		{URI: "file:///keys/a.pfx#x", HasPrivateKey: true, CanSign: true, Certificate: cert},
	}
	two := append([]sdk.Key{tokenKey("pkcs11:token=b;object=k2;type=private")}, one...)
	for _, consent := range []Consent{askOnly{}, oldHost{}} {
		for _, tc := range []struct {
			name     string
			keys     []sdk.Key
			tokenKey string
			want     string // URI, or "" for an error
			status   int
		}{
			{"one candidate", one, "", "pkcs11:token=a;object=k1;type=private", 0},
			{"two candidates", two, "", "", StatusRuntime},
			{"two narrowed by token_key", two, "pkcs11:token=b", "pkcs11:token=b;object=k2;type=private", 0},
			{"none", one[1:], "", "", StatusInsertDisk},
		} {
			t.Run(fmt.Sprintf("%T/%s", consent, tc.name), func(t *testing.T) {
				s := NewServer(Config{Keys: listingKeys{tc.keys}, Consent: consent, TokenKey: tc.tokenKey})
				c := &call{ctx: context.Background(), sess: &session{server: s, origin: "https://portal.example", domain: "portal.example"},
					fn: &function{Plugin: "pkcs7", Name: "create_pkcs7"}, args: []string{"", "ckc", "no"}}
				h, err := s.keyFor(c, "ckc")
				if tc.want != "" {
					require.NoError(t, err, "keyFor")
					require.Equal(t, tc.want, h.Key.URI, "keyFor: %+v", h)
					require.Empty(t, h.GrantID, "keyFor: %+v, want no grant", h)
					require.Equal(t, TypeCKC, h.Type, "keyFor: %+v", h)
					require.Equal(t, "portal.example", h.Domain, "keyFor: %+v", h)
					return
				}
				var e *Error
				require.ErrorAs(t, asError(err), &e, "keyFor: %+v; want status %d", h, tc.status)
				require.Equal(t, tc.status, e.Status, "keyFor: %+v, %v", h, err)
				if tc.status == StatusRuntime {
					assert.ErrorContains(t, err, OptionTokenKey, "error does not name the %s option", OptionTokenKey)
				}

			})
		}
	}
}
