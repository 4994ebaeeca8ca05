package softhsmtest

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// The Go template and the one create-token.sh uses must say the same.
func TestConfTemplateMatchesFile(t *testing.T) {
	data, err := os.ReadFile("../softhsm2.conf.in")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Replace(string(data), "@TOKENDIR@", "%s", 1); got != ConfTemplate {
		t.Fatalf("softhsm2.conf.in and ConfTemplate differ:\n%s\n---\n%s", got, ConfTemplate)
	}
}

func createTokenScript(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("bash", append([]string{"../create-token.sh"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("create-token.sh %s: %v\n%s", args[:2], err, out)
	}
	return string(out)
}

// create-token.sh and FillDemo, the two halves of demo-setup.sh, in a
// private directory (a separate SOFTHSM2_CONF from the shared one).
func TestCreateTokenScriptAndFillDemo(t *testing.T) {
	dir := t.TempDir()
	out := createTokenScript(t, dir, DemoTokenLabel, DemoUserPIN, DemoSOPIN)
	if !strings.Contains(out, "created") {
		t.Fatalf("first run: %s", out)
	}
	out = createTokenScript(t, dir, DemoTokenLabel, DemoUserPIN, DemoSOPIN)
	if !strings.Contains(out, "exists") {
		t.Fatalf("second run did not see the token: %s", out)
	}
	createTokenScript(t, dir, "second token", "11112222", "33334444")

	env, err := LoadEnv(dir)
	if err != nil {
		t.Fatal(err)
	}
	if env.TokenDir != filepath.Join(dir, "tokens") {
		t.Fatalf("token dir %q", env.TokenDir)
	}
	toks, err := env.Tokens()
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 2 {
		t.Fatalf("tokens %+v, want 2 (the second script run must not add one)", toks)
	}
	tok, err := env.OpenToken(DemoTokenLabel, DemoUserPIN, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := FillDemo(dir, tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Keys) != 2 {
		t.Fatalf("%d demo keys", len(res.Keys))
	}
	list, err := tok.ListObjects()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Private Key Object; RSA", "Private Key Object; EC", "label:      demo-rsa2048", "label:      demo-ecdsa-p256"} {
		if !strings.Contains(list, want) {
			t.Errorf("demo token lacks %q", want)
		}
	}
	if n := strings.Count(list, "Certificate Object"); n != 2 {
		t.Errorf("%d certificates on demo token, want 2", n)
	}

	rootPEM, err := os.ReadFile(filepath.Join(dir, "pki", "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(rootPEM)
	root, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)

	data, err := os.ReadFile(res.PFXPath)
	if err != nil {
		t.Fatal(err)
	}
	_, cert, chain, err := pkcs12.DecodeChain(data, DemoPFXPassword)
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	for _, c := range chain {
		inter.AddCert(c)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("demo PFX certificate does not chain to pki/root.pem: %v", err)
	}
	for _, k := range res.Keys {
		if _, err := k.Certificate.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("demo key %s certificate: %v", k.Label, err)
		}
	}

	// The E-IMZO-style key file: an Uzbek subject chaining to the same root.
	edata, err := os.ReadFile(res.EIMZOPath)
	if err != nil {
		t.Fatal(err)
	}
	_, ecert, echain, err := pkcs12.DecodeChain(edata, DemoPFXPassword)
	if err != nil {
		t.Fatalf("E-IMZO demo file: %v", err)
	}
	einter := x509.NewCertPool()
	for _, c := range echain {
		einter.AddCert(c)
	}
	if _, err := ecert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: einter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("E-IMZO demo certificate does not chain to pki/root.pem: %v", err)
	}
	if !strings.Contains(strings.ToLower(ecert.Subject.String()), strings.ToLower(EIMZOIndividual.CN)) {
		t.Errorf("E-IMZO demo certificate subject %q", ecert.Subject)
	}

	// A second run keeps everything.
	res2, err := FillDemo(dir, tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Keys) != 0 || len(res2.Skipped) != 3 {
		t.Fatalf("second FillDemo: %d keys, skipped %q", len(res2.Keys), res2.Skipped)
	}
	if list2, _ := tok.ListObjects(); strings.Count(list2, "Private Key Object") != 2 {
		t.Fatal("second FillDemo added keys")
	}
}

func TestCreateTokenScriptRejectsBadArgs(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{dir},
		{dir, "", "1234", "5678"},
		{dir, "x", "12", "5678"},
		{dir, strings.Repeat("l", 33), "1234", "5678"},
	} {
		if err := exec.Command("bash", append([]string{"../create-token.sh"}, args...)...).Run(); err == nil {
			t.Errorf("create-token.sh %q succeeded", args)
		}
	}
}
