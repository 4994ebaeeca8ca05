package e2e

// Another local user reaching the person's agent through its loopback
// listeners: every user can connect to 127.0.0.1, so without a check of the
// peer socket's owner, `curl -k https://127.0.0.1:8443/keys` run as nobody
// lists the person's keys and, with a cached login (or an unattended rule),
// obtains signatures. docs/peer-credentials.md.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
)

// agentUser is the user the agent runs as (this test's), run through the
// same helper as the attacker so that only the uid differs.
func agentUser() otherUser {
	return otherUser{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
}

// curlArgs fetches url without checking the certificate (the attacker has
// no reason to trust the agent's CA), printing the body and then
// "\nHTTP <status>".
func curlArgs(url string, extra ...string) []string {
	return append([]string{"-sS", "-k", "--max-time", "20", "-w", "\nHTTP %{http_code}", url}, extra...)
}

// assertRefused checks that curl run as another user failed at the
// connection — reset while connecting (curl exit 7) or during the TLS
// handshake (35, 56) — with no HTTP status and none of the protected
// content.
func assertRefused(t *testing.T, out []byte, err error, secret string) {
	t.Helper()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "curl as another user succeeded: %s", out)
	assert.Contains(t, []int{7, 35, 56}, ee.ExitCode(), "curl did not fail at the connection: %s", out)
	assert.Contains(t, string(out), "HTTP 000", "an HTTP status came back")
	assert.NotContains(t, string(out), secret)
}

// TestAttackPeerOtherUserExampleListener: nobody's curl to the example
// plugin's listener (what every SDK listener is) is reset before TLS, for
// /keys and for /sign; the same curl as the agent's user is served; the
// plugin logs the refusal with nobody's uid.
func TestAttackPeerOtherUserExampleListener(t *testing.T) {
	u, self := nobody(t), agentUser()
	a := startAgent(t, examplePlugin()) // an unattended allow-all rule and a PIN source: signing needs no one
	addr := exampleAddr(t, a.plugin("example"))

	out, err := asOtherUser(t, u, "curl", curlArgs("https://"+addr+"/keys")...)
	assertRefused(t, out, err, "pkcs11:")

	keysOut, err := asOtherUser(t, self, "curl", curlArgs("https://"+addr+"/keys")...)
	require.NoError(t, err, "%s", keysOut)
	require.Contains(t, string(keysOut), "HTTP 200")
	require.Contains(t, string(keysOut), "token="+tokenLabel, "the agent's own user must still list the keys")
	keyURI := keyURIs(t, a.client(), addr)[softhsmtest.KeyECDSA]
	require.NotEmpty(t, keyURI, "no ECDSA key in %s", keysOut)

	sum := sha256.Sum256([]byte("transfer everything"))
	body, err := json.Marshal(map[string]string{"key": keyURI, "digest": base64.StdEncoding.EncodeToString(sum[:]), "request_id": "attack-peer-1"})
	require.NoError(t, err)
	sign := curlArgs("https://"+addr+"/sign", "-X", "POST", "-H", "Origin: https://portal.example", "-H", "Content-Type: application/json", "--data", string(body))
	out, err = asOtherUser(t, u, "curl", sign...)
	assertRefused(t, out, err, "signature")
	assert.Zero(t, signedRequestIDs(a.log.String())["attack-peer-1"], "the agent signed for another user")

	// The same request as the agent's user is signed: the refusal above
	// was the peer check, not the request.
	body, err = json.Marshal(map[string]string{"key": keyURI, "digest": base64.StdEncoding.EncodeToString(sum[:]), "request_id": "attack-peer-2"})
	require.NoError(t, err)
	sign[len(sign)-1] = string(body)
	out, err = asOtherUser(t, self, "curl", sign...)
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "HTTP 200")
	assert.Contains(t, string(out), `"signature"`)

	assert.Contains(t, a.log.String(), fmt.Sprintf("peer_uid=%d", u.UID), "the refusal is logged with the peer's uid")
}

// TestAttackPeerOtherUserDashboard: nobody's curl to the consent and
// dashboard server, even with the dashboard's secret URL, is reset before
// TLS; the agent's own user gets the page.
func TestAttackPeerOtherUserDashboard(t *testing.T) {
	u, self := nobody(t), agentUser()
	a := startAgent(t)
	m := regexp.MustCompile(`msg=dashboard url=(\S+)`).FindStringSubmatch(a.log.String())
	require.NotNil(t, m, "the agent logs its dashboard URL")
	dash := m[1]

	out, err := asOtherUser(t, u, "curl", curlArgs(dash)...)
	assertRefused(t, out, err, "<html")

	out, err = asOtherUser(t, self, "curl", curlArgs(dash)...)
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "HTTP 200")
	assert.Contains(t, string(out), "<html")

	assert.Contains(t, a.log.String(), fmt.Sprintf("peer_uid=%d", u.UID), "the refusal is logged with the peer's uid")
}
