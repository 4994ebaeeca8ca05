package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/signet-agent/signet/softhsm-config/softhsmtest"
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

type pinSource struct {
	Token, File, Env string
}

// startAgentWith starts `signet serve` with the example plugin, an
// allow-all unattended rule and the given setup.
func startAgentWith(t *testing.T, s agentSetup) *agent {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "keystore:\n  pkcs11_modules: [%s]\n", hsmEnv.Module)
	if len(s.PFXFiles) > 0 {
		b.WriteString("  pfx_files:\n")
		for _, f := range s.PFXFiles {
			fmt.Fprintf(&b, "    - %q\n", f)
		}
	}
	fmt.Fprintf(&b, "data_dir: %s\nplugin_dir: %s\n", filepath.Join(dir, "data"), filepath.Join(dir, "no-plugins"))
	fmt.Fprintf(&b, "plugins:\n  - name: example\n    path: %s\n    listen: [\"127.0.0.1:0\"]\n", filepath.Join(binDir, "signet-plugin-example"))
	b.WriteString("policy:\n")
	if len(s.Deny) > 0 {
		b.WriteString("  deny:\n")
		for _, d := range s.Deny {
			fmt.Fprintf(&b, "    - %q\n", d)
		}
	}
	b.WriteString("  unattended:\n    rules:\n      - {origin: \"*\", action: allow}\n")
	if len(s.PINSources) > 0 {
		b.WriteString("    pin_sources:\n")
		for _, p := range s.PINSources {
			if p.File != "" {
				fmt.Fprintf(&b, "      - {token: %q, file: %q}\n", p.Token, p.File)
			} else {
				fmt.Fprintf(&b, "      - {token: %q, env: %q}\n", p.Token, p.Env)
			}
		}
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
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
	resp, err := c.Get("https://" + addr + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if cp != nil {
		cp.add(httpReply{resp.StatusCode, data})
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /keys: %d %s", resp.StatusCode, data)
	}
	var keys []exampleKey
	if err := json.Unmarshal(data, &keys); err != nil {
		t.Fatalf("GET /keys: %v: %s", err, data)
	}
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
	body, _ := json.Marshal(map[string]string{"key": keyURI, "digest": base64.StdEncoding.EncodeToString(digest), "request_id": requestID})
	req, err := http.NewRequest("POST", "https://"+addr+"/sign", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST /sign: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if cp != nil {
		cp.add(httpReply{resp.StatusCode, data})
	}
	var out struct {
		Signature string `json:"signature"`
	}
	_ = json.Unmarshal(data, &out)
	sig, _ := base64.StdEncoding.DecodeString(out.Signature)
	return resp.StatusCode, sig, data
}

// secretToken creates a token with its own PINs and one ECDSA key with a
// certificate; it is deleted when the test ends.
func secretToken(t *testing.T, label, userPIN, soPIN string) (*softhsmtest.Token, *softhsmtest.Key) {
	t.Helper()
	tok, err := hsmEnv.CreateToken(label, userPIN, soPIN)
	if err != nil {
		t.Fatalf("create token %s: %v", label, err)
	}
	t.Cleanup(func() { tok.Remove() })
	pki, err := softhsmtest.DefaultPKI()
	if err != nil {
		t.Fatal(err)
	}
	key, err := tok.AddKeyWithCert(pki, softhsmtest.KeySpec{Label: "sig", ID: []byte{0x01}, Type: softhsmtest.ECP256}, softhsmtest.IssueOptions{})
	if err != nil {
		t.Fatalf("key on %s: %v", label, err)
	}
	return tok, key
}

// writeSecret writes a PIN or password file (mode 0600).
func writeSecret(t *testing.T, path, secret string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
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
