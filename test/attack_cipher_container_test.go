package e2e

import (
	"encoding/base64"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
)

// The uploaded container's password and a wrong one (letters outside hex).
const (
	secretContainerPass  = "контейнер-8842жш"
	secretContainerWrong = "хибний-3391щю"
)

// TestAttackCipherContainerPassword: the real agent with the Cipher plugin
// and policy.password_origins naming one portal, and nobody to ask.
//   - The named portal uploads a PFX ({"base64Data"}), passes its password in
//     ds/creator and gets a signature OpenSSL verifies.
//   - Another origin sends the same container and the right password: the
//     host drops the password and would ask the person; nobody answers, so
//     no signature (the page cannot unlock a key by itself).
//   - A wrong password from the named portal is a 400.
//   - Neither password appears in the agent's log (plugin logs included),
//     any reply, or any file of the data directory (journal included), in
//     any encoding.
func TestAttackCipherContainerPassword(t *testing.T) {
	const portal, other = "https://portal.example", "https://other.example"
	dir := t.TempDir()
	pki, err := softhsmtest.DefaultPKI()
	require.NoError(t, err)
	k, err := softhsmtest.NewSoftwareKey(softhsmtest.RSA2048)
	require.NoError(t, err)
	k.Certificate, err = pki.Issue(k.Key.Public(), softhsmtest.IssueOptions{})
	require.NoError(t, err)
	pfxFile := filepath.Join(dir, "upload.pfx")
	require.NoError(t, softhsmtest.WritePFX(pfxFile, k.Key, k.Certificate, pki.Chain(), secretContainerPass, softhsmtest.Modern))
	pfx, err := os.ReadFile(pfxFile)
	require.NoError(t, err)
	require.NoError(t, os.Remove(pfxFile)) // only the upload holds it

	cfg := newAgentConfig(dir)
	cfg.Plugins = []pluginConf{{Name: "cipher", Path: filepath.Join(binDir, "signet-plugin-cipher"),
		Listen: []listenConf{
			{Name: "https", Bind: "127.0.0.1:0", Names: []string{cipherPortalName}},
			{Name: "https9090", Bind: "127.0.0.1:0", Names: []string{cipherPortalName}},
		},
		Options: map[string]string{"temp_dir": filepath.Join(dir, "tickets")}}}
	cfg.Policy = policyConf{Unattended: unattendedConf{Rules: []ruleConf{allowAll}}, PasswordOrigins: []string{portal}}
	a := &cipherAgent{agent: launchAgent(t, dir, writeConfig(t, dir, cfg), nil, "--prompt", "none")}
	a.findListeners(t)
	a.http = a.portalClient()

	replies := map[string][]byte{}
	upload := func(origin string, doc []byte) string {
		id := a.must(t, origin, "POST", "/ticket", nil)["ticketUuid"].(string)
		a.must(t, origin, "POST", "/ticket/"+id+"/data", doc)
		a.must(t, origin, "PUT", "/ticket/"+id+"/keyStore", map[string]string{"base64Data": base64.StdEncoding.EncodeToString(pfx)})
		return id
	}
	creator := func(origin, id, password string) (int, []byte) {
		st, out := a.call(t, origin, "POST", "/ticket/"+id+"/ds/creator", "application/json", []byte(`{"keyStorePassword":"`+password+`"}`))
		replies[origin+" ds/creator "+id] = out
		return st, out
	}

	doc := []byte("підписано завантаженим ключем")
	id := upload(portal, doc)
	st, out := creator(portal, id, secretContainerPass)
	require.Equal(t, http.StatusOK, st, "%s", out)
	st, out = a.call(t, portal, "GET", "/ticket/"+id+"/ds/base64Data", "", nil)
	replies["portal base64Data"] = out
	require.Equal(t, http.StatusOK, st, "%s", out)
	sig := a.must(t, portal, "GET", "/ticket/"+id+"/ds/base64Data", nil)["base64Data"].(string)
	raw, err := base64.StdEncoding.DecodeString(sig)
	require.NoError(t, err)
	opensslCipherVerify(t, raw, doc, false)
	a.must(t, portal, "DELETE", "/ticket/"+id, nil)

	oid := upload(other, doc)
	st, out = creator(other, oid, secretContainerPass)
	if st == http.StatusOK {
		st, out = a.call(t, other, "GET", "/ticket/"+oid+"/ds/base64Data", "", nil)
		replies["other base64Data"] = out
	}
	assert.NotEqual(t, http.StatusOK, st, "another origin's page unlocked the key with its password: %s", out)
	assert.Contains(t, a.log.String(), "dropped a password the page sent")

	wid := upload(portal, doc)
	st, out = creator(portal, wid, secretContainerWrong)
	assert.Equal(t, http.StatusBadRequest, st, "wrong password: %s", out)

	outputs := map[string][]byte{"agent log": []byte(a.log.String())}
	for name, r := range replies {
		outputs["reply "+name] = r
	}
	require.NoError(t, filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil {
			outputs[p] = b
		}
		return nil
	}))
	assert.Empty(t, findSecrets(outputs, []string{secretContainerPass, secretContainerWrong}))
}
