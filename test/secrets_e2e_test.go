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
	"github.com/signet-agent/signet/softhsm-config/softhsmtest"
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
	if err != nil {
		t.Fatal(err)
	}
	pfxPath := filepath.Join(dir, "keys", "secret.pfx")
	if err := soft.WritePFX(pfxPath, secretPFXPass, softhsmtest.Modern); err != nil {
		t.Fatal(err)
	}
	pinFile := filepath.Join(dir, "pin")
	writeSecret(t, pinFile, secretUserPIN)
	// A second PFX file whose PIN source holds a wrong password.
	soft2, err := softhsmtest.NewSoftwareKey(softhsmtest.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	pfx2Path := filepath.Join(dir, "keys", "wrong.pfx")
	if err := soft2.WritePFX(pfx2Path, secretPFX2Pass, softhsmtest.Legacy); err != nil {
		t.Fatal(err)
	}
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
		if status != http.StatusOK {
			t.Fatalf("sign with %s: %d %s", k.uri, status, body)
		}
		if err := softhsmtest.VerifySignature(k.pub, sum[:], sig, crypto.SHA256); err != nil {
			t.Fatalf("signature by %s: %v", k.uri, err)
		}
	}
	// The wrong-PIN path, twice (the second time after the failure).
	for i := 0; i < 2; i++ {
		status, _, body := signAs(t, c, addr, portal, wrongURI, sum[:], fmt.Sprintf("wrong-pin-%d", i), &cp)
		t.Logf("wrong PIN through the agent: %d %s", status, body)
		if status != http.StatusUnauthorized || !bytes.Contains(bytes.ToLower(body), []byte("incorrect pin")) {
			t.Fatalf("sign with the wrong PIN: %d %s, want 401 with an incorrect-PIN error", status, body)
		}
	}
	// The wrong-password path of a PFX file.
	if status, _, body := signAs(t, c, addr, portal, pfx2URI, sum[:], "wrong-password", &cp); status != http.StatusUnauthorized || !bytes.Contains(bytes.ToLower(body), []byte("incorrect pin or password")) {
		t.Fatalf("sign with a wrong PFX password: %d %s, want 401 with an incorrect-password error", status, body)
	}
	// A refusal and an unknown key.
	if status, _, body := signAs(t, c, addr, "https://denied.example", tokURI, sum[:], "", &cp); status != http.StatusForbidden {
		t.Fatalf("denied origin: %d %s", status, body)
	}
	if status, _, body := signAs(t, c, addr, portal, "pkcs11:token="+tok.Label+";object=nope;type=private", sum[:], "", &cp); status != http.StatusNotFound {
		t.Fatalf("unknown key: %d %s", status, body)
	}
	// The dashboard page, if the agent serves one.
	if m := regexp.MustCompile(`msg=dashboard url=(\S+)`).FindStringSubmatch(a.log.String()); m != nil {
		resp, err := c.Get(m[1])
		if err != nil {
			t.Fatalf("dashboard: %v", err)
		}
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
	if err != nil {
		t.Fatal(err)
	}
	jpath := journal.PathIn(a.dataDir())
	keep("signet journal list", runSignet(t, nil, 0, "journal", "list", "--path", jpath))
	keep("signet journal list --json", runSignet(t, nil, 0, "journal", "list", "--json", "--path", jpath))
	keep("signet journal verify", runSignet(t, nil, 0, "journal", "verify", "--path", jpath))

	// The journal and the log saw the wrong PIN.
	recs, err := journal.ReadFile(jpath, journal.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	wrongRecorded := 0
	for _, r := range recs {
		if r.KeyURI == wrongURI && r.Result == journal.ResultError && r.ErrorKind == "pin-incorrect" {
			wrongRecorded++
		}
	}
	if wrongRecorded != 2 {
		t.Errorf("journal has %d pin-incorrect outcomes for %s, want 2", wrongRecorded, wrongURI)
	}
	wrongPassword := false
	for _, r := range recs {
		if r.KeyURI == pfx2URI && r.Result == journal.ResultError && r.ErrorKind == "pin-incorrect" {
			wrongPassword = true
		}
	}
	if !wrongPassword {
		t.Errorf("journal has no pin-incorrect outcome for %s", pfx2URI)
	}
	if !strings.Contains(a.log.String(), "sign failed") || !strings.Contains(a.log.String(), "CKR_PIN_INCORRECT") {
		t.Errorf("agent log has no wrong-PIN failure")
	}

	// The CLI, with right and wrong PINs and passwords in the environment.
	mod := []string{"--module", hsmEnv.Module, "--pfx", pfxPath}
	pinEnv := []string{"SIGNET_PIN=" + secretUserPIN, "SIGNET_PFX_PASSWORD=" + secretPFXPass}
	keep("signet tokens", runSignet(t, pinEnv, 0, append([]string{"tokens"}, mod...)...))
	keep("signet keys", runSignet(t, pinEnv, 0, append([]string{"keys"}, mod...)...))
	in := filepath.Join(dir, "doc.txt")
	if err := os.WriteFile(in, []byte("a document signed by the CLI\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	docSum := sha256.Sum256([]byte("a document signed by the CLI\n"))
	for i, k := range []struct {
		uri string
		pub crypto.PublicKey
	}{{tokURI, tokKey.Public}, {pfxURI, soft.Key.Public()}} {
		sigPath := filepath.Join(dir, fmt.Sprintf("cli-%d.sig", i))
		keep("signet sign --raw "+k.uri, runSignet(t, pinEnv, 0, append([]string{"sign", "--raw", "--key", k.uri, "--in", in, "--out", sigPath}, mod...)...))
		sig, err := os.ReadFile(sigPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := softhsmtest.VerifySignature(k.pub, docSum[:], sig, crypto.SHA256); err != nil {
			t.Errorf("CLI signature by %s: %v", k.uri, err)
		}
	}
	wrongEnv := []string{"SIGNET_PIN=" + secretCLIWrong, "SIGNET_PFX_PASSWORD=" + secretPFXWrong}
	for _, uri := range []string{tokURI, pfxURI} {
		out := runSignet(t, wrongEnv, 1, append([]string{"sign", "--raw", "--key", uri, "--in", in, "--out", filepath.Join(dir, "never.sig")}, mod...)...)
		keep("signet sign --raw with a wrong secret "+uri, out)
		t.Logf("signet sign with a wrong secret for %s:\n%s", uri, out)
		if !bytes.Contains(bytes.ToLower(out), []byte("incorrect")) {
			t.Errorf("signet sign with a wrong PIN or password for %s did not say it was incorrect:\n%s", uri, out)
		}
	}
	// The same token through the agent's PIN file, which the CLI takes too.
	keep("signet sign --pin-file", runSignet(t, nil, 0, append([]string{"sign", "--raw", "--key", tokURI, "--in", in, "--out", filepath.Join(dir, "pf.sig"), "--pin-file", pinFile}, mod...)...))

	// The scan. First a check that it finds a planted secret in each form.
	secrets := []string{secretUserPIN, secretSOPIN, secretWrongReal, secretWrongSOPIN, secretWrongPIN, secretCLIWrong, secretPFXPass, secretPFXWrong, secretPFX2Pass, secretPFX2Wrong}
	for form, needle := range secretForms(secretPFXPass) {
		planted := map[string][]byte{"planted": []byte("error: x=" + needle + " y")}
		if len(findSecrets(planted, secrets)) == 0 {
			t.Fatalf("the scan misses a secret in %s form", form)
		}
	}
	for _, msg := range findSecrets(outputs, secrets) {
		t.Error(msg)
	}
	total := 0
	for _, data := range outputs {
		total += len(data)
	}
	if len(outputs) < 15 || total == 0 {
		t.Fatalf("scan covered only %d outputs (%d bytes)", len(outputs), total)
	}
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
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("signet %s: %v", strings.Join(args, " "), err)
	}
	if code != wantExit {
		t.Fatalf("signet %s: exit status %d, want %d\n%s", strings.Join(args, " "), code, wantExit, out)
	}
	return out
}
