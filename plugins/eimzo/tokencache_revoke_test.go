package eimzo_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCKCRememberedKeyOriginRevoked: an origin whose token key is
// remembered (its signatures make no lookup) and which the host then stops
// allowing gets no signature and nothing about the key: the Sign is
// refused by the host, the origin forgets its key, and its next call is
// refused by its own lookup (-1022), as before it ever signed.
func TestCKCRememberedKeyOriginRevoked(t *testing.T) {
	h0 := plugintest.Start(t, pkg, nil)
	ec := h0.Key(t, plugintest.KeyECDSA)
	var revoked atomic.Bool
	rec := &recorder{deny: func(r consent.Request) bool { return revoked.Load() && r.Origin == testOrigin }}
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: rec, Options: map[string]string{"token_key": ec.URI}})
	url := endpoint(h, "ws")
	doc := b64([]byte("hisob-faktura"))
	for range 2 {
		checkSignReply(t, mustOK(t, "create_pkcs7", call(t, h, url, testOrigin, fn("pkcs7", "create_pkcs7", doc, "ckc", "no"))), ec.Certificate)
	}
	_, lookups := listings(rec.requests())
	require.Len(t, lookups, 1, "lookups before the revocation, want the first signature's only")

	revoked.Store(true)
	before := len(rec.requests())
	first := call(t, h, url, testOrigin, fn("pkcs7", "create_pkcs7", doc, "ckc", "no"))
	second := call(t, h, url, testOrigin, fn("pkcs7", "create_pkcs7", doc, "ckc", "no"))
	for i, reply := range []map[string]any{first, second} {
		assert.Equal(t, false, reply["success"], "call %d after the revocation: %v", i, reply)
		assert.NotContains(t, reply, "pkcs7_64", "call %d after the revocation", i)
		reason, _ := reply["reason"].(string)
		for _, leak := range []string{ec.Certificate.Subject.CommonName, ec.Certificate.SerialNumber.Text(16)} {
			assert.NotContains(t, strings.ToLower(reason), strings.ToLower(leak), "call %d: the refusal names the key", i)
		}
	}
	assert.Equal(t, float64(-1022), second["status"], "the call after the refused signature: %v", second)
	reqs := rec.requests()[before:]
	require.Len(t, reqs, 2, "host requests after the revocation: %v", reqs)
	assert.Equal(t, consent.Sign, reqs[0].Kind, "the remembered key's signature goes to the host, which refuses it")
	assert.Equal(t, consent.List, reqs[1].Kind, "the next call looks the key up again")
	assert.Equal(t, ec.URI, reqs[1].KeyURI, "the next call looks the key up again")
}
