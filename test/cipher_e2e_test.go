package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/internal/softhsmtest"
)

// cipherPortalName is the public name portals call; the configuration
// names it for the plugin.
const cipherPortalName = "local.cipher.kiev.ua"

// cipherAgent is `signet serve` with the Cipher plugin, a PFX file and the
// e2e token, unattended (allow all, PIN and password from files).
type cipherAgent struct {
	*agent
	addr, addr9090 string
	pfxPath        string
	pfxKey         *softhsmtest.SoftwareKey
	ticketDir      string
	http           *http.Client
}

// Ukrainian national identifiers in the PFX key's certificate (subject
// directory attributes, as Ukrainian CAs issue them).
const (
	cipherDRFOU  = "1234567890"
	cipherEDRPOU = "12345678"
)

func startCipherAgent(t testing.TB, options ...string) *cipherAgent {
	t.Helper()
	return startCipherAgentNames(t, []string{cipherPortalName}, options...)
}

// startCipherAgentNames is startCipherAgent with names as the listeners'
// configured TLS names.
func startCipherAgentNames(t testing.TB, names []string, options ...string) *cipherAgent {
	t.Helper()
	dir := t.TempDir()
	pki, err := softhsmtest.DefaultPKI()
	require.NoError(t, err)
	k, err := softhsmtest.NewSoftwareKey(softhsmtest.RSA2048)
	require.NoError(t, err)
	k.Certificate, err = pki.Issue(k.Key.Public(), softhsmtest.IssueOptions{
		Subject:         pkix.Name{CommonName: "Шевченко Тарас Григорович", SerialNumber: "TINUA-" + cipherDRFOU, Country: []string{"UA"}},
		ExtraExtensions: []pkix.Extension{subjectDirectoryAttributes(t)},
	})
	require.NoError(t, err)
	pfx := filepath.Join(dir, "keys", "Key-6.pfx")
	require.NoError(t, os.MkdirAll(filepath.Dir(pfx), 0o700))
	require.NoError(t, softhsmtest.WritePFX(pfx, k.Key, k.Certificate, pki.Chain(), "Пароль-1", softhsmtest.Modern))

	cfg := newAgentConfig(dir)
	cfg.Keystore.PFXFiles = []string{pfx}
	ticketDir := filepath.Join(dir, "tickets")
	cfg.Plugins = []pluginConf{{Name: "cipher", Path: filepath.Join(binDir, "signet-plugin-cipher"),
		Listen: []listenConf{
			{Name: "https", Bind: "127.0.0.1:0", Names: names},
			{Name: "https9090", Bind: "127.0.0.1:0", Names: names},
		},
		Options: map[string]string{"temp_dir": ticketDir}}}
	for i := 0; i+1 < len(options); i += 2 {
		cfg.Plugins[0].Options[options[i]] = options[i+1]
	}
	pin := filepath.Join(dir, "pin")
	pass := filepath.Join(dir, "pfx-password")
	require.NoError(t, os.WriteFile(pin, []byte(softhsmtest.DefaultUserPIN), 0o600))
	require.NoError(t, os.WriteFile(pass, []byte("Пароль-1"), 0o600))
	cfg.Policy = policyConf{Unattended: unattendedConf{Rules: []ruleConf{allowAll}, PINSources: []pinSource{
		{Token: "pkcs11:token=" + tokenLabel, File: pin}, {Token: "file://" + pfx, File: pass}}}}
	a := &cipherAgent{agent: launchAgent(t, dir, writeConfig(t, dir, cfg), nil), pfxPath: pfx, pfxKey: k, ticketDir: ticketDir}
	a.findListeners(t)
	a.http = a.portalClient()
	return a
}

// findListeners reads the plugin's bound addresses (they change when the
// host restarts it: the configuration binds port 0).
func (a *cipherAgent) findListeners(t testing.TB) {
	t.Helper()
	p := a.plugin("cipher")
	require.Equal(t, host.Running, p.State, "cipher plugin: %s", p.LastError)
	for _, l := range p.Listeners {
		switch l.Name {
		case "https":
			a.addr = l.Addr
		case "https9090":
			a.addr9090 = l.Addr
		}
	}
	require.NotEmpty(t, a.addr)
	require.NotEmpty(t, a.addr9090)
}

// subjectDirectoryAttributes carries DRFOU and EDRPOU.
func subjectDirectoryAttributes(t testing.TB) pkix.Extension {
	type attr struct {
		Type   asn1.ObjectIdentifier
		Values []asn1.RawValue `asn1:"set"`
	}
	utf8 := func(s string) []asn1.RawValue {
		b, err := asn1.MarshalWithParams(s, "utf8")
		require.NoError(t, err)
		return []asn1.RawValue{{FullBytes: b}}
	}
	v, err := asn1.Marshal([]attr{
		{asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 11, 1, 4, 1, 1}, utf8(cipherDRFOU)},
		{asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 11, 1, 4, 2, 1}, utf8(cipherEDRPOU)},
	})
	require.NoError(t, err)
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 9}, Value: v}
}

// portalClient trusts the agent's CA only and reaches the plugin under the
// portal name, as a browser whose DNS resolves it to loopback.
func (a *cipherAgent) portalClient() *http.Client {
	base := a.client()
	tr := base.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.ServerName = cipherPortalName
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, _ := net.SplitHostPort(addr)
		if host == cipherPortalName {
			for _, l := range []string{a.addr, a.addr9090} {
				if _, p, _ := net.SplitHostPort(l); p == port {
					addr = l
				}
			}
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// call sends one request to https://local.cipher.kiev.ua:<port>/api/v1.
func (a *cipherAgent) call(t testing.TB, origin, method, path, contentType string, body []byte) (int, []byte) {
	t.Helper()
	return a.callReader(t, origin, method, path, contentType, bytes.NewReader(body))
}

// callReader is call with a streamed body.
func (a *cipherAgent) callReader(t testing.TB, origin, method, path, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	_, port, _ := net.SplitHostPort(a.addr)
	req, err := http.NewRequest(method, "https://"+cipherPortalName+":"+port+"/api/v1"+path, body)
	require.NoError(t, err)
	if f, ok := body.(*os.File); ok { // as browsers and curl do: a length, not chunks
		fi, err := f.Stat()
		require.NoError(t, err)
		req.ContentLength = fi.Size()
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := a.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

func (a *cipherAgent) must(t testing.TB, origin, method, path string, body any) map[string]any {
	t.Helper()
	var raw []byte
	ct := "text/plain"
	switch b := body.(type) {
	case nil:
	case []byte:
		raw, ct = b, "application/octet-stream"
	default:
		var err error
		raw, err = json.Marshal(b)
		require.NoError(t, err)
		ct = "application/json"
	}
	st, out := a.call(t, origin, method, path, ct, raw)
	require.Equal(t, http.StatusOK, st, "%s %s: %s", method, path, out)
	var m map[string]any
	require.NoError(t, json.Unmarshal(out, &m), "%s", out)
	return m
}

// sign runs the documented flow and returns the signature.
func (a *cipherAgent) sign(t testing.TB, origin, keyStore string, doc []byte, options map[string]any) []byte {
	t.Helper()
	id := a.must(t, origin, "POST", "/ticket", nil)["ticketUuid"].(string)
	a.must(t, origin, "POST", "/ticket/"+id+"/data", doc)
	a.must(t, origin, "PUT", "/ticket/"+id+"/option", options)
	a.must(t, origin, "PUT", "/ticket/"+id+"/keyStore", map[string]string{"keyStorePath": keyStore})
	a.must(t, origin, "POST", "/ticket/"+id+"/ds/creator", map[string]string{"keyStorePassword": "never used"})
	sig, err := base64.StdEncoding.DecodeString(a.must(t, origin, "GET", "/ticket/"+id+"/ds/base64Data", nil)["base64Data"].(string))
	require.NoError(t, err)
	a.must(t, origin, "DELETE", "/ticket/"+id, nil)
	return sig
}

// opensslCipherVerify verifies sig with OpenSSL against the test PKI.
func opensslCipherVerify(t testing.TB, sig, doc []byte, detached bool) {
	t.Helper()
	pki, err := softhsmtest.DefaultPKI()
	require.NoError(t, err)
	opensslCMSVerify(t, sig, doc, detached, pki.Root, pki.Intermediate)
}

// TestCipherE2ESignPFXAndSoftHSM: the real agent and plugin, reached as
// local.cipher.kiev.ua (the configured name), sign with a PFX file and a
// SoftHSM key, attached and detached; OpenSSL verifies every signature.
func TestCipherE2ESignPFXAndSoftHSM(t *testing.T) {
	a := startCipherAgent(t)
	doc := []byte("Договір №42\n")
	for _, ks := range []string{a.pfxPath, "pkcs11:token=" + tokenLabel + ";object=" + softhsmtest.KeyRSA, "pkcs11:token=" + tokenLabel + ";object=" + softhsmtest.KeyECDSA} {
		for _, detached := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/detached=%v", filepath.Base(ks), detached), func(t *testing.T) {
				typ := "attached"
				if detached {
					typ = "detached"
				}
				sig := a.sign(t, "https://portal.example", ks, doc, map[string]any{"caId": "signet", "signatureType": typ, "embedCertificateType": "signerAndCaCert"})
				opensslCipherVerify(t, sig, doc, detached)
			})
		}
	}

	// keyStore/verifier reads the PFX key's certificate as PHP clients do.
	id := a.must(t, "", "POST", "/ticket", nil)["ticketUuid"].(string)
	a.must(t, "", "PUT", "/ticket/"+id+"/keyStore", map[string]string{"keyStorePath": a.pfxPath})
	v := a.must(t, "", "PUT", "/ticket/"+id+"/keyStore/verifier", map[string]string{"keyStorePassword": "never used"})
	sig := v["signature"].(map[string]any)
	assert.Equal(t, true, sig["canBeUsed"])
	info := sig["certificateInfo"].(map[string]any)
	pd := info["extensionsCertificateInfo"].(map[string]any)["value"].(map[string]any)["personalData"].(map[string]any)["value"].(map[string]any)
	assert.Equal(t, cipherEDRPOU, pd["edrpou"])
	assert.Equal(t, cipherDRFOU, pd["drfou"])
	assert.Equal(t, a.pfxKey.Certificate.NotAfter.UTC().Format(time.RFC3339), info["notAfter"].(map[string]any)["value"])

	// The certificate the portal sees names local.cipher.kiev.ua.
	conn, err := tls.Dial("tcp", a.addr, &tls.Config{ServerName: cipherPortalName, RootCAs: a.http.Transport.(*http.Transport).TLSClientConfig.RootCAs})
	require.NoError(t, err)
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	assert.Contains(t, leaf.DNSNames, cipherPortalName)
}

// TestCipherE2ETicketFilesGoneOnRestart: a plugin killed with its tickets'
// files on disk is restarted by the host and wipes them at start; a
// ticket of the killed process is gone too.
func TestCipherE2ETicketFilesGoneOnRestart(t *testing.T) {
	a := startCipherAgent(t)
	id := a.must(t, "https://portal.example", "POST", "/ticket", nil)["ticketUuid"].(string)
	a.must(t, "https://portal.example", "POST", "/ticket/"+id+"/data", bytes.Repeat([]byte("x"), 1<<20))
	p := a.plugin("cipher")
	// Each plugin process keeps its tickets in its own run directory.
	runDir := func(pid int) string { return filepath.Join(a.ticketDir, fmt.Sprintf("run-%d", pid)) }
	entries, err := os.ReadDir(filepath.Join(runDir(p.PID), id))
	require.NoError(t, err)
	require.Len(t, entries, 1)

	require.NoError(t, syscall.Kill(p.PID, syscall.SIGKILL))
	var q host.PluginStatus
	require.Eventually(t, func() bool {
		q = a.plugin("cipher")
		return q.State == host.Running && q.PID != p.PID
	}, 60*time.Second, 100*time.Millisecond, "the host restarts the plugin")
	a.findListeners(t)
	st, body := a.call(t, "https://portal.example", "GET", "/ticket/"+id+"/ds/creator", "", nil)
	assert.Equal(t, http.StatusBadRequest, st, "%s", body)
	assert.NoDirExists(t, runDir(p.PID), "the files of the killed process's tickets are removed at start")
	left, err := os.ReadDir(a.ticketDir)
	require.NoError(t, err)
	require.Len(t, left, 1, "only the new process's run directory remains")
	assert.Equal(t, filepath.Base(runDir(q.PID)), left[0].Name())
	inRun, err := os.ReadDir(runDir(q.PID))
	require.NoError(t, err)
	assert.Empty(t, inRun)
}

// TestCipherE2EAccessTokenRace: under `signet serve` with an unattended
// policy (which allows without a grant, so the plugin counts the uses), 32
// racing signatures on a 5-use access token make exactly 5 signatures, and
// another origin cannot use the token.
func TestCipherE2EAccessTokenRace(t *testing.T) {
	a := startCipherAgent(t, "access_token_key", "pkcs11:token="+tokenLabel+";object="+softhsmtest.KeyRSA)
	const portal = "https://portal.example"
	tok := a.must(t, portal, "POST", "/accessToken", map[string]any{"accessTimesNumber": 5, "metaData": "<b>32 files</b>"})["accessTokenUuid"].(string)
	ids := make([]string, 32)
	for i := range ids {
		ids[i] = a.must(t, portal, "POST", "/ticket", nil)["ticketUuid"].(string)
		a.must(t, portal, "POST", "/ticket/"+ids[i]+"/data", []byte(fmt.Sprintf("document %d", i)))
		a.must(t, portal, "PUT", "/ticket/"+ids[i]+"/option", map[string]string{"signatureType": "detached"})
	}
	body, err := json.Marshal(map[string]string{"accessTokenUuid": tok})
	require.NoError(t, err)
	st, out := a.call(t, "https://evil.example", "POST", "/ticket/"+ids[0]+"/ds/creator", "application/json", body)
	assert.Equal(t, http.StatusBadRequest, st, "another origin: %s", out)

	started := make(chan int, len(ids))
	for _, id := range ids {
		go func() {
			st, _ := a.call(t, portal, "POST", "/ticket/"+id+"/ds/creator", "application/json", body)
			started <- st
		}()
	}
	for range ids {
		<-started
	}
	signed := 0
	for i, id := range ids {
		st, out := a.call(t, portal, "GET", "/ticket/"+id+"/ds/base64Data", "", nil)
		if st != http.StatusOK {
			continue
		}
		signed++
		var m map[string]string
		require.NoError(t, json.Unmarshal(out, &m))
		sig, err := base64.StdEncoding.DecodeString(m["base64Data"])
		require.NoError(t, err)
		opensslCipherVerify(t, sig, []byte(fmt.Sprintf("document %d", i)), true)
	}
	assert.Equal(t, 5, signed)
}

// TestCipherE2EPortalNameNeedsConfig: without the configuration naming
// local.cipher.kiev.ua for the plugin, neither listener's certificate
// carries it (the plugin's declaration alone does not widen the CA), and
// the agent says how to allow it.
func TestCipherE2EPortalNameNeedsConfig(t *testing.T) {
	a := startCipherAgentNames(t, nil)
	pool := a.http.Transport.(*http.Transport).TLSClientConfig.RootCAs
	for _, addr := range []string{a.addr, a.addr9090} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost", RootCAs: pool})
		require.NoError(t, err)
		leaf := conn.ConnectionState().PeerCertificates[0]
		conn.Close()
		assert.NotContains(t, leaf.DNSNames, cipherPortalName, addr)
		_, err = tls.Dial("tcp", addr, &tls.Config{ServerName: cipherPortalName, RootCAs: pool})
		assert.Error(t, err, "%s: a browser calling the portal name must fail", addr)
	}
	a.waitLog("ignored TLS names a plugin declares", 10*time.Second)
}
