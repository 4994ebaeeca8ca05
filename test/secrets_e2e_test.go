package e2e

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The secrets of TestNoSecretInAnyOutput. Each is distinctive (letters
// outside the hex alphabet, so a PIN cannot turn up by chance inside a
// hash or digest printed in hex) and used nowhere else.
const (
	secretUserPIN    = "731946zq"     // the h14-secret token's user PIN
	secretSOPIN      = "so-5530tk"    // its SO PIN (never given to Signet)
	secretWrongReal  = "96140mvt"     // the h14-secret-wrong token's real PIN
	secretWrongSOPIN = "so-8812pw"    // its SO PIN
	secretWrongPIN   = "52083xkw"     // the wrong PIN the agent's PIN source gives for it
	secretCLIWrong   = "wrong-3377hx" // a wrong PIN given to the CLI in $SIGNET_PIN
	secretPFXPass    = "пароль-9182"  // the PFX file's password
	secretPFXWrong   = "неверно-4410" // a wrong PFX password given to the CLI
	secretPFX2Pass   = "ключ-7730ый"  // the second PFX file's password
	secretPFX2Wrong  = "ложь-6621щ"   // the wrong one the agent's PIN source gives for it
)

// TestNoSecretInAnyOutput runs the agent with the example plugin against a
// token, a PFX file and a second token whose PIN source holds a wrong PIN,
// and the CLI with right and wrong PINs and passwords, keeps everything they
// produced — the agent's log (plugin logs go through it), every HTTP response
// body, every file in the agent's data directory (journal, origins, CA), the
// dashboard page, the CLI's standard output and error — and fails if any
// PIN or password used appears in any of it, as is or in hex, base64 or
// escaped form. It also checks that the wrong-PIN paths really ran, so the
// scan covered the error messages.
func TestNoSecretInAnyOutput(t *testing.T) {
	dir := t.TempDir()
	outputs := map[string][]byte{} // what was produced, by where it came from
	keep := func(name string, data []byte) { outputs[name] = append(outputs[name], data...) }

	tok, tokKey := secretToken(t, "h14-secret", secretUserPIN, secretSOPIN)
	wrongTok, _ := secretToken(t, "h14-secret-wrong", secretWrongReal, secretWrongSOPIN)
	soft, err := softhsmtest.NewSoftwareKey(softhsmtest.ECP256)
	require.NoError(t, err)
	pfxPath := filepath.Join(dir, "keys", "secret.pfx")
	require.NoError(t, soft.WritePFX(pfxPath, secretPFXPass, softhsmtest.Modern))
	pinFile := filepath.Join(dir, "pin")
	writeSecret(t, pinFile, secretUserPIN)
	// A second PFX file whose PIN source holds a wrong password.
	soft2, err := softhsmtest.NewSoftwareKey(softhsmtest.ECP256)
	require.NoError(t, err)
	pfx2Path := filepath.Join(dir, "keys", "wrong.pfx")
	require.NoError(t, soft2.WritePFX(pfx2Path, secretPFX2Pass, softhsmtest.Legacy))
	pfx2File := filepath.Join(dir, "pfx2-pass")
	writeSecret(t, pfx2File, secretPFX2Wrong)

	// The token PIN from a file, the PFX password and the wrong PIN from
	// the environment.
	a := startAgentWith(t, agentSetup{
		PFXFiles: []string{pfxPath, pfx2Path},
		Deny:     []string{"https://denied.example"},
		PINSources: []pinSource{
			{Token: "pkcs11:token=" + tok.Label, File: pinFile},
			{Token: pfx.FileURI(pfxPath), Env: "SIGNET_H14_PFX"},
			{Token: "pkcs11:token=" + wrongTok.Label, Env: "SIGNET_H14_WRONG"},
			{Token: pfx.FileURI(pfx2Path), File: pfx2File},
		},
		Env: []string{"SIGNET_H14_PFX=" + secretPFXPass, "SIGNET_H14_WRONG=" + secretWrongPIN},
	})
	c := a.client()
	addr := exampleAddr(t, a.plugin("example"))
	var cp capture
	keys := listKeys(t, c, addr, &cp)
	tokURI := keyOnToken(t, keys, tok.Label)
	wrongURI := keyOnToken(t, keys, wrongTok.Label)
	pfxURI := findKey(t, keys, pfx.FileURI(pfxPath)+"#", "")
	pfx2URI := findKey(t, keys, pfx.FileURI(pfx2Path)+"#", "")

	const portal = "https://portal.example"
	sum := sha256.Sum256([]byte("secret scan"))
	for _, k := range []struct {
		uri string
		pub crypto.PublicKey
	}{{tokURI, tokKey.Public}, {pfxURI, soft.Key.Public()}} {
		status, sig, body := signAs(t, c, addr, portal, k.uri, sum[:], "", &cp)
		require.Equal(t, http.StatusOK, status, "sign with %s: %s", k.uri, body)
		require.NoError(t, softhsmtest.VerifySignature(k.pub, sum[:], sig, crypto.SHA256), "signature by %s", k.uri)
	}
	// The wrong-PIN path, twice (the second time after the failure).
	for i := 0; i < 2; i++ {
		status, _, body := signAs(t, c, addr, portal, wrongURI, sum[:], fmt.Sprintf("wrong-pin-%d", i), &cp)
		t.Logf("wrong PIN through the agent: %d %s", status, body)
		require.Equal(t, http.StatusUnauthorized, status, "sign with the wrong PIN: %s", body)
		require.Contains(t, strings.ToLower(string(body)), "incorrect pin", "sign with the wrong PIN: want an incorrect-PIN error")
	}
	// The wrong-password path of a PFX file.
	status, _, body := signAs(t, c, addr, portal, pfx2URI, sum[:], "wrong-password", &cp)
	require.Equal(t, http.StatusUnauthorized, status, "sign with a wrong PFX password: %s", body)
	require.Contains(t, strings.ToLower(string(body)), "incorrect pin or password", "sign with a wrong PFX password: want an incorrect-password error")
	// A refusal and an unknown key.
	status, _, body = signAs(t, c, addr, "https://denied.example", tokURI, sum[:], "", &cp)
	require.Equal(t, http.StatusForbidden, status, "denied origin: %s", body)
	status, _, body = signAs(t, c, addr, portal, "pkcs11:token="+tok.Label+";object=nope;type=private", sum[:], "", &cp)
	require.Equal(t, http.StatusNotFound, status, "unknown key: %s", body)
	// The dashboard page, if the agent serves one.
	if m := regexp.MustCompile(`msg=dashboard url=(\S+)`).FindStringSubmatch(a.log.String()); m != nil {
		resp, err := c.Get(m[1])
		require.NoError(t, err, "dashboard")
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		keep("dashboard page", data)
	}
	// CLI against the running agent.
	keep("signet plugins", runSignet(t, nil, 0, "plugins", "--json", "--socket", a.socket))
	a.stop()

	for i, r := range cp.replies {
		keep(fmt.Sprintf("HTTP response %d (status %d)", i, r.Status), r.Body)
	}
	keep("agent log", []byte(a.log.String()))
	err = filepath.WalkDir(a.dataDir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		keep("data file "+p, data)
		return nil
	})
	require.NoError(t, err)
	jpath := journal.PathIn(a.dataDir())
	keep("signet journal list", runSignet(t, nil, 0, "journal", "list", "--path", jpath))
	keep("signet journal list --json", runSignet(t, nil, 0, "journal", "list", "--json", "--path", jpath))
	keep("signet journal verify", runSignet(t, nil, 0, "journal", "verify", "--path", jpath))

	// The journal and the log saw the wrong PIN.
	recs, err := journal.ReadFile(jpath, journal.Filter{})
	require.NoError(t, err)
	wrongRecorded := 0
	for _, r := range recs {
		if r.KeyURI == wrongURI && r.Result == journal.ResultError && r.ErrorKind == "pin-incorrect" {
			wrongRecorded++
		}
	}
	assert.Equal(t, 2, wrongRecorded, "journal's pin-incorrect outcomes for %s", wrongURI)
	wrongPassword := false
	for _, r := range recs {
		if r.KeyURI == pfx2URI && r.Result == journal.ResultError && r.ErrorKind == "pin-incorrect" {
			wrongPassword = true
		}
	}
	assert.True(t, wrongPassword, "journal has no pin-incorrect outcome for %s", pfx2URI)
	assert.Contains(t, a.log.String(), "sign failed", "agent log has no wrong-PIN failure")
	assert.Contains(t, a.log.String(), "CKR_PIN_INCORRECT", "agent log has no wrong-PIN failure")

	// The CLI, with right and wrong PINs and passwords in the environment.
	mod := []string{"--module", hsmEnv.Module, "--pfx", pfxPath}
	pinEnv := []string{"SIGNET_PIN=" + secretUserPIN, "SIGNET_PFX_PASSWORD=" + secretPFXPass}
	keep("signet tokens", runSignet(t, pinEnv, 0, append([]string{"tokens"}, mod...)...))
	keep("signet keys", runSignet(t, pinEnv, 0, append([]string{"keys"}, mod...)...))
	in := filepath.Join(dir, "doc.txt")
	require.NoError(t, os.WriteFile(in, []byte("a document signed by the CLI\n"), 0o600))
	docSum := sha256.Sum256([]byte("a document signed by the CLI\n"))
	for i, k := range []struct {
		uri string
		pub crypto.PublicKey
	}{{tokURI, tokKey.Public}, {pfxURI, soft.Key.Public()}} {
		sigPath := filepath.Join(dir, fmt.Sprintf("cli-%d.sig", i))
		keep("signet sign --raw "+k.uri, runSignet(t, pinEnv, 0, append([]string{"sign", "--raw", "--key", k.uri, "--in", in, "--out", sigPath}, mod...)...))
		sig, err := os.ReadFile(sigPath)
		require.NoError(t, err)
		assert.NoError(t, softhsmtest.VerifySignature(k.pub, docSum[:], sig, crypto.SHA256), "CLI signature by %s", k.uri)
	}
	wrongEnv := []string{"SIGNET_PIN=" + secretCLIWrong, "SIGNET_PFX_PASSWORD=" + secretPFXWrong}
	for _, uri := range []string{tokURI, pfxURI} {
		out := runSignet(t, wrongEnv, 1, append([]string{"sign", "--raw", "--key", uri, "--in", in, "--out", filepath.Join(dir, "never.sig")}, mod...)...)
		keep("signet sign --raw with a wrong secret "+uri, out)
		t.Logf("signet sign with a wrong secret for %s:\n%s", uri, out)
		assert.Contains(t, strings.ToLower(string(out)), "incorrect", "signet sign with a wrong PIN or password for %s did not say it was incorrect", uri)
	}
	// The same token through the agent's PIN file, which the CLI takes too.
	keep("signet sign --pin-file", runSignet(t, nil, 0, append([]string{"sign", "--raw", "--key", tokURI, "--in", in, "--out", filepath.Join(dir, "pf.sig"), "--pin-file", pinFile}, mod...)...))

	// The scan. First a check that it finds a planted secret in each form.
	secrets := []string{secretUserPIN, secretSOPIN, secretWrongReal, secretWrongSOPIN, secretWrongPIN, secretCLIWrong, secretPFXPass, secretPFXWrong, secretPFX2Pass, secretPFX2Wrong}
	for form, needle := range secretForms(secretPFXPass) {
		planted := map[string][]byte{"planted": []byte("error: x=" + needle + " y")}
		require.NotEmpty(t, findSecrets(planted, secrets), "the scan misses a secret in %s form", form)
	}
	assert.Empty(t, findSecrets(outputs, secrets), "a PIN or password appears in the outputs")
	total := 0
	for _, data := range outputs {
		total += len(data)
	}
	require.GreaterOrEqual(t, len(outputs), 15, "outputs the scan covered")
	require.NotZero(t, total, "bytes the scan covered")
	t.Logf("scanned %d outputs, %d bytes, for %d secrets", len(outputs), total, len(secrets))
}

// findSecrets reports every place in outputs where a secret appears in
// one of its forms.
func findSecrets(outputs map[string][]byte, secrets []string) []string {
	var found []string
	for name, data := range outputs {
		for _, s := range secrets {
			for form, needle := range secretForms(s) {
				if i := bytes.Index(data, []byte(needle)); i >= 0 {
					lo, hi := max(0, i-80), min(len(data), i+len(needle)+80)
					found = append(found, fmt.Sprintf("%s contains a PIN or password (%s form) at byte %d: …%q…", name, form, i, data[lo:hi]))
				}
			}
		}
	}
	return found
}

// secretForms returns the ways a secret could show up in text: as is, in
// hex, in base64 (padded or not, standard or URL alphabet), quoted with
// non-ASCII escaped (JSON \uXXXX, Go %+q), and percent-encoded.
func secretForms(s string) map[string]string {
	b := []byte(s)
	forms := map[string]string{
		"raw":           s,
		"hex":           hex.EncodeToString(b),
		"HEX":           strings.ToUpper(hex.EncodeToString(b)),
		"base64":        base64.StdEncoding.EncodeToString(b),
		"base64 (raw)":  base64.RawStdEncoding.EncodeToString(b),
		"base64url":     base64.RawURLEncoding.EncodeToString(b),
		"escaped ASCII": strings.Trim(strconv.QuoteToASCII(s), `"`),
	}
	var pct strings.Builder
	for _, c := range b {
		if c < 0x80 {
			pct.WriteByte(c)
		} else {
			fmt.Fprintf(&pct, "%%%02X", c)
		}
	}
	forms["percent-encoded"] = pct.String()
	return forms
}

// runSignet runs the signet binary with extra environment variables and
// returns its standard output and error together; it fails the test unless
// the exit status is wantExit.
func runSignet(t *testing.T, env []string, wantExit int, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "signet"), args...)
	cmd.Env = append(append(hsmEnv.Environ(), "HOME="+t.TempDir()), env...)
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err, "signet %s", strings.Join(args, " "))
	}
	require.Equal(t, wantExit, code, "signet %s: exit status\n%s", strings.Join(args, " "), out)
	return out
}
