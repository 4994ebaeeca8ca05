package eimzo_test

import (
	"strings"
	"testing"

	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The vendor's published keys for localhost and 127.0.0.1
// (qo0p/e-imzo-doc, example.uz/php/demo/e-imzo-init.js; public protocol
// data).
const (
	apiKeyLocalhost = "96D0C1491615C82B9A54D9989779DF825B690748224C2B04F500F370D51827CE2644D8D4A82C18184D73AB8530BB8ED537269603F61DB0D03D2104ABF789970B"
	apiKeyLoopback  = "A7BCFA5D490B351BE0754130DF03A068F855DB4333D43921125B9CF2670EF6A40370C646B90401955E1F7BC9CDBF59CE0B2C5467D820BE189C845D0B79CFC96F"
)

// TestAPIKeyEndToEnd calls apikey on the real plugin the way the vendor's
// demo page does: valid pairs answer success with the caller's Origin as
// "message"; a pair with a bad key fails the call with -1020 naming the
// domain, whichever position it has.
func TestAPIKeyEndToEnd(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	url := endpoint(h, "wss")
	apikey := func(args ...string) map[string]any {
		return call(t, h, url, testOrigin, map[string]any{"name": "apikey", "arguments": args})
	}

	got := apikey("localhost", apiKeyLocalhost, "127.0.0.1", apiKeyLoopback)
	require.Equal(t, true, got["success"], "published keys: %v", got)
	require.Equal(t, float64(1), got["status"], "published keys: %v", got)
	require.Equal(t, testOrigin, got["message"], "published keys: %v", got)

	// Lower-case hex and a domain in upper case (E-IMZO compares host
	// names case-insensitively) are accepted too.
	got = apikey("LOCALHOST", strings.ToLower(apiKeyLocalhost))
	assert.Equal(t, true, got["success"], "lower-case key, upper-case domain: %v", got)

	flipped := apiKeyLoopback[:127] + "E" // …96F → …96E
	for name, args := range map[string][]string{
		"key of another domain": {"localhost", apiKeyLocalhost, "portal.example", apiKeyLoopback},
		"altered key":           {"127.0.0.1", flipped},
		"short key":             {"127.0.0.1", apiKeyLoopback[:126]},
		"non-hex key":           {"127.0.0.1", "Z" + apiKeyLoopback[1:]},
	} {
		bad := args[len(args)-2]
		got := apikey(args...)
		reason, _ := got["reason"].(string)
		assert.Equal(t, false, got["success"], "%s: %v", name, got)
		assert.Equal(t, float64(-1020), got["status"], "%s: %v", name, got)
		assert.Contains(t, reason, bad, "%s: reason does not name the domain", name)
		assert.NotContains(t, reason, args[len(args)-1], "%s: the reason repeats the key", name)
	}

	// A page without an Origin header is the domain "null"; the reply
	// says so.
	got = call(t, h, url, "", map[string]any{"name": "apikey", "arguments": []string{"localhost", apiKeyLocalhost}})
	assert.Equal(t, true, got["success"], "no Origin: %v", got)
	assert.Equal(t, "null", got["message"], "no Origin: %v", got)

}
