package cli

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { softhsmtest.Main(m) }

// cli runs the real signet binary.
type cli struct {
	t   *testing.T
	bin string
	env []string
}

type result struct {
	code           int
	stdout, stderr string
}

func buildCLI(t *testing.T) *cli {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "signet")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/signet-agent/signet/agent/cmd/signet")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return &cli{t: t, bin: bin}
}

func (c *cli) run(extraEnv []string, args ...string) result {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(append(os.Environ(), c.env...), extraEnv...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(c.t, err, "run signet")
	}
	return result{code, so.String(), se.String()}
}

func (c *cli) ok(extraEnv []string, args ...string) string {
	c.t.Helper()
	r := c.run(extraEnv, args...)
	require.Zero(c.t, r.code, "signet %v: exit code\nstdout:\n%s\nstderr:\n%s", args, r.stdout, r.stderr)
	return r.stdout
}

func openssl(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	require.NoError(t, err, "openssl %v\n%s", args, out)
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}

func keysJSON(t *testing.T, c *cli, args ...string) []KeyJSON {
	t.Helper()
	out := c.ok(nil, append([]string{"keys", "--json"}, args...)...)
	var keys []KeyJSON
	require.NoError(t, json.Unmarshal([]byte(out), &keys), "keys --json\n%s", out)
	return keys
}

func findLabel(keys []KeyJSON, tokenLabel, label string) *KeyJSON {
	for i, k := range keys {
		if k.Label == label && k.HasPrivateKey && strings.Contains(k.TokenURI, "token="+tokenLabel) {
			return &keys[i]
		}
	}
	return nil
}

func TestCLIWithSoftHSM(t *testing.T) {
	env := softhsmtest.Shared()
	fx := softhsmtest.StandardToken(t, env, "cli-token")
	c := buildCLI(t)
	mod := []string{"--module", softhsmtest.Module()}
	c.env = []string{"SIGNET_PIN=" + fx.UserPIN}
	dir := t.TempDir()

	t.Run("tokens", func(t *testing.T) {
		var toks []TokenJSON
		out := c.ok(nil, append([]string{"tokens", "--json"}, mod...)...)
		require.NoError(t, json.Unmarshal([]byte(out), &toks), "tokens --json\n%s", out)
		found := false
		for _, tk := range toks {
			found = found || (tk.Label == "cli-token" && tk.Backend == "pkcs11" && tk.LoginRequired && strings.HasPrefix(tk.URI, "pkcs11:"))
		}
		require.True(t, found, "token not listed: %s", out)
		human := c.ok(nil, append([]string{"tokens"}, mod...)...)
		require.Contains(t, human, "pkcs11:token=cli-token", "human listing")
	})

	keys := keysJSON(t, c, mod...)
	for _, label := range []string{softhsmtest.KeyRSA, softhsmtest.KeyECDSA, softhsmtest.KeyEd25519} {
		k := findLabel(keys, "cli-token", label)
		require.NotNil(t, k, "key %s not listed", label)
		require.NotNil(t, k.Certificate, "key %s without certificate: %+v", label, k)
		require.Contains(t, k.Certificate.PEM, "BEGIN CERTIFICATE", "key %s without certificate", label)
		require.NotEmpty(t, k.Certificate.Serial, "key %s without certificate serial", label)
	}
	human := c.ok(nil, append([]string{"keys"}, mod...)...)
	for _, want := range []string{findLabel(keys, "cli-token", softhsmtest.KeyRSA).URI, "subject:", "issuer:", "serial:", "valid:", "RSA 2048", "ECDSA 256", "Ed25519"} {
		assert.Contains(t, human, want, "keys output lacks %q", want)
	}

	msg := filepath.Join(dir, "msg.txt")
	require.NoError(t, os.WriteFile(msg, []byte("signed by the signet CLI\n"), 0o600))
	pubPEM := func(t *testing.T, k *KeyJSON) string {
		block, _ := pem.Decode([]byte(k.Certificate.PEM))
		cert, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err)
		der, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
		require.NoError(t, err)
		p := filepath.Join(t.TempDir(), "pub.pem")
		writePEM(t, p, "PUBLIC KEY", der)
		return p
	}

	t.Run("sign", func(t *testing.T) {
		sig := filepath.Join(t.TempDir(), "sig")
		rsaKey := findLabel(keys, "cli-token", softhsmtest.KeyRSA)
		pub := pubPEM(t, rsaKey)
		c.ok(nil, append([]string{"sign", "--raw", "--key", rsaKey.URI, "--in", msg, "--out", sig}, mod...)...)
		openssl(t, "dgst", "-sha256", "-verify", pub, "-signature", sig, msg)
		c.ok(nil, append([]string{"sign", "--raw", "--key", rsaKey.URI, "--in", msg, "--out", sig, "--hash", "sha512", "--pss"}, mod...)...)
		openssl(t, "dgst", "-sha512", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1", "-verify", pub, "-signature", sig, msg)

		ecKey := findLabel(keys, "cli-token", softhsmtest.KeyECDSA)
		c.ok(nil, append([]string{"sign", "--raw", "--key", ecKey.URI, "--in", msg, "--out", sig, "--hash", "sha384"}, mod...)...)
		openssl(t, "dgst", "-sha384", "-verify", pubPEM(t, ecKey), "-signature", sig, msg)

		edKey := findLabel(keys, "cli-token", softhsmtest.KeyEd25519)
		c.ok(nil, append([]string{"sign", "--raw", "--key", edKey.URI, "--in", msg, "--out", sig}, mod...)...)
		openssl(t, "pkeyutl", "-verify", "-pubin", "-inkey", pubPEM(t, edKey), "-rawin", "-in", msg, "-sigfile", sig)

		// A shorter URI naming the key by token and label works too.
		short := "pkcs11:token=cli-token;object=" + softhsmtest.KeyECDSA
		out := c.ok(nil, append([]string{"sign", "--raw", "--key", short, "--in", msg}, mod...)...)
		require.GreaterOrEqual(t, len(strings.TrimSpace(out)), 60, "base64 signature on stdout: %q", out)
	})

	var genURI string
	t.Run("keygen", func(t *testing.T) {
		tokURI := findLabel(keys, "cli-token", softhsmtest.KeyRSA).TokenURI
		var k KeyJSON
		out := c.ok(nil, append([]string{"keygen", "--token", tokURI, "--type", "p256", "--label", "cli-gen", "--json"}, mod...)...)
		require.NoError(t, json.Unmarshal([]byte(out), &k), "keygen --json\n%s", out)
		require.Equal(t, string(hsm.ECDSA), k.Algorithm, "generated: %+v", k)
		require.Equal(t, "cli-gen", k.Label, "generated: %+v", k)
		require.True(t, k.HasPrivateKey, "generated: %+v", k)
		genURI = k.URI
		require.NotNil(t, findLabel(keysJSON(t, c, mod...), "cli-token", "cli-gen"), "generated key not listed")
	})

	t.Run("csr", func(t *testing.T) {
		if genURI == "" {
			t.Skip("keygen failed")
		}
		csr := filepath.Join(t.TempDir(), "req.pem")
		c.ok(nil, append([]string{"csr", "--key", genURI, "--subject", "CN=Ism Familiya,O=Kompaniya\\, MChJ,C=UZ",
			"--dns", "signet.example", "--email", "ism@example.uz", "--key-usage", "digitalSignature,nonRepudiation", "--out", csr}, mod...)...)
		openssl(t, "req", "-verify", "-noout", "-in", csr)
		data, _ := os.ReadFile(csr)
		block, _ := pem.Decode(data)
		req, err := x509.ParseCertificateRequest(block.Bytes)
		require.NoError(t, err)
		assert.Equal(t, "CN=Ism Familiya,O=Kompaniya\\, MChJ,C=UZ", req.Subject.String(), "subject does not round-trip")
		require.Equal(t, "Ism Familiya", req.Subject.CommonName, "request subject")
		require.Equal(t, []string{"Kompaniya, MChJ"}, req.Subject.Organization, "request subject")
		require.Len(t, req.DNSNames, 1, "request DNS names")
		require.Len(t, req.EmailAddresses, 1, "request email addresses")
	})

	t.Run("import-cert", func(t *testing.T) {
		if genURI == "" {
			t.Skip("keygen failed")
		}
		k := findLabel(keysJSON(t, c, mod...), "cli-token", "cli-gen")
		csrDir := t.TempDir()
		// The certificate for the generated key: issue it from its CSR's key.
		csr := filepath.Join(csrDir, "req.pem")
		c.ok(nil, append([]string{"csr", "--key", k.URI, "--subject", "CN=Imported", "--out", csr}, mod...)...)
		data, _ := os.ReadFile(csr)
		block, _ := pem.Decode(data)
		req, err := x509.ParseCertificateRequest(block.Bytes)
		require.NoError(t, err)
		cert, err := fx.PKI.Issue(req.PublicKey, softhsmtest.IssueOptions{Subject: pkix.Name{CommonName: "Imported"}})
		require.NoError(t, err)
		certFile := filepath.Join(csrDir, "cert.pem")
		writePEM(t, certFile, "CERTIFICATE", cert.Raw)
		chainFile := filepath.Join(csrDir, "chain.pem")
		var chain []byte
		for _, cc := range fx.PKI.Chain() {
			chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cc.Raw})...)
		}
		os.WriteFile(chainFile, chain, 0o600)
		c.ok(nil, append([]string{"import-cert", "--key", k.URI, "--cert", certFile, "--chain", chainFile}, mod...)...)
		after := findLabel(keysJSON(t, c, mod...), "cli-token", "cli-gen")
		require.NotNil(t, after, "generated key not listed after import")
		require.NotNil(t, after.Certificate, "imported certificate not listed: %+v", after)
		require.Equal(t, "CN=Imported", after.Certificate.Subject, "imported certificate")
		// A certificate for another key is refused with a clear error.
		other := findLabel(keys, "cli-token", softhsmtest.KeyRSA)
		r := c.run(nil, append([]string{"import-cert", "--key", other.URI, "--cert", certFile}, mod...)...)
		require.Equal(t, 1, r.code, "mismatched import: %s", r.stderr)
		require.Contains(t, r.stderr, "not for key", "mismatched import")
	})

	t.Run("errors", func(t *testing.T) {
		rsaKey := findLabel(keys, "cli-token", softhsmtest.KeyRSA)
		r := c.run(nil, append([]string{"sign", "--key", strings.Replace(rsaKey.URI, "object=rsa2048", "object=nope", 1), "--in", msg}, mod...)...)
		require.Equal(t, 1, r.code, "unknown key: %s", r.stderr)
		require.Contains(t, r.stderr, "no private key", "unknown key")
		require.Contains(t, r.stderr, "signet keys", "unknown key")
		r = c.run(nil, append([]string{"sign", "--raw", "--detached", "--key", rsaKey.URI, "--in", msg}, mod...)...)
		require.Equal(t, 2, r.code, "--raw --detached: %s", r.stderr)
		require.Contains(t, r.stderr, "--raw", "--raw --detached")
		r = c.run(nil, append([]string{"sign", "--key", rsaKey.URI, "--in", msg, "--hash", "md5"}, mod...)...)
		require.Equal(t, 2, r.code, "bad hash: %s", r.stderr)
		require.Contains(t, r.stderr, "md5", "bad hash")
		r = c.run(nil, "keys", "--module", filepath.Join(dir, "libnone.so"), "--pfx-dir", dir)
		require.Equal(t, 0, r.code, "bad module: %s", r.stderr)
		require.Contains(t, r.stderr, "libnone.so", "bad module")
	})
}

func TestCLIWrongPIN(t *testing.T) {
	env := softhsmtest.Shared()
	fx := softhsmtest.StandardToken(t, env, "cli-wrong-pin")
	c := buildCLI(t)
	const bad = "wrongpin-4711"
	c.env = []string{"SIGNET_PIN=" + bad}
	msg := filepath.Join(t.TempDir(), "m")
	os.WriteFile(msg, []byte("x"), 0o600)
	_ = fx
	r := c.run(nil, "sign", "--module", softhsmtest.Module(), "--key", "pkcs11:token=cli-wrong-pin;object="+softhsmtest.KeyECDSA, "--in", msg)
	require.Equal(t, 1, r.code, "wrong PIN: %s", r.stderr)
	require.Contains(t, r.stderr, "incorrect PIN", "wrong PIN")
	require.Contains(t, r.stderr, "cli-wrong-pin", "wrong PIN")
	require.NotContains(t, r.stderr+r.stdout, bad, "output contains the PIN")
	// The PIN file source works the same and the right PIN then signs.
	pinFile := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(pinFile, []byte(fx.UserPIN+"\n"), 0o600)
	c.ok(nil, "sign", "--module", softhsmtest.Module(), "--pin-file", pinFile, "--key", "pkcs11:token=cli-wrong-pin;object="+softhsmtest.KeyECDSA, "--in", msg)
}

func TestCLIWithPFX(t *testing.T) {
	c := buildCLI(t)
	dir := t.TempDir()
	pki, err := softhsmtest.NewPKI("CLI PFX")
	require.NoError(t, err)
	sk, err := pki.NewSoftwareKey(softhsmtest.RSA2048, softhsmtest.IssueOptions{Subject: pkix.Name{CommonName: "PFX Ism"}})
	require.NoError(t, err)
	const pw = "пароль"
	require.NoError(t, sk.WritePFX(filepath.Join(dir, "ism.pfx"), pw, softhsmtest.Modern))
	args := []string{"--no-probe", "--pfx-dir", dir}
	// Listing needs no password; the certificate is encrypted.
	keys := keysJSON(t, c, args...)
	require.Len(t, keys, 1, "locked listing: %+v", keys)
	require.Nil(t, keys[0].Certificate, "locked listing shows the encrypted certificate")
	require.True(t, keys[0].HasPrivateKey, "locked listing: %+v", keys)
	// --unlock with the password from the environment shows it.
	c.env = []string{"SIGNET_PFX_PASSWORD=" + pw}
	keys = keysJSON(t, c, append(args, "--unlock")...)
	require.Len(t, keys, 1, "unlocked listing: %+v", keys)
	require.NotNil(t, keys[0].Certificate, "unlocked listing: %+v", keys)
	require.Contains(t, keys[0].Certificate.Subject, "PFX Ism", "unlocked listing")
	require.Len(t, keys[0].Chain, 2, "unlocked listing: chain")
	msg := filepath.Join(dir, "msg")
	os.WriteFile(msg, []byte("pfx message"), 0o600)
	sig := filepath.Join(dir, "sig")
	c.ok(nil, append(args, "sign", "--raw", "--key", keys[0].URI, "--in", msg, "--out", sig)...)
	der, _ := x509.MarshalPKIXPublicKey(sk.Key.Public())
	pub := filepath.Join(dir, "pub.pem")
	writePEM(t, pub, "PUBLIC KEY", der)
	openssl(t, "dgst", "-sha256", "-verify", pub, "-signature", sig, msg)
	// CMS from a PFX key carries the file's chain.
	p7 := filepath.Join(dir, "msg.p7s")
	c.ok(nil, append(args, "sign", "--key", keys[0].URI, "--in", msg, "--out", p7)...)
	verifyCMS(t, pki, p7, msg, false, "DER")
	// Wrong password: a clear error without the password.
	r := c.run([]string{"SIGNET_PFX_PASSWORD=not-it-123"}, append(args, "sign", "--key", keys[0].URI, "--in", msg)...)
	require.Equal(t, 1, r.code, "wrong password: %s", r.stderr)
	require.Contains(t, r.stderr, "incorrect PIN or password", "wrong password")
	require.NotContains(t, r.stderr, "not-it-123", "wrong password: the error shows the password")
	// No password source and no terminal: cancelled, with a hint.
	cmd := exec.Command(c.bin, append(args, "sign", "--key", keys[0].URI, "--in", msg)...)
	cmd.Env = os.Environ()
	cmd.SysProcAttr = noTTY()
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "no password source: %s", out)
	require.Contains(t, string(out), "SIGNET_PFX_PASSWORD", "no password source")
}
