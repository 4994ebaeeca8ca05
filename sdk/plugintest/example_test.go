package plugintest_test

import (
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/signet-agent/signet/sdk/plugintest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A plugin's test: start the plugin under a real host (TestMain calls
// plugintest.Main), call it over HTTPS, and check what the person was
// asked.
func ExampleStart() {
	var t *testing.T // the test's
	h := plugintest.Start(t, ".", &plugintest.Config{Consent: plugintest.AllowAll()})
	resp, err := h.HTTPClient().Get("https://" + h.Addr("https") + "/keys")
	require.NoError(t, err)
	defer resp.Body.Close()
	var uris []string
	_ = json.NewDecoder(resp.Body).Decode(&uris)
	for _, q := range h.Consent().QuestionsOf(plugintest.List) {
		t.Log(q.Plugin, q.Origin) // the Description's Name, the request's Origin
	}
}

// The person picks a key when the plugin calls Consent.ChooseKey.
func ExamplePickKey() {
	var t *testing.T
	h := plugintest.Start(t, ".", &plugintest.Config{Consent: plugintest.PickKey(plugintest.KeyECDSA)})
	_ = h
}

// Grants: the person accepts the grant the plugin offers; presentations
// of it are decided without a question.
func ExampleAcceptGrants() {
	var t *testing.T
	h := plugintest.Start(t, ".", &plugintest.Config{Consent: plugintest.AcceptGrants("https://portal.example")})
	// … sign three times presenting the grant …
	assert.Len(t, h.Consent().QuestionsOf(plugintest.Sign), 1, "asked more than once")
}

// Verify a detached CMS signature with OpenSSL against the test CA.
func ExampleHost_Chain() {
	var (
		t       *testing.T
		h       *plugintest.Host
		sigFile string // the DER CMS the plugin returned
		docFile string // the signed document
	)
	chain := h.Chain(t, plugintest.KeyECDSA)
	out, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER",
		"-in", sigFile, "-content", docFile, "-CAfile", chain.CAFile, "-purpose", "any", "-out", "/dev/null").CombinedOutput()
	require.NoError(t, err, "openssl:\n%s", out)
}

// Build the plugin with the race detector and a build tag.
func ExampleBuildOptions() {
	var t *testing.T
	plugintest.Start(t, ".", &plugintest.Config{Build: plugintest.BuildOptions{Race: true, Tags: []string{"debug"}}})
}

// Refuse signatures only; everything else is allowed.
func ExampleDeny() {
	c := plugintest.Deny(plugintest.Sign)
	_ = c // Config{Consent: c}
}
