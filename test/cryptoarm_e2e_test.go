package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
)

// caPortal is a CryptoARM service over TLS for the e2e tests: canned jobs
// by transaction id, files under /files/, every notification recorded.
type caPortal struct {
	srv   *httptest.Server
	mu    sync.Mutex
	jobs  map[string]any
	files map[string][]byte
	got   []caNotification
}

type caNotification struct {
	Path   string
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

func newCAPortal(t *testing.T) (*caPortal, []byte) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "portal.e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	p := &caPortal{jobs: map[string]any{}, files: map[string][]byte{}}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k}}}
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func (p *caPortal) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if r.Method == http.MethodGet {
		p.mu.Lock()
		data, ok := p.files[strings.TrimPrefix(r.URL.Path, "/files/")]
		p.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
		return
	}
	n := caNotification{Path: r.URL.Path}
	_ = json.Unmarshal(body, &n)
	if strings.HasSuffix(n.Method, ".parameters") {
		id := r.URL.Query().Get("id")
		p.mu.Lock()
		res := p.jobs[id]
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "result": res, "id": id})
		return
	}
	p.mu.Lock()
	p.got = append(p.got, n)
	p.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (p *caPortal) url(path string) string { return p.srv.URL + path }

// wait returns the notification for transaction id.
func (p *caPortal) wait(t *testing.T, a *agent, id string) map[string]any {
	t.Helper()
	var params map[string]any
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, n := range p.got {
			var m map[string]any
			if json.Unmarshal(n.Params, &m) == nil && m["id"] == id {
				params = m
				return true
			}
		}
		return false
	}, 90*time.Second, 50*time.Millisecond, "no result for %s; agent log:\n%s", id, a.log.String())
	return params
}

// TestCryptoARME2E: `signet open 'cryptoarm://signAndEncrypt/https://…?id=…'`
// against the real agent and plugin with SoftHSM: the portal's SIGN jobs
// (detached DER, attached BASE64) come back signed with the token's RSA key
// and OpenSSL verifies every signature against the test CA; its ENCRYPT job
// comes back as envelopes OpenSSL decrypts with the recipient's key.
func TestCryptoARME2E(t *testing.T) {
	portal, portalPEM := newCAPortal(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "portal-ca.pem")
	require.NoError(t, os.WriteFile(caFile, portalPEM, 0o600))
	chainFile := filepath.Join(dir, "chain.pem")
	require.NoError(t, os.WriteFile(chainFile, append(
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fixture.PKI.Root.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fixture.PKI.Intermediate.Raw})...), 0o600))

	// The recipient of the envelopes: a key only OpenSSL holds.
	rk, rc := filepath.Join(dir, "recipient.key"), filepath.Join(dir, "recipient.crt")
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", rk, "-out", rc,
		"-subj", "/CN=recipient", "-days", "1").CombinedOutput()
	require.NoError(t, err, "%s", out)
	rcPEM, err := os.ReadFile(rc)
	require.NoError(t, err)
	rcBlock, _ := pem.Decode(rcPEM)

	files := map[string][]byte{"contract.txt": []byte("the contract\n"), "annex.bin": {0, 1, 2, 0xff, '\n'}}
	portal.mu.Lock()
	for n, d := range files {
		portal.files[n] = d
	}
	fileList := []map[string]any{
		{"name": "contract.txt", "url": portal.url("/files/contract.txt"), "id": "f1"},
		{"name": "annex.bin", "url": portal.url("/files/annex.bin"), "id": 2},
	}
	portal.jobs["sign-der"] = map[string]any{"operation": []string{"SIGN"}, "props": map[string]any{
		"uploader": portal.url("/upload"), "files": fileList, "extra": map[string]any{"signType": 1, "signStandart": "0", "signEncoding": 1}}}
	portal.jobs["sign-b64"] = map[string]any{"operation": []string{"SIGN"}, "props": map[string]any{
		"uploader": portal.url("/upload"), "files": fileList[:1], "extra": map[string]any{"signType": "0", "signStandard": 0, "signEncoding": "0"}}}
	portal.jobs["encrypt"] = map[string]any{"operation": []string{"ENCRYPT"}, "props": map[string]any{
		"uploader": portal.url("/upload"), "files": fileList, "extra": map[string]any{"encryptEncoding": 1, "recipients": []string{base64.StdEncoding.EncodeToString(rcBlock.Bytes)}}}}
	portal.mu.Unlock()

	a := startAgentWithCryptoARM(t, dir, map[string]string{
		"state_dir": filepath.Join(dir, "cryptoarm-state"), "ca_file": caFile,
		"signing_key": "pkcs11:token=" + tokenLabel + ";id=%01",
	})
	open := func(id string) {
		link := "cryptoarm://signAndEncrypt/" + portal.url("/json?id="+id)
		out, err := exec.Command(filepath.Join(binDir, "signet"), "open", "--socket", a.socket, link).CombinedOutput()
		require.NoError(t, err, "signet open: %s", out)
	}

	for _, id := range []string{"sign-der", "sign-b64", "encrypt"} {
		open(id)
	}
	verify := func(sig []byte, inform string, content []byte) {
		t.Helper()
		sigFile := filepath.Join(t.TempDir(), "sig")
		require.NoError(t, os.WriteFile(sigFile, sig, 0o600))
		args := []string{"cms", "-verify", "-binary", "-inform", inform, "-in", sigFile, "-CAfile", chainFile, "-purpose", "any"}
		if content != nil {
			cf := filepath.Join(t.TempDir(), "content")
			require.NoError(t, os.WriteFile(cf, content, 0o600))
			args = append(args, "-content", cf, "-out", os.DevNull)
		} else {
			args = append(args, "-out", filepath.Join(t.TempDir(), "out"))
		}
		out, err := exec.Command("openssl", args...).CombinedOutput()
		require.NoError(t, err, "openssl cms -verify: %s", out)
		assert.Contains(t, string(out), "Verification successful")
	}
	results := func(p map[string]any, member string) []map[string]any {
		var out []map[string]any
		list, ok := p[member].([]any)
		require.True(t, ok, "no %s in %v; agent log:\n%s", member, p, a.log.String())
		for _, r := range list {
			out = append(out, r.(map[string]any))
		}
		return out
	}
	decode := func(v any) []byte {
		d, err := base64.StdEncoding.DecodeString(v.(string))
		require.NoError(t, err)
		return d
	}

	der := results(portal.wait(t, a, "sign-der"), "directResults")
	require.Len(t, der, 2)
	assert.Equal(t, "f1", der[0]["id"])
	assert.EqualValues(t, 2, der[1]["id"])
	verify(decode(der[0]["out"]), "DER", files["contract.txt"])
	verify(decode(der[1]["out"]), "DER", files["annex.bin"])

	b64 := results(portal.wait(t, a, "sign-b64"), "directResults")
	require.Len(t, b64, 1)
	pemSig := decode(b64[0]["out"])
	assert.True(t, strings.HasPrefix(string(pemSig), "-----BEGIN CMS-----"))
	verify(pemSig, "PEM", nil)

	enc := results(portal.wait(t, a, "encrypt"), "directResults")
	require.Len(t, enc, 2)
	for i, name := range []string{"contract.txt", "annex.bin"} {
		ef := filepath.Join(t.TempDir(), "env")
		require.NoError(t, os.WriteFile(ef, decode(enc[i]["out"]), 0o600))
		plain, err := exec.Command("openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", ef, "-recip", rc, "-inkey", rk).Output()
		require.NoError(t, err, "openssl cms -decrypt %s", name)
		assert.Equal(t, files[name], plain)
	}
}

// TestCryptoARMLocalJobE2E: a local job file handed over with
// `signet open 'cryptoarm://signAndEncrypt/file:///…/job.json'` signs its
// file with the token's key into the uploader folder, under a new name
// when the result exists; OpenSSL verifies both signatures.
func TestCryptoARMLocalJobE2E(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	require.NoError(t, os.Mkdir(out, 0o700))
	doc := filepath.Join(dir, "doc.txt")
	require.NoError(t, os.WriteFile(doc, []byte("local document\n"), 0o600))
	job := `{"jsonrpc":"2.0","id":"l-1","result":{"operation":["SIGN"],"props":{"uploader":"file://` + out + `/",
	 "files":[{"name":"doc.txt","url":"file://` + doc + `","id":"0"}],"extra":{"signType":"1","signStandard":"0","signEncoding":"1"}}}}`
	jobFile := filepath.Join(dir, "job.json")
	require.NoError(t, os.WriteFile(jobFile, []byte(job), 0o600))
	chainFile := filepath.Join(dir, "chain.pem")
	require.NoError(t, os.WriteFile(chainFile, append(
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fixture.PKI.Root.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fixture.PKI.Intermediate.Raw})...), 0o600))
	a := startAgentWithCryptoARM(t, dir, map[string]string{
		"state_dir": filepath.Join(dir, "cryptoarm-state"), "signing_key": "pkcs11:token=" + tokenLabel + ";id=%01"})

	for _, want := range []string{"doc.txt.sig", "doc (1).txt.sig"} {
		o, err := exec.Command(filepath.Join(binDir, "signet"), "open", "--socket", a.socket, "cryptoarm://signAndEncrypt/file://"+jobFile).CombinedOutput()
		require.NoError(t, err, "signet open: %s", o)
		sig := filepath.Join(out, want)
		require.Eventually(t, func() bool {
			fi, err := os.Stat(sig)
			return err == nil && fi.Size() > 0
		}, 90*time.Second, 50*time.Millisecond, "no %s; agent log:\n%s", want, a.log.String())
		o, err = exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-content", doc,
			"-CAfile", chainFile, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
		require.NoError(t, err, "openssl cms -verify: %s", o)
	}
}

// startAgentWithCryptoARM runs `signet serve` with the CryptoARM plugin
// (no listeners), the e2e token and the allow-all unattended policy.
func startAgentWithCryptoARM(t *testing.T, dir string, options map[string]string) *agent {
	t.Helper()
	pinFile := filepath.Join(dir, "pin")
	require.NoError(t, os.WriteFile(pinFile, []byte(softhsmtest.DefaultUserPIN+"\n"), 0o600))
	cfg := newAgentConfig(dir)
	cfg.Plugins = append(cfg.Plugins, pluginConf{Name: "cryptoarm", Path: filepath.Join(binDir, "signet-plugin-cryptoarm"), Options: options})
	cfg.Policy.Unattended = unattendedConf{
		Rules:      []ruleConf{allowAll},
		PINSources: []pinSource{{Token: "pkcs11:token=" + tokenLabel, File: pinFile}},
	}
	return launchAgent(t, dir, writeConfig(t, dir, cfg), nil)
}
