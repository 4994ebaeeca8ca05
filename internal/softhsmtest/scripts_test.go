package softhsmtest

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// configDir holds SoftHSM's configuration template and scripts.
const configDir = "../../softhsm-config/"

// The Go template and the one create-token.sh uses must say the same.
func TestConfTemplateMatchesFile(t *testing.T) {
	data, err := os.ReadFile(configDir + "softhsm2.conf.in")
	require.NoError(t, err)
	require.Equal(t, ConfTemplate, strings.Replace(string(data), "@TOKENDIR@", "%s", 1), "softhsm2.conf.in and ConfTemplate differ")
}

func createTokenScript(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("bash", append([]string{configDir + "create-token.sh"}, args...)...).CombinedOutput()
	require.NoError(t, err, "create-token.sh %s\n%s", args[:2], out)
	return string(out)
}

// create-token.sh and FillDemo, the two halves of demo-setup.sh, in a
// private directory (a separate SOFTHSM2_CONF from the shared one).
func TestCreateTokenScriptAndFillDemo(t *testing.T) {
	dir := t.TempDir()
	out := createTokenScript(t, dir, DemoTokenLabel, DemoUserPIN, DemoSOPIN)
	require.Contains(t, out, "created", "first run")
	out = createTokenScript(t, dir, DemoTokenLabel, DemoUserPIN, DemoSOPIN)
	require.Contains(t, out, "exists", "second run did not see the token")
	createTokenScript(t, dir, "second token", "11112222", "33334444")

	env, err := LoadEnv(dir)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "tokens"), env.TokenDir, "token dir")
	toks, err := env.Tokens()
	require.NoError(t, err)
	require.Len(t, toks, 2, "the second script run must not add a token")
	tok, err := env.OpenToken(DemoTokenLabel, DemoUserPIN, "")
	require.NoError(t, err)
	res, err := FillDemo(dir, tok)
	require.NoError(t, err)
	require.Len(t, res.Keys, 2, "demo keys")
	list, err := tok.ListObjects()
	require.NoError(t, err)
	for _, want := range []string{"Private Key Object; RSA", "Private Key Object; EC", "label:      demo-rsa2048", "label:      demo-ecdsa-p256"} {
		assert.Contains(t, list, want, "demo token lacks %q", want)
	}
	assert.Equal(t, 2, strings.Count(list, "Certificate Object"), "certificates on demo token")

	rootPEM, err := os.ReadFile(filepath.Join(dir, "pki", "root.pem"))
	require.NoError(t, err)
	b, _ := pem.Decode(rootPEM)
	root, err := x509.ParseCertificate(b.Bytes)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(root)

	data, err := os.ReadFile(res.PFXPath)
	require.NoError(t, err)
	_, cert, chain, err := pkcs12.DecodeChain(data, DemoPFXPassword)
	require.NoError(t, err)
	inter := x509.NewCertPool()
	for _, c := range chain {
		inter.AddCert(c)
	}
	_, err = cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	require.NoError(t, err, "demo PFX certificate does not chain to pki/root.pem")
	for _, k := range res.Keys {
		_, err := k.Certificate.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		assert.NoError(t, err, "demo key %s certificate", k.Label)
	}

	// The E-IMZO-style key file: an Uzbek subject chaining to the same root.
	edata, err := os.ReadFile(res.EIMZOPath)
	require.NoError(t, err)
	_, ecert, echain, err := pkcs12.DecodeChain(edata, DemoPFXPassword)
	require.NoError(t, err, "E-IMZO demo file")
	einter := x509.NewCertPool()
	for _, c := range echain {
		einter.AddCert(c)
	}
	_, err = ecert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: einter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	require.NoError(t, err, "E-IMZO demo certificate does not chain to pki/root.pem")
	assert.Contains(t, strings.ToLower(ecert.Subject.String()), strings.ToLower(EIMZOIndividual.CN), "E-IMZO demo certificate subject")

	// A second run keeps everything.
	res2, err := FillDemo(dir, tok)
	require.NoError(t, err)
	require.Empty(t, res2.Keys, "second FillDemo: keys")
	require.Len(t, res2.Skipped, 3, "second FillDemo: skipped")
	list2, _ := tok.ListObjects()
	require.Equal(t, 2, strings.Count(list2, "Private Key Object"), "second FillDemo added keys")
}

func TestCreateTokenScriptRejectsBadArgs(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{dir},
		{dir, "", "1234", "5678"},
		{dir, "x", "12", "5678"},
		{dir, strings.Repeat("l", 33), "1234", "5678"},
	} {
		assert.Error(t, exec.Command("bash", append([]string{configDir + "create-token.sh"}, args...)...).Run(), "create-token.sh %q succeeded", args)
	}
}
