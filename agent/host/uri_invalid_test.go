package host_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/plugintest"
)

// A plugin asks to sign with a malformed key URI: the host answers with
// the invalid-URI kind (the example plugin's 400), not "key not found" or
// "token not present" (404).
func TestPluginMalformedKeyURIIsInvalid(t *testing.T) {
	h := plugintest.Start(t, example, nil)
	for i, bad := range []string{
		"http://nope",
		"nope",
		"pkcs11:%zz",
		"pkcs11:token=%zz",
		"pkcs11:token=plugintest;colour=red",
		"file:///keys/a%zz.pfx#k",
	} {
		code, err := postSign(h.HTTPClient(), h.Addr("https"), bad, fmt.Sprintf("bad-uri-%d", i))
		require.NoError(t, err)
		assert.Equal(t, 400, code, "sign with %s", bad)
	}
	code, err := postSign(h.HTTPClient(), h.Addr("https"), "pkcs11:token=nowhere;object=x;type=private", "absent")
	require.NoError(t, err)
	assert.Equal(t, 404, code, "a well-formed URI of an absent token")
}
