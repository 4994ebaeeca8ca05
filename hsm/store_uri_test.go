package hsm_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pkcs11"
	"github.com/signet-agent/signet/internal/softhsmtest"
)

// A key URI that no backend can handle because it is malformed is refused
// as invalid, with a message naming what was wrong, and never repeats a
// pin-value; a well-formed URI naming something absent keeps its own
// error (token not present, key not found).
func TestStoreRoutesMalformedURIsAsInvalid(t *testing.T) {
	const secret = "pv-secret-9931"
	tokens, err := pkcs11.Open(pkcs11.Config{Module: softhsmtest.Shared().Module})
	require.NoError(t, err)
	store := hsm.NewStore(tokens)
	t.Cleanup(func() { assert.NoError(t, store.Close()) })

	cases := []struct {
		name string
		uri  string
		want error
		text string // in the message
	}{
		{"empty", "", hsm.ErrInvalidURI, "empty key URI"},
		{"no scheme", "token=store;object=x", hsm.ErrInvalidURI, "without a scheme"},
		{"unknown scheme", "http://nope", hsm.ErrInvalidURI, `unknown key URI scheme "http"`},
		{"bad scheme characters", "1x:y", hsm.ErrInvalidURI, "without a scheme"},
		{"bad percent-encoding", "pkcs11:%zz", hsm.ErrInvalidURI, "without '='"},
		{"bad percent-encoding in a value", "pkcs11:token=%zz", hsm.ErrInvalidURI, `attribute "token": malformed percent-encoding`},
		{"truncated percent-encoding", "pkcs11:token=a%4", hsm.ErrInvalidURI, "malformed percent-encoding"},
		{"unknown attribute", "pkcs11:token=store;colour=red", hsm.ErrInvalidURI, `unknown path attribute "colour"`},
		{"unknown query attribute", "pkcs11:token=store?colour=red", hsm.ErrInvalidURI, `unknown query attribute "colour"`},
		{"repeated attribute", "pkcs11:token=a;token=b", hsm.ErrInvalidURI, `"token" repeated`},
		{"bad pin-value encoding", "pkcs11:token=nowhere?pin-value=" + secret + "%zz", hsm.ErrInvalidURI, "pin-value: malformed percent-encoding"},
		{"bad file URI", "file:///keys/a%zz.pfx#k", hsm.ErrInvalidURI, "malformed file: URI"},
		{"absent token", "pkcs11:token=nowhere;object=x;type=private", hsm.ErrTokenRemoved, "token=nowhere"},
		{"absent token with a pin-value", "pkcs11:token=nowhere?pin-value=" + secret, hsm.ErrTokenRemoved, "token=nowhere"},
		{"absent file", "file:///no/such/file.pfx#k", hsm.ErrKeyNotFound, "/no/such/file.pfx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := signErr(store, tc.uri)
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.text)
			assert.NotContains(t, err.Error(), secret, "the error repeats the pin-value")
			if tc.want == hsm.ErrInvalidURI {
				assert.NotErrorIs(t, err, hsm.ErrTokenRemoved)
				assert.NotErrorIs(t, err, hsm.ErrKeyNotFound)
			}

			_, err = store.Key(context.Background(), tc.uri)
			assert.ErrorIs(t, err, tc.want, "Key")
		})
	}
}
