package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/stretchr/testify/require"
)

// Helpers for the journal and secret-scan tests: an agent started from a
// configuration the test writes (PFX files, administrator deny lists, PIN
// sources of its own), extra tokens with their own PINs, and HTTP calls that
// keep every response body.

// agentSetup is what startAgentWith puts in the configuration besides the
// SoftHSM module, the data directory and the example plugin.
type agentSetup struct {
	PFXFiles []string
	Deny     []string // policy.deny origin patterns
	// PINSources are {token URI, file or env} entries.
	PINSources []pinSource
	// Env is added to the agent's environment (for env PIN sources).
	Env []string
}

// startAgentWith starts `signet serve` with the example plugin, an
// allow-all unattended rule and the given setup.
func startAgentWith(t *testing.T, s agentSetup) *agent {
	t.Helper()
	dir := t.TempDir()
	cfg := newAgentConfig(dir)
	cfg.Keystore.PFXFiles = s.PFXFiles
	cfg.Plugins = []pluginConf{{Name: "example", Path: filepath.Join(binDir, "signet-plugin-example"), Listen: []listenConf{anyPort}}}
	cfg.Policy = policyConf{
		Deny:       s.Deny,
		Unattended: unattendedConf{Rules: []ruleConf{allowAll}, PINSources: s.PINSources},
	}
	cfgPath := writeConfig(t, dir, cfg)
	return launchAgent(t, dir, cfgPath, s.Env)
}

// stop sends SIGTERM and waits for the agent to exit (SIGKILL after 20 s).
func (a *agent) stop() {
	select {
	case <-a.exited:
		return
	default:
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(20 * time.Second):
		a.t.Errorf("agent did not exit within 20 s of SIGTERM")
		a.cmd.Process.Kill()
		<-a.exited
	}
}

// dataDir is the agent's data directory (journal, CA, origins).
func (a *agent) dataDir() string { return filepath.Join(a.dir, "data") }

// exampleKey is one entry of the example plugin's GET /keys.
type exampleKey struct {
	URI, Label, Algorithm, Subject string
}

// httpReply is one response the client got, body kept whole.
type httpReply struct {
	Status int
	Body   []byte
}

// capture keeps every response body a test's client received.
type capture struct {
	mu      sync.Mutex
	replies []httpReply
}

func (c *capture) add(r httpReply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replies = append(c.replies, r)
}

// listKeys calls GET /keys and returns the keys.
func listKeys(t *testing.T, c *http.Client, addr string, cp *capture) []exampleKey {
	t.Helper()
	r, err := getKeys(c, addr)
	require.NoError(t, err, "GET /keys")
	if cp != nil {
		cp.add(r)
	}
	require.Equal(t, http.StatusOK, r.Status, "GET /keys: %s", r.Body)
	var keys []exampleKey
	require.NoError(t, json.Unmarshal(r.Body, &keys), "GET /keys: %s", r.Body)
	return keys
}

// findKey returns the URI of the key whose URI has the given prefix and
// whose label is label ("" matches any label).
func findKey(t *testing.T, keys []exampleKey, uriPrefix, label string) string {
	t.Helper()
	for _, k := range keys {
		if strings.HasPrefix(k.URI, uriPrefix) && (label == "" || k.Label == label) {
			return k.URI
		}
	}
	t.Fatalf("no key %q with URI prefix %q in %+v", label, uriPrefix, keys)
	return ""
}

// signAs posts /sign with the given Origin header and returns the status,
// the signature (on success) and the body as received.
func signAs(t *testing.T, c *http.Client, addr, origin, keyURI string, digest []byte, requestID string, cp *capture) (int, []byte, []byte) {
	t.Helper()
	r, err := postSign(c, addr, origin, keyURI, digest, requestID)
	require.NoError(t, err, "POST /sign")
	if cp != nil {
		cp.add(r)
	}
	var out struct {
		Signature string `json:"signature"`
	}
	_ = json.Unmarshal(r.Body, &out)
	sig, _ := base64.StdEncoding.DecodeString(out.Signature)
	return r.Status, sig, r.Body
}

// secretToken creates a token with its own PINs and one ECDSA key with a
// certificate; it is deleted when the test ends.
func secretToken(t *testing.T, label, userPIN, soPIN string) (*softhsmtest.Token, *softhsmtest.Key) {
	t.Helper()
	tok, err := hsmEnv.CreateToken(label, userPIN, soPIN)
	require.NoError(t, err, "create token %s", label)
	t.Cleanup(func() { tok.Remove() })
	pki, err := softhsmtest.DefaultPKI()
	require.NoError(t, err)
	key, err := tok.AddKeyWithCert(pki, softhsmtest.KeySpec{Label: "sig", ID: []byte{0x01}, Type: softhsmtest.ECP256}, softhsmtest.IssueOptions{})
	require.NoError(t, err, "key on %s", label)
	return tok, key
}

// writeSecret writes a PIN or password file (mode 0600).
func writeSecret(t *testing.T, path, secret string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(secret+"\n"), 0o600))
}

// keyOnToken returns the URI of the (first) key on the token labelled label.
func keyOnToken(t *testing.T, keys []exampleKey, label string) string {
	t.Helper()
	for _, k := range keys {
		if strings.HasPrefix(k.URI, "pkcs11:") && strings.Contains(k.URI+";", ";token="+label+";") || strings.HasPrefix(k.URI, "pkcs11:token="+label+";") {
			return k.URI
		}
	}
	t.Fatalf("no key on token %s in %+v", label, keys)
	return ""
}
