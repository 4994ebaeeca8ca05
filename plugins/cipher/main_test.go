package cipher_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/plugintest"
)

func TestMain(m *testing.M) { plugintest.Main(m) }

// pkg is the plugin binary under test.
const pkg = "github.com/signet-agent/signet/plugins/cipher/cmd/signet-plugin-cipher"

// portal is the Origin the tests' pages claim.
const portal = "https://portal.example"

// api is a client of one plugin's Cipher API as one origin.
type api struct {
	t      testing.TB
	h      *plugintest.Host
	origin string // "" sends no Origin
}

// response is one reply.
type response struct {
	status int
	body   []byte
	header http.Header
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "reply is not a JSON object: %s", r.body)
	return m
}

// do sends one request; body is marshalled unless it is []byte or
// string (sent as is, with contentType).
func (a api) do(method, path, contentType string, body any) response {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(a.t, err)
		rd = bytes.NewReader(j)
		if contentType == "" {
			contentType = "application/json"
		}
	}
	req, err := http.NewRequest(method, "https://"+a.h.Addr("https")+"/api/v1"+path, rd)
	require.NoError(a.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if a.origin != "" {
		req.Header.Set("Origin", a.origin)
	}
	resp, err := a.h.HTTPClient().Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	return response{status: resp.StatusCode, body: b, header: resp.Header}
}

// must sends a request that must answer 200 and returns its JSON.
func (a api) must(method, path, contentType string, body any) map[string]any {
	a.t.Helper()
	r := a.do(method, path, contentType, body)
	require.Equal(a.t, http.StatusOK, r.status, "%s %s: %s", method, path, r.body)
	return r.json(a.t)
}

// newTicket creates a ticket and uploads data (octet-stream).
func (a api) newTicket(data []byte) string {
	a.t.Helper()
	id, _ := a.must("POST", "/ticket", "text/plain", "")["ticketUuid"].(string)
	require.NotEmpty(a.t, id)
	if data != nil {
		a.must("POST", "/ticket/"+id+"/data", "application/octet-stream", data)
	}
	return id
}

// signature fetches ds/base64Data and decodes it.
func (a api) signature(id string) []byte {
	a.t.Helper()
	m := a.must("GET", "/ticket/"+id+"/ds/base64Data", "", nil)
	sig, err := base64.StdEncoding.DecodeString(m["base64Data"].(string))
	require.NoError(a.t, err)
	return sig
}

// opensslVerify checks sig with OpenSSL against the test CA; content is
// the detached content (nil for an attached signature), whose
// encapsulated content OpenSSL must then output.
func opensslVerify(t testing.TB, h *plugintest.Host, sig, content []byte, want []byte) {
	t.Helper()
	dir := t.TempDir()
	sigFile := filepath.Join(dir, "sig.p7s")
	require.NoError(t, os.WriteFile(sigFile, sig, 0o600))
	args := []string{"cms", "-verify", "-binary", "-inform", "DER", "-in", sigFile,
		"-CAfile", h.Chain(t, plugintest.KeyRSA).CAFile, "-purpose", "any", "-out", filepath.Join(dir, "out")}
	if content != nil {
		cf := filepath.Join(dir, "content")
		require.NoError(t, os.WriteFile(cf, content, 0o600))
		args = append(args, "-content", cf)
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	require.NoError(t, err, "openssl cms -verify: %s", out)
	got, err := os.ReadFile(filepath.Join(dir, "out"))
	require.NoError(t, err)
	require.Equal(t, want, got, "the content OpenSSL verified")
}
