package cryptoarm_test

import (
	"archive/zip"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/signet-agent/signet/sdk/cms"
	"github.com/signet-agent/signet/sdk/cms/cmstest"
	"github.com/signet-agent/signet/sdk/plugintest"
)

// testSigner is an in-memory signer with a self-signed certificate (the
// signer of the signatures the portal asks to verify).
func testSigner(t *testing.T) (*ecdsa.PrivateKey, *x509.Certificate) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Verifier Test Signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return k, c
}

func job(ops []string, files []map[string]any, extra map[string]any, uploader string) map[string]any {
	return map[string]any{"operation": ops, "props": map[string]any{"uploader": uploader, "files": files, "extra": extra}}
}

// runJob opens the job and returns the params of its result notification.
func runJob(t *testing.T, e *env, id, command, method string, result any) map[string]any {
	t.Helper()
	e.portal.addJob(id, result)
	e.open(t, e.portal.link(command, id))
	var pm map[string]any
	require.Eventually(t, func() bool {
		for _, n := range e.portal.notifications() {
			if n.RPC.Method == method {
				m := params(t, n)
				if m["id"] == id {
					pm = m
					return true
				}
			}
		}
		return false
	}, 60*time.Second, 20*time.Millisecond, "no %s for %s: %v", method, id, e.portal.summary())
	return pm
}

func list(t *testing.T, pm map[string]any, member string) []map[string]any {
	t.Helper()
	l, ok := pm[member].([]any)
	require.True(t, ok, "no %s in %v", member, pm)
	var out []map[string]any
	for _, x := range l {
		out = append(out, x.(map[string]any))
	}
	return out
}

// TestSignAndEncryptOperations runs every signAndEncrypt operation
// against the test portal: VERIFYSIGN (attached, detached pair, tampered),
// UNSIGN, DECRYPT with the token's key, ARCHIVE+SIGN, UNZIP, a CAdES-T
// signature with a timestamp, and the refusals (mixed classes, CAdES
// without tspURL, unknown enum, GOST encryption, an UNZIP entry with a
// path).
func TestSignAndEncryptOperations(t *testing.T) {
	cert, certPEM := portalCert(t)
	p := newPortal(t, cert, "")
	e := start(t, plugintest.AllowAll(), p, [][]byte{certPEM}, nil)
	up := p.url("/upload")
	key, signerCert := testSigner(t)
	content := []byte("signed content")
	attached, err := cms.Sign(content, key, signerCert, nil)
	require.NoError(t, err)
	detached, err := cms.Sign(content, key, signerCert, &cms.SignOptions{Detached: true})
	require.NoError(t, err)
	attachedPEM := pem.EncodeToMemory(&pem.Block{Type: "CMS", Bytes: attached})

	t.Run("VERIFYSIGN", func(t *testing.T) {
		files := []map[string]any{
			{"name": "a.txt.sig", "url": p.addFile("v-a.sig", attachedPEM), "id": "a"},
			{"name": "b.txt", "url": p.addFile("v-b.txt", content), "urlDetached": p.addFile("v-b.sig", detached), "id": "b"},
			{"name": "c.txt", "url": p.addFile("v-c.txt", []byte("tampered")), "urlSign": p.addFile("v-c.sig", detached), "id": "c"},
		}
		pm := runJob(t, e, "verify", "signAndEncrypt", "signAndEncrypt.verifySignResults", job([]string{"VERIFYSIGN"}, files, nil, up))
		res := list(t, pm, "verifySignResults")
		require.Len(t, res, 3)
		// Without a root configured the chains are not checked; the
		// signatures are.
		assert.Equal(t, true, res[0]["status"])
		assert.Equal(t, true, res[1]["status"])
		assert.Equal(t, false, res[2]["status"], "content that does not match")
		signers := res[0]["signers"].([]any)
		require.Len(t, signers, 1)
		assert.Equal(t, "Verifier Test Signer", signers[0].(map[string]any)["subjectFriendlyName"])
		assert.Equal(t, pm["verifySignResults"], pm["reverseResults"], "the document's member too")
	})

	t.Run("UNSIGN", func(t *testing.T) {
		files := []map[string]any{{"name": "a.txt.sig", "url": p.addFile("u-a.sig", attachedPEM), "id": 5}}
		res := list(t, runJob(t, e, "unsign", "signAndEncrypt", "signAndEncrypt.outReverseResults", job([]string{"UNSIGN"}, files, nil, up)), "reverseResults")
		require.Len(t, res, 1)
		assert.Equal(t, content, b64(t, res[0]["out"]))
		assert.Equal(t, "a.txt", res[0]["name"])
		assert.EqualValues(t, 5, res[0]["id"])
	})

	t.Run("DECRYPT", func(t *testing.T) {
		rsa := e.h.Key(t, plugintest.KeyRSA)
		env, err := cms.Encrypt([]byte("secret"), []*x509.Certificate{rsa.Certificate}, cms.EncryptOptions{})
		require.NoError(t, err)
		files := []map[string]any{{"name": "s.txt.enc", "url": p.addFile("s.enc", env), "id": "s"}}
		res := list(t, runJob(t, e, "decrypt", "signAndEncrypt", "signAndEncrypt.outReverseResults", job([]string{"DECRYPT"}, files, nil, up)), "reverseResults")
		require.Len(t, res, 1)
		assert.Equal(t, []byte("secret"), b64(t, res[0]["out"]))
		assert.Equal(t, "s.txt", res[0]["name"])
		dq := e.h.Consent().QuestionsOf(plugintest.Decrypt)
		require.NotEmpty(t, dq)
		assert.Equal(t, rsa.URI, dq[0].KeyURI)
		assert.Equal(t, "s.txt.enc", dq[0].Documents[0].Name)
	})

	t.Run("ARCHIVE+SIGN and UNZIP", func(t *testing.T) {
		files := []map[string]any{
			{"name": "one.txt", "url": p.addFile("z-1", []byte("one")), "id": 1},
			{"name": "two.txt", "url": p.addFile("z-2", []byte("two")), "id": 2},
		}
		res := list(t, runJob(t, e, "archive", "signAndEncrypt", "signAndEncrypt.outDirectResults",
			job([]string{"ARCHIVE", "SIGN"}, files, map[string]any{"signType": "ATTACHED", "signEncoding": "DER"}, up)), "directResults")
		require.Len(t, res, 1)
		assert.NotContains(t, res[0], "id", "one output for all inputs, without id")
		zipData, err := cms.ExtractContent(b64(t, res[0]["out"]))
		require.NoError(t, err)

		ures := list(t, runJob(t, e, "unzip", "signAndEncrypt", "signAndEncrypt.outReverseResults",
			job([]string{"UNZIP"}, []map[string]any{{"name": "a.zip", "url": p.addFile("z.zip", zipData), "id": "z"}}, nil, up)), "reverseResults")
		require.Len(t, ures, 2)
		assert.Equal(t, "one.txt", ures[0]["name"])
		assert.Equal(t, []byte("two"), b64(t, ures[1]["out"]))
	})

	t.Run("CAdES-T", func(t *testing.T) {
		pki, err := softhsmtest.DefaultPKI()
		require.NoError(t, err)
		tsa := cmstest.NewTSA(t, pki)
		files := []map[string]any{{"name": "t.txt", "url": p.addFile("t.txt", []byte("stamp me")), "id": 1}}
		res := list(t, runJob(t, e, "cades", "signAndEncrypt", "signAndEncrypt.outDirectResults",
			job([]string{"SIGN"}, files, map[string]any{"signType": 1, "signStandard": "1", "signEncoding": 1, "tspURL": tsa.URL}, up)), "directResults")
		rep, err := cms.Verify(b64(t, res[0]["out"]), bytes.NewReader([]byte("stamp me")), nil)
		require.NoError(t, err)
		require.NotNil(t, rep.Signers[0].Timestamp, "signature timestamp attached")
		assert.EqualValues(t, 1, tsa.Requests())
	})

	for _, tc := range []struct {
		name, says string
		job        map[string]any
	}{
		{"mixed classes", "mixes", job([]string{"SIGN", "DECRYPT"}, []map[string]any{{"name": "a", "url": p.addFile("m", []byte("m")), "id": 1}}, nil, up)},
		{"CAdES without tspURL", "tspURL", job([]string{"SIGN"}, []map[string]any{{"name": "a", "url": p.addFile("m", []byte("m")), "id": 1}}, map[string]any{"signStandart": 1}, up)},
		{"unknown enum", "signType", job([]string{"SIGN"}, []map[string]any{{"name": "a", "url": p.addFile("m", []byte("m")), "id": 1}}, map[string]any{"signType": 7}, up)},
		{"GOST encryption", "GOST", job([]string{"ENCRYPT"}, []map[string]any{{"name": "a", "url": p.addFile("m", []byte("m")), "id": 1}}, map[string]any{"encryptAlgorithm": 2, "recipients": []string{base64.StdEncoding.EncodeToString(signerCert.Raw)}}, up)},
		{"encrypt without recipients", "recipients", job([]string{"ENCRYPT"}, []map[string]any{{"name": "a", "url": p.addFile("m", []byte("m")), "id": 1}}, nil, up)},
		{"unknown operation", "unknown operation", job([]string{"FORMAT"}, []map[string]any{{"name": "a", "url": p.addFile("m", []byte("m")), "id": 1}}, nil, up)},
		{"missing file", "download", job([]string{"SIGN"}, []map[string]any{{"name": "a", "url": p.url("/files/nope"), "id": 1}}, nil, up)},
		{"zip entry with a path", "entry", job([]string{"UNZIP"}, []map[string]any{{"name": "e.zip", "url": p.addFile("evil.zip", evilZip(t)), "id": 1}}, nil, up)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "err-" + strings.ReplaceAll(tc.name, " ", "-")
			pm := runJob(t, e, id, "signAndEncrypt", "signAndEncrypt.outDirectResults", tc.job)
			assert.Equal(t, "Error", pm["status"])
			assert.EqualValues(t, -32602, pm["error"])
			assert.Contains(t, pm["errorDescription"], tc.says)
		})
	}
}

func evilZip(t *testing.T) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.Create("../../etc/evil")
	require.NoError(t, err)
	w.Write([]byte("x"))
	require.NoError(t, zw.Close())
	return b.Bytes()
}

// TestCertificateCommands: certificates export (the picked key's
// certificate), information, import next to the key; certrequests
// GENERATE (a key created on the token, its PKCS#10 returned);
// diagnostics with Signet's own values.
func TestCertificateCommands(t *testing.T) {
	cert, certPEM := portalCert(t)
	p := newPortal(t, cert, "")
	e := start(t, plugintest.PickKey(plugintest.KeyECDSA), p, [][]byte{certPEM}, nil)
	ecdsaKey := e.h.Key(t, plugintest.KeyECDSA)

	pm := runJob(t, e, "export", "certificates", "certificates.base64", map[string]any{"operation": "export", "props": map[string]any{"store": []string{"MY"}}})
	assert.Equal(t, ecdsaKey.Certificate.Raw, b64(t, pm["certificateBase64"]))
	assert.NotEmpty(t, pm["friendlyName"])

	pm = runJob(t, e, "info", "certificates", "certificateInfo.info", map[string]any{"operation": "information",
		"props": map[string]any{"certificateBase64": base64.StdEncoding.EncodeToString(ecdsaKey.Certificate.Raw)}})
	assert.Equal(t, ecdsaKey.Certificate.Subject.String(), pm["subjectName"])
	assert.Len(t, pm["hash"], 40, "SHA-1 thumbprint")

	// import: no result is sent (§6); the host's Import question says it.
	p.addJob("import", map[string]any{"operation": "import", "props": map[string]any{"certificateBase64": base64.StdEncoding.EncodeToString(ecdsaKey.Certificate.Raw)}})
	e.open(t, p.link("certificates", "import"))
	require.Eventually(t, func() bool { return len(e.h.Consent().QuestionsOf(plugintest.Import)) == 1 }, 60*time.Second, 20*time.Millisecond)
	assert.Equal(t, ecdsaKey.URI, e.h.Consent().QuestionsOf(plugintest.Import)[0].KeyURI)

	tmpl := map[string]any{"FriendlyName": "portal request", "RDN": []map[string]any{
		{"Oid": "2.5.4.3", "DefaultValue": "Ivan Petrov"}, {"Oid": "2.5.4.10", "DefaultValue": "Example LLC"}},
		"Extensions": map[string]any{"ExtendedKeyUsage": []map[string]any{{"Name": "1.3.6.1.5.5.7.3.2", "DefaultValue": true}}}}
	pm = runJob(t, e, "csr", "certrequests", "certrequests.base64", map[string]any{"operation": "GENERATE", "props": map[string]any{"templateType": "JSONTemplate", "template": tmpl}})
	csr, err := x509.ParseCertificateRequest(b64(t, pm["certificaterequestBase64"]))
	require.NoError(t, err)
	require.NoError(t, csr.CheckSignature())
	assert.Equal(t, "Ivan Petrov", csr.Subject.CommonName)
	assert.Equal(t, []string{"Example LLC"}, csr.Subject.Organization)
	assert.Equal(t, "portal request", pm["friendlyName"])
	assert.Len(t, e.h.Consent().QuestionsOf(plugintest.KeyGen), 1)
	assert.Len(t, e.h.Consent().QuestionsOf(plugintest.CSR), 1)

	pm = runJob(t, e, "diag", "diagnostics", "diagnostics.information", map[string]any{"operation": []string{"VERSIONS", "PERSONALCERTIFICATES"}})
	assert.NotContains(t, pm, "SYSTEMINFORMATION", "only what was asked")
	assert.Equal(t, "0.1.0", pm["VERSIONS"].(map[string]any)["signet"])
	assert.NotEmpty(t, pm["PERSONALCERTIFICATES"])
	for _, r := range p.seen() {
		if r.RPC.Method == "diagnostics.parameters" {
			assert.Contains(t, string(r.Body), `"diagnostic":""`, "the diagnostics command sends an empty diagnostic")
		}
	}
}

// TestStartViewAndMail: startView opens the agent's dashboard at the
// view's section; mail hands the downloaded files to xdg-email. The
// desktop programs are stand-ins that record their arguments.
func TestStartViewAndMail(t *testing.T) {
	bin := t.TempDir()
	record := filepath.Join(bin, "calls")
	script := "#!/bin/sh\necho \"$(basename \"$0\") $*\" >> " + record + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "xdg-open"), []byte(script), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(bin, "xdg-email"), []byte(script), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(bin, "signet"), []byte("#!/bin/sh\necho https://127.0.0.1:1/d/secret\n"), 0o755))
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	cert, certPEM := portalCert(t)
	p := newPortal(t, cert, "")
	e := start(t, plugintest.AllowAll(), p, [][]byte{certPEM}, map[string]string{"signet": filepath.Join(bin, "signet")})

	p.addJob("view", map[string]any{"uiView": "CERTIFICATES_MY", "description": "x"})
	e.open(t, p.link("startView", "view"))
	calls := waitFile(t, record)
	assert.Equal(t, "xdg-open https://127.0.0.1:1/d/secret#tokens\n", string(calls))

	require.NoError(t, os.Remove(record))
	p.addJob("mail", map[string]any{"props": map[string]any{"to": "boss@example.com", "subject": "Signed",
		"files": []map[string]any{{"name": "r.txt", "url": p.addFile("r.txt", []byte("report")), "id": 1}}}})
	e.open(t, p.link("mail", "mail"))
	calls = waitFile(t, record)
	assert.Contains(t, string(calls), "xdg-email --utf8 --subject Signed --attach ")
	assert.Contains(t, string(calls), "/r.txt boss@example.com")
}
