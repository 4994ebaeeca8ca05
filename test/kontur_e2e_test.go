package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/pgtest"
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/signet-agent/signet/sdk/kontur"
)

// Server mode end to end: `signet serve` replicas with the kontur plugin,
// sharing a throw-away PostgreSQL, signing with the e2e SoftHSM token.

const konturAPIKey = "e2e-acme-api-key-0123456789"

// konturCluster is a database and the replicas serving from it.
type konturCluster struct {
	db       *pgtest.Cluster
	keyURI   string
	replicas []*agent
	addrs    []string
	apiKey   string // file holding konturAPIKey (0600)
}

// startKontur starts n replicas. testTools enables the test-tools
// endpoint (the load tests read codes from it).
func startKontur(t testing.TB, n int, testTools bool) *konturCluster {
	t.Helper()
	kc := &konturCluster{db: pgtest.Start(t), keyURI: cliKeyURI(t, softhsmtest.KeyRSA)}
	kc.apiKey = filepath.Join(t.TempDir(), "api-key")
	require.NoError(t, os.WriteFile(kc.apiKey, []byte(konturAPIKey+"\n"), 0o600))
	for i := 0; i < n; i++ {
		a := startKonturReplica(t, kc, fmt.Sprintf("replica-%d", i+1), testTools)
		kc.replicas = append(kc.replicas, a)
		kc.addrs = append(kc.addrs, "http://"+listenerAddr(t, a, "kontur", "api"))
	}
	return kc
}

func startKonturReplica(t testing.TB, kc *konturCluster, name string, testTools bool) *agent {
	dir := t.TempDir()
	sum := sha256.Sum256([]byte(konturAPIKey))
	kcfg := fmt.Sprintf(`database: {dsn: %q}
replica: %q
test_tools: %v
notifier: {file: %q}
accounts:
  - id: acme
    keys: [%q]
    recipient: "+998900000001"
    api_key_sha256: [%s]
`, kc.db.DSN("signet"), name, testTools, filepath.Join(dir, "codes.jsonl"), kc.keyURI, hex.EncodeToString(sum[:]))
	kpath := filepath.Join(dir, "kontur.yaml")
	require.NoError(t, os.WriteFile(kpath, []byte(kcfg), 0o600))
	pinFile := filepath.Join(dir, "pin")
	require.NoError(t, os.WriteFile(pinFile, []byte(softhsmtest.DefaultUserPIN+"\n"), 0o600))
	cfg := newAgentConfig(dir)
	cfg.Plugins = []pluginConf{{Name: "kontur", Path: filepath.Join(binDir, "signet-plugin-kontur"),
		Listen: []listenConf{anyPort}, Options: map[string]string{"config": kpath}}}
	cfg.Policy.Unattended = unattendedConf{
		// Server mode: the one-time code is the person's consent; the
		// administrator lets the kontur plugin's local caller use the key.
		Rules:      []ruleConf{{Origin: "local", Plugin: "kontur", Action: "allow"}},
		PINSources: []pinSource{{Token: "pkcs11:token=" + tokenLabel, File: pinFile}},
	}
	return launchAgent(t, dir, writeConfig(t, dir, cfg), nil)
}

// cliKeyURI is the URI `signet keys` gives the e2e token's key label.
func cliKeyURI(t testing.TB, label string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "signet"), "keys", "--json", "--module", hsmEnv.Module)
	cmd.Env = hsmEnv.Environ()
	out, err := cmd.Output()
	require.NoError(t, err, "signet keys")
	var keys []struct {
		URI   string `json:"uri"`
		Label string `json:"label"`
	}
	require.NoError(t, json.Unmarshal(out, &keys), "%s", out)
	for _, k := range keys {
		if k.Label == label && bytes.Contains([]byte(k.URI), []byte("token="+tokenLabel)) {
			return k.URI
		}
	}
	t.Fatalf("signet keys lists no key %q on token %s:\n%s", label, tokenLabel, out)
	return ""
}

// TestKonturServerMode: the CLI signs a draft of two files against one
// replica; a reply is initiated on one replica, confirmed on a second and
// fetched from the third; OpenSSL verifies every signature; the journal in
// PostgreSQL chains.
func TestKonturServerMode(t *testing.T) {
	kc := startKontur(t, 3, true)
	dir := t.TempDir()
	files := []string{filepath.Join(dir, "b-annex.txt"), filepath.Join(dir, "a-report.xml")}
	for i, f := range files {
		require.NoError(t, os.WriteFile(f, []byte(fmt.Sprintf("document %d\n", i)), 0o600))
	}
	cmd := exec.Command(filepath.Join(binDir, "signet"), "cloud-sign", "--url", kc.addrs[0], "--account", "acme",
		"--api-key-file", kc.apiKey, "--draft", "draft-1", "--code-from", "test-tools", files[0], files[1])
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "signet cloud-sign: %s", out)
	for _, f := range files {
		sig, err := os.ReadFile(f + ".p7s")
		require.NoError(t, err)
		doc, err := os.ReadFile(f)
		require.NoError(t, err)
		opensslCMSVerify(t, sig, doc, true, fixture.PKI.Root, fixture.PKI.Intermediate)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clients := make([]*kontur.Client, 3)
	for i := range clients {
		clients[i] = &kontur.Client{BaseURL: kc.addrs[i], APIKey: konturAPIKey}
	}
	place := kontur.Reply("acme", "df", "doc", "reply")
	doc := []byte("<reply/>")
	require.NoError(t, clients[0].PutContent(ctx, place, "", bytes.NewReader(doc)))
	in, err := clients[0].CloudSign(ctx, place, false)
	require.NoError(t, err)
	code, err := clients[0].TestCode(ctx, in.RequestID)
	require.NoError(t, err)
	links, err := clients[1].ConfirmSign(ctx, place, in.RequestID, code)
	require.NoError(t, err)
	require.Len(t, links, 1)
	sig, err := clients[2].Bytes(ctx, kontur.Link{Href: kc.addrs[2] + "/v1/acme/docflows/df/documents/doc/replies/reply/signature"})
	require.NoError(t, err)
	opensslCMSVerify(t, sig, doc, true, fixture.PKI.Root, fixture.PKI.Intermediate)

	task, err := clients[2].Task(ctx, place, in.TaskID)
	require.NoError(t, err)
	assert.Equal(t, "succeed", task.State)
	for _, a := range kc.replicas {
		assert.NotContains(t, a.log.String(), code, "the code is in no replica's log")
	}
}
