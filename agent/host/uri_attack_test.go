package host_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/signet-agent/signet/internal/testutil"
)

// seenURIs approves everything and keeps every key URI the consent system
// (and so the journal) was given.
type seenURIs struct {
	mu   sync.Mutex
	uris []string
}

func (s *seenURIs) add(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uris = append(s.uris, u)
}

func (s *seenURIs) Ask(_ context.Context, r consent.Request) error {
	s.add(r.KeyURI)
	return nil
}

func (s *seenURIs) Record(_ context.Context, r consent.Request, _ error) error {
	s.add(r.KeyURI)
	return nil
}

// A plugin passes a key URI carrying a PIN (RFC 7512 pin-value) or naming
// where the agent should read one (pin-source): the host refuses it with an
// invalid-request error, nothing is signed, and the value reaches neither
// the log nor the consent system (which journals). A URI in another
// spelling than the canonical one is logged and journaled canonically.
func TestAttackPluginPINInKeyURI(t *testing.T) {
	const secret = "pv-4417zq"
	var log testutil.SyncBuffer
	seen := &seenURIs{}
	h := plugintest.Start(t, example, &plugintest.Config{
		Consent: seen,
		Logger:  slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	key := h.KeyURI(t, plugintest.KeyECDSA)
	require.True(t, strings.HasPrefix(key, "pkcs11:"), key)

	for i, bad := range []string{
		key + "?pin-value=" + secret,
		key + "?pin-value=" + url.QueryEscape(secret) + "&module-name=softhsm2",
		key + "?pin-source=file:/tmp/" + secret,
		"PKCS11:" + strings.TrimPrefix(key, "pkcs11:") + "?pin-value=" + secret,
	} {
		code, err := postSign(h.HTTPClient(), h.Addr("https"), bad, fmt.Sprintf("pin-uri-%d", i))
		require.NoError(t, err)
		assert.Equal(t, 400, code, "sign with %s", bad)
	}
	assert.Contains(t, log.String(), "carries pin-value or pin-source")
	assert.NotContains(t, log.String(), secret, "the PIN in the URI reached the log")
	seen.mu.Lock()
	for _, u := range seen.uris {
		assert.NotContains(t, u, secret, "the PIN in the URI reached the consent system")
	}
	seen.mu.Unlock()

	// The same key in another spelling (attributes reordered) signs and
	// is journaled and logged canonically.
	parts := strings.Split(strings.TrimPrefix(key, "pkcs11:"), ";")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	reordered := "pkcs11:" + strings.Join(parts, ";")
	require.NotEqual(t, key, reordered)
	code, err := postSign(h.HTTPClient(), h.Addr("https"), reordered, "reordered")
	require.NoError(t, err)
	require.Equal(t, 200, code)
	seen.mu.Lock()
	defer seen.mu.Unlock()
	assert.Contains(t, seen.uris, key)
	assert.NotContains(t, seen.uris, reordered)
	assert.NotContains(t, log.String(), reordered)
}
