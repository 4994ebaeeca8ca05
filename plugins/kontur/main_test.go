package kontur_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/pgtest"
	konturclient "github.com/signet-agent/signet/sdk/kontur"
	"github.com/signet-agent/signet/sdk/plugintest"
)

func TestMain(m *testing.M) { plugintest.Main(m) }

const pluginPkg = "github.com/signet-agent/signet/plugins/kontur/cmd/signet-plugin-kontur"

// Test credentials: the API key of account "acme" and of account "other".
const (
	acmeKey  = "acme-api-key-0123456789"
	otherKey = "other-api-key-9876543210"
)

func sha(s string) string { s2 := sha256.Sum256([]byte(s)); return hex.EncodeToString(s2[:]) }

// env is one test's database, code inbox and replicas.
type env struct {
	t     *testing.T
	db    *pgtest.Cluster
	inbox string // the file notifier's file

	mu    sync.Mutex
	signs map[string]int // host Sign questions per task id
}

func newEnv(t *testing.T) *env {
	return &env{t: t, db: pgtest.Start(t), inbox: filepath.Join(t.TempDir(), "codes.jsonl"), signs: map[string]int{}}
}

// replica is one host running the plugin against the shared database.
type replica struct {
	*plugintest.Host
	client *konturclient.Client
}

type replicaOptions struct {
	name      string
	testTools bool
	extra     string // more YAML appended to the plugin configuration
	decide    func(ctx context.Context, q plugintest.Question) error
}

// startReplica starts a host with the kontur plugin; every replica shares
// the database, the token and the code inbox.
func (e *env) startReplica(o replicaOptions) *replica {
	t := e.t
	key := e.keyURI(o)
	decide := o.decide
	consent := plugintest.Decide(func(ctx context.Context, q plugintest.Question) error {
		if q.Kind == plugintest.Sign {
			e.mu.Lock()
			e.signs[strings.SplitN(q.RequestID, "/", 2)[0]]++
			e.mu.Unlock()
		}
		if decide != nil {
			return decide(ctx, q)
		}
		return nil
	})
	h := plugintest.Start(t, pluginPkg, &plugintest.Config{
		Options: map[string]string{"config": e.config(t, o, key)},
		Consent: consent,
	})
	return &replica{Host: h, client: &konturclient.Client{BaseURL: "http://" + h.Addr("api"), APIKey: acmeKey}}
}

// rsaKeyURI is the RSA key's URI on the test process's one token (its
// serial differs per process), found once with a first host.
var (
	rsaKeyOnce sync.Once
	rsaKeyURI  string
)

func (e *env) keyURI(o replicaOptions) string {
	rsaKeyOnce.Do(func() {
		probe := plugintest.Start(e.t, pluginPkg, &plugintest.Config{Options: map[string]string{"config": e.config(e.t, o, "pkcs11:object=probe")}})
		rsaKeyURI = probe.KeyURI(e.t, plugintest.KeyRSA)
	})
	return rsaKeyURI
}

func (e *env) config(t *testing.T, o replicaOptions, key string) string {
	cfg := fmt.Sprintf(`database: {dsn: %q}
replica: %q
test_tools: %v
lease: 3s
sweep: 200ms
notifier: {file: %q}
accounts:
  - id: acme
    keys: [%q]
    recipient: "+998900000001"
    api_key_sha256: [%s]
  - id: auto
    keys: [%q]
    confirm: none
    api_key_sha256: [%s]
  - id: other
    keys: [%q]
    api_key_sha256: [%s]
%s`, e.db.DSN("signet"), o.name, o.testTools, e.inbox, key, sha(acmeKey), key, sha(acmeKey), key, sha(otherKey), o.extra)
	path := filepath.Join(t.TempDir(), "kontur.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	return path
}

// code reads the code sent for request id from the inbox.
func (e *env) code(requestID string) string {
	e.t.Helper()
	f, err := os.Open(e.inbox)
	require.NoError(e.t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var n struct {
			RequestID string `json:"request-id"`
			Code      string `json:"code"`
		}
		require.NoError(e.t, json.Unmarshal(sc.Bytes(), &n))
		if n.RequestID == requestID {
			return n.Code
		}
	}
	e.t.Fatalf("no code was sent for request %s", requestID)
	return ""
}

func (e *env) signsOf(task string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.signs[task]
}

// opensslVerify checks a detached CMS signature of content with OpenSSL.
func opensslVerify(t *testing.T, h *plugintest.Host, sig, content []byte) {
	t.Helper()
	dir := t.TempDir()
	in, doc := filepath.Join(dir, "doc.p7s"), filepath.Join(dir, "doc")
	require.NoError(t, os.WriteFile(in, sig, 0o600))
	require.NoError(t, os.WriteFile(doc, content, 0o600))
	out, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", in,
		"-content", doc, "-CAfile", h.Chain(t, plugintest.KeyRSA).CAFile, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
	require.NoError(t, err, "openssl cms -verify: %s", out)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
