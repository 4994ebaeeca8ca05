package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/plugins/eimzo/eimzoclient"
	"github.com/signet-agent/signet/sdk/cms"
	"github.com/signet-agent/signet/softhsm-config/softhsmtest"
)

// The E-IMZO plugin end to end: the real `signet serve` runs the real
// signet-plugin-eimzo with SoftHSM tokens and E-IMZO-style PFX key files on
// a temporary "disk", under an unattended policy (rules and PIN sources, as
// softhsm-config/demo-setup.sh writes them) so no person is needed, and a
// Go client (plugins/eimzo/eimzoclient) replays the official e-imzo.js call
// sequence over real WebSockets.

// eimzoPluginPath builds signet-plugin-eimzo into binDir once per test
// binary (TestMain builds only the agent and the example plugin).
var eimzoBuild struct {
	once sync.Once
	err  error
}

func eimzoPluginPath(t testing.TB) string {
	t.Helper()
	path := filepath.Join(binDir, "signet-plugin-eimzo")
	eimzoBuild.once.Do(func() {
		cmd := exec.Command("go", "build", "-o", path, "github.com/signet-agent/signet/plugins/eimzo/cmd/signet-plugin-eimzo")
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			eimzoBuild.err = fmt.Errorf("go build signet-plugin-eimzo: %v\n%s", err, out)
		}
	})
	if eimzoBuild.err != nil {
		t.Fatal(eimzoBuild.err)
	}
	return path
}

// Single-key SoftHSM tokens for the E-IMZO tests: one key per token, so the
// plugin option token_key can name "the token" by its URI prefix and the
// unattended agent has exactly one key for the pseudo-id "ckc". Created
// once; the test binary itself opens them later (benchmark), and SoftHSM
// sees only tokens that existed when a process first initialised it.
const (
	eimzoRSAToken  = "eimzo-rsa"
	eimzoP256Token = "eimzo-p256"
)

var eimzoTokens struct {
	once sync.Once
	fx   map[string]*softhsmtest.Fixture
	err  error
}

func eimzoTokenFixtures(t testing.TB) map[string]*softhsmtest.Fixture {
	t.Helper()
	eimzoTokens.once.Do(func() {
		eimzoTokens.fx = map[string]*softhsmtest.Fixture{}
		for label, typ := range map[string]string{eimzoRSAToken: softhsmtest.RSA2048, eimzoP256Token: softhsmtest.ECP256} {
			fx, err := softhsmtest.NewFixture(hsmEnv, label, softhsmtest.DefaultUserPIN, softhsmtest.DefaultSOPIN,
				[]softhsmtest.KeySpec{{Label: "sign", ID: []byte{0x01}, Type: typ}})
			if err != nil {
				eimzoTokens.err = fmt.Errorf("token %s: %w", label, err)
				return
			}
			eimzoTokens.fx[label] = fx
		}
	})
	if eimzoTokens.err != nil {
		t.Fatal(eimzoTokens.err)
	}
	return eimzoTokens.fx
}

// eimzoSetup is what startEIMZOAgent puts in the configuration.
type eimzoSetup struct {
	PFXDirs, PFXFiles []string
	// Secrets maps a token URI (pkcs11:token=… or file:///….pfx) to its
	// PIN or password; each goes to a 0600 file named by a PIN source.
	Secrets map[string]string
	// TokenKey is the plugin option token_key ("" for none).
	TokenKey string
	// Deny are the administrator's policy.deny origin patterns.
	Deny []string
}

// eimzoAgent is a running `signet serve` with the E-IMZO plugin.
type eimzoAgent struct {
	*agent
	// WSS and WS are the plugin's endpoint URLs.
	WSS, WS string
	// TLS trusts the agent's local CA only.
	TLS *tls.Config
	// CA is the agent's local CA certificate.
	CA *x509.Certificate
}

// startEIMZOAgent starts `signet serve` with the SoftHSM module, the setup's
// key files, the E-IMZO plugin on two free loopback ports (wss, ws) and an
// unattended policy that allows every origin and takes every PIN and
// password from a file, then waits until the agent is ready.
func startEIMZOAgent(t testing.TB, s eimzoSetup) *eimzoAgent {
	t.Helper()
	plugin := eimzoPluginPath(t)
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "keystore:\n  pkcs11_modules: [%s]\n", hsmEnv.Module)
	for _, l := range []struct {
		key   string
		paths []string
	}{{"pfx_dirs", s.PFXDirs}, {"pfx_files", s.PFXFiles}} {
		if len(l.paths) > 0 {
			fmt.Fprintf(&b, "  %s:\n", l.key)
			for _, p := range l.paths {
				fmt.Fprintf(&b, "    - %q\n", p)
			}
		}
	}
	fmt.Fprintf(&b, "data_dir: %s\nplugin_dir: %s\n", filepath.Join(dir, "data"), filepath.Join(dir, "no-plugins"))
	fmt.Fprintf(&b, "plugins:\n  - name: eimzo\n    path: %s\n    listen: [\"127.0.0.1:0\", \"127.0.0.1:0\"]\n", plugin)
	if s.TokenKey != "" {
		fmt.Fprintf(&b, "    options: {token_key: %q}\n", s.TokenKey)
	}
	b.WriteString("policy:\n")
	if len(s.Deny) > 0 {
		b.WriteString("  deny:\n")
		for _, d := range s.Deny {
			fmt.Fprintf(&b, "    - %q\n", d)
		}
	}
	b.WriteString("  unattended:\n    rules:\n      - {origin: \"*\", action: allow}\n")
	if len(s.Secrets) > 0 {
		b.WriteString("    pin_sources:\n")
		uris := make([]string, 0, len(s.Secrets))
		for u := range s.Secrets {
			uris = append(uris, u)
		}
		slices.Sort(uris)
		for i, u := range uris {
			f := filepath.Join(dir, fmt.Sprintf("secret-%d", i))
			if err := os.WriteFile(f, []byte(s.Secrets[u]), 0o600); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "      - {token: %q, file: %q}\n", u, f)
		}
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &eimzoAgent{agent: launchAgent(t, dir, cfgPath, nil)}
	a.findListeners(t)
	return a
}

// findListeners reads the plugin's bound addresses from `signet plugins
// --json` and the local CA from the data directory.
func (a *eimzoAgent) findListeners(t testing.TB) {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "signet"), "plugins", "--json", "--socket", a.socket).Output()
	if err != nil {
		t.Fatalf("signet plugins: %v", err)
	}
	var ps []host.PluginStatus
	if err := json.Unmarshal(out, &ps); err != nil {
		t.Fatalf("signet plugins output: %v\n%s", err, out)
	}
	for _, p := range ps {
		if p.Name != "eimzo" {
			continue
		}
		if p.State != host.Running {
			t.Fatalf("eimzo plugin %s: %s", p.State, p.LastError)
		}
		for _, l := range p.Listeners {
			switch l.Name {
			case "wss":
				a.WSS = "wss://" + l.Addr + "/service/cryptapi"
			case "ws":
				a.WS = "ws://" + l.Addr + "/service/cryptapi"
			}
		}
	}
	if a.WSS == "" || a.WS == "" {
		t.Fatalf("eimzo listeners not found in %s", out)
	}
	data, err := os.ReadFile(filepath.Join(a.dir, "data", "ca", "ca.crt"))
	if err != nil {
		t.Fatalf("local CA: %v", err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		t.Fatal("local CA: no PEM block")
	}
	if a.CA, err = x509.ParseCertificate(blk.Bytes); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(a.CA)
	a.TLS = &tls.Config{RootCAs: pool}
}

// client returns a client that behaves as e-imzo.js for the wss or ws
// endpoint with origin: it closes as soon as the reply arrives and
// requires the server's close code to be 1000.
func (a *eimzoAgent) client(listener, origin string) *eimzoclient.Client {
	c := &eimzoclient.Client{Origin: origin, StrictClose: true, CloseFirst: true, TLSConfig: a.TLS}
	c.URL = a.WS
	if listener == "wss" {
		c.URL = a.WSS
	}
	return c
}

// eimzoKeyFile is one E-IMZO-style PFX file of the test disk.
type eimzoKeyFile struct {
	Person   softhsmtest.EIMZOPerson
	Key      *softhsmtest.SoftwareKey
	Path     string
	Password string
	Alias    string
	// Disk, Dir and Name are where E-IMZO would list it.
	Disk, Dir, Name string
}

// writeEIMZODisk writes E-IMZO-style key files: disk/DSKEYS/<name>.pfx
// (an employee of a company, RSA-2048) and disk/<name>.pfx (an individual,
// ECDSA P-256), both found through pfx_dirs, and other/DSKEYS/<name>.pfx
// (Ed25519), named in pfx_files. Aliases in spec §7.1 format, written by
// `openssl pkcs12 -export -name`; certificates readable without the
// password, as in files from Uzbek CAs.
func writeEIMZODisk(t testing.TB) (files []*eimzoKeyFile, setup eimzoSetup) {
	t.Helper()
	pki, err := softhsmtest.DefaultPKI()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	disk := filepath.Join(root, "disk")
	other := filepath.Join(root, "other")
	ed := softhsmtest.EIMZOPerson{CN: "TOSHMATOV ESHMAT", Name: "ESHMAT", Surname: "TOSHMATOV", Country: "UZ",
		UID: "398765432", PINFL: "30101850120045"}
	for i, f := range []struct {
		person softhsmtest.EIMZOPerson
		typ    string
		disk   string
		dir    string
		name   string
	}{
		{softhsmtest.EIMZOEmployee, softhsmtest.RSA2048, disk, "DSKEYS", "DS3051234560001"},
		{softhsmtest.EIMZOIndividual, softhsmtest.ECP256, disk, "", "DS3123456780002"},
		{ed, softhsmtest.Ed25519, other, "DSKEYS", "DS3987654320003"},
	} {
		k, err := pki.NewEIMZOKey(f.typ, f.person, softhsmtest.IssueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		kf := &eimzoKeyFile{Person: f.person, Key: k, Password: fmt.Sprintf("Parol-%d-Kalit", i), Alias: f.person.Alias(k.Certificate),
			Disk: f.disk + string(filepath.Separator), Dir: f.dir, Name: f.name}
		kf.Path = filepath.Join(f.disk, f.dir, f.name+".pfx")
		if err := softhsmtest.WriteEIMZOPFX(kf.Path, k, softhsmtest.EIMZOPFX{Alias: kf.Alias, Password: kf.Password, PlainCertificates: true}); err != nil {
			t.Fatal(err)
		}
		files = append(files, kf)
	}
	setup = eimzoSetup{
		PFXDirs:  []string{disk, filepath.Join(disk, "DSKEYS")},
		PFXFiles: []string{files[2].Path},
		Secrets:  map[string]string{},
	}
	for _, f := range files {
		setup.Secrets["file://"+f.Path] = f.Password
	}
	return files, setup
}

// publishedAPIKeys returns the vendor's published API keys for localhost and
// 127.0.0.1 from testdata/eimzo/apikeys.json ({"domain": "key"}), nil when
// the file is not there.
func publishedAPIKeys(t testing.TB) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "eimzo", "apikeys.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]string
	if err := json.Unmarshal(data, &keys); err != nil {
		t.Fatalf("testdata/eimzo/apikeys.json: %v", err)
	}
	return keys
}

// eimzoVerify checks a create_pkcs7 reply: sdk/cms verifies it against the
// test PKI (signature, content digest, chain: with chain false the
// verifiers are given the intermediate CA, otherwise the message must carry
// it, as E-IMZO's do), the signer is want, the
// content (attached) is doc, signature_hex and signer_serial_number are
// those of the parsed SignerInfo; and `openssl cms -verify` accepts it with
// the test root as the only trust anchor (except Ed25519, which OpenSSL 3.0
// cannot verify in CMS).
func eimzoVerify(t testing.TB, p eimzoclient.PKCS7, doc []byte, detached, chain bool, want *x509.Certificate) {
	t.Helper()
	pki, err := softhsmtest.DefaultPKI()
	if err != nil {
		t.Fatal(err)
	}
	var content io.Reader
	if detached {
		content = bytes.NewReader(doc)
	}
	opts := &cms.VerifyOptions{Roots: pki.Roots()}
	if !chain {
		opts.Intermediates = pki.Intermediates()
	}
	rep, err := cms.Verify(p.PKCS7, content, opts)
	if err != nil {
		t.Fatalf("sdk/cms.Verify: %v", err)
	}
	if !rep.Valid() || len(rep.Signers) != 1 {
		t.Fatalf("sdk/cms report not valid: %+v", rep)
	}
	s := rep.Signers[0]
	if s.ChainStatus != cms.ChainValid {
		t.Errorf("chain status %s", s.ChainStatus)
	}
	if !s.Certificate.Equal(want) {
		t.Errorf("signer %s, want %s", s.Subject, want.Subject)
	}
	if rep.Detached != detached {
		t.Errorf("detached = %v, want %v", rep.Detached, detached)
	}
	if !detached && !bytes.Equal(rep.Content, doc) {
		t.Errorf("attached content %q, want %q", rep.Content, doc)
	}
	if p.SignatureHex != s.SignatureHex || p.SignatureHex != strings.ToLower(p.SignatureHex) {
		t.Errorf("signature_hex %s, CMS %s", p.SignatureHex, s.SignatureHex)
	}
	sd, err := cms.ParseSignedData(p.PKCS7)
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.Signers) != 1 || hex.EncodeToString(sd.Signers[0].Signature) != p.SignatureHex || sd.Signers[0].SerialHex() != p.SignerSerialNumber {
		t.Errorf("signature_hex %s / signer_serial_number %s do not match the SignerInfo", p.SignatureHex, p.SignerSerialNumber)
	}
	if sd.HasContent == detached {
		t.Errorf("eContent present = %v for detached = %v", sd.HasContent, detached)
	}
	if p.SignerSerialNumber != s.SerialHex || p.SignerSerialNumber != want.SerialNumber.Text(16) {
		t.Errorf("signer_serial_number %s, CMS %s, certificate %s", p.SignerSerialNumber, s.SerialHex, want.SerialNumber.Text(16))
	}
	if want.PublicKeyAlgorithm == x509.Ed25519 {
		// OpenSSL 3.0's cms cannot verify Ed25519 (RFC 8419); check the
		// signature over the DER signed attributes with pkeyutl instead.
		opensslEd25519Attrs(t, sd.Signers[0], want)
		return
	}
	var untrusted *x509.Certificate
	if !chain {
		untrusted = pki.Intermediate
	}
	opensslCMSVerify(t, p.PKCS7, doc, detached, pki.Root, untrusted)
}

// opensslCMSVerify runs `openssl cms -verify` on der with root as the only
// trust anchor. OpenSSL 3.0's cms has no -untrusted option and does not
// build chains through -certfile, so an intermediate the message lacks
// (when not nil) goes into the -CAfile bundle next to the root.
func opensslCMSVerify(t testing.TB, der, doc []byte, detached bool, root, intermediate *x509.Certificate) {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sig := write("sig.p7s", der)
	bundle := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})
	if intermediate != nil {
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: intermediate.Raw})...)
	}
	ca := write("ca.pem", bundle)
	out := filepath.Join(dir, "out")
	args := []string{"cms", "-verify", "-inform", "DER", "-in", sig, "-CAfile", ca, "-purpose", "any", "-out", out}
	if detached {
		args = append(args, "-content", write("doc", doc), "-binary")
	}
	cmd := exec.Command("openssl", args...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, doc) {
		t.Errorf("openssl cms -verify output %q, want the document %q", got, doc)
	}
}

// opensslEd25519Attrs verifies an Ed25519 SignerInfo's signature over its
// signed attributes (re-tagged as a SET, as signed) with `openssl pkeyutl
// -verify -rawin`.
func opensslEd25519Attrs(t testing.TB, si *cms.SignerInfo, cert *x509.Certificate) {
	t.Helper()
	if !si.HasSignedAttributes || len(si.RawSignedAttributes) == 0 {
		t.Fatal("Ed25519 signer without signed attributes")
	}
	signed := slices.Clone(si.RawSignedAttributes)
	signed[0] = 0x31 // [0] IMPLICIT → SET OF
	spki, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pub, attrs, sig := filepath.Join(dir, "pub.pem"), filepath.Join(dir, "attrs.der"), filepath.Join(dir, "sig.bin")
	for p, data := range map[string][]byte{pub: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), attrs: signed, sig: si.Signature} {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", attrs, "-sigfile", sig).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Signature Verified Successfully") {
		t.Fatalf("openssl pkeyutl -verify -rawin (Ed25519): %v\n%s", err, out)
	}
}

func eimzoCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestEIMZOOfficialSequence replays what a page with the official e-imzo.js
// and e-imzo-client.js does, over both listeners, one socket per call, each
// ended by the server's close 1000: version → apikey → pfx.list_all_
// certificates → pfx.load_key → pkcs7.create_pkcs7 attached and detached,
// for every key file; then create_pkcs7 with the pseudo-id "ckc" on a
// SoftHSM token key.
func TestEIMZOOfficialSequence(t *testing.T) {
	toks := eimzoTokenFixtures(t)
	files, setup := writeEIMZODisk(t)
	tokKey := toks[eimzoP256Token].Keys["sign"]
	setup.Secrets["pkcs11:token="+eimzoP256Token] = softhsmtest.DefaultUserPIN
	setup.TokenKey = "pkcs11:token=" + eimzoP256Token + ";"
	a := startEIMZOAgent(t, setup)

	for _, listener := range []string{"wss", "ws"} {
		t.Run(listener, func(t *testing.T) {
			c := a.client(listener, "http://localhost")
			ctx := eimzoCtx(t)

			// 1. version: the official client wants ≥ 4.86 for every flow.
			v, err := c.Version(ctx)
			if err != nil {
				t.Fatalf("version: %v", err)
			}
			if v.Number() < 486 {
				t.Fatalf("version %s: the official client would refuse it", v)
			}

			// 2. apikey with the vendor's published keys.
			if keys := publishedAPIKeys(t); keys != nil {
				msg, err := c.APIKey(ctx, "localhost", keys["localhost"], "127.0.0.1", keys["127.0.0.1"])
				if err != nil {
					t.Fatalf("apikey with the published keys: %v", err)
				}
				if msg != c.Origin {
					t.Errorf("apikey message %q, want the Origin %q", msg, c.Origin)
				}
			} else {
				t.Log("testdata/eimzo/apikeys.json missing: apikey with the published keys not checked")
			}

			// 3. pfx.list_all_certificates: every key file, where E-IMZO
			// would list it, with an alias the official client parses into
			// the certificate's own fields.
			certs, err := c.ListAllCertificates(ctx)
			if err != nil {
				t.Fatalf("list_all_certificates: %v", err)
			}
			if len(certs) != len(files) {
				t.Fatalf("listed %d certificates, want %d: %+v", len(certs), len(files), certs)
			}
			for _, f := range files {
				i := slices.IndexFunc(certs, func(c eimzoclient.Certificate) bool { return c.Name == f.Name })
				if i < 0 {
					t.Fatalf("%s not listed: %+v", f.Name, certs)
				}
				got := certs[i]
				if got.Disk != f.Disk || got.Path != f.Dir || got.Alias != f.Alias {
					t.Errorf("%s listed as %+v, want disk %q path %q alias %q", f.Name, got, f.Disk, f.Dir, f.Alias)
				}
				checkAlias(t, got.Alias, f)

				// 4. load_key: no password asked, a fresh keyId.
				k, err := c.LoadKey(ctx, got)
				if err != nil {
					t.Fatalf("load_key %s: %v", f.Name, err)
				}
				if k.Type != "PFX_KEY_STORE" || len(k.KeyID) != 32 || strings.ToLower(k.KeyID) != k.KeyID {
					t.Errorf("load_key %s: %+v", f.Name, k)
				}
				if _, err := hex.DecodeString(k.KeyID); err != nil {
					t.Errorf("keyId %q is not hex", k.KeyID)
				}

				// 5. create_pkcs7 attached ("no") and detached ("yes").
				doc := []byte("Shartnoma № 17 — " + f.Name + " — " + listener)
				for _, detached := range []bool{false, true} {
					p, err := c.CreatePKCS7(ctx, doc, k.KeyID, detached)
					if err != nil {
						t.Fatalf("create_pkcs7 %s detached=%v: %v", f.Name, detached, err)
					}
					eimzoVerify(t, p, doc, detached, true, f.Key.Certificate)
				}
			}

			// 6. A token key through the pseudo-id "ckc" (token_key names
			// the token, the unattended PIN source logs in).
			doc := []byte("token signature over " + listener)
			for _, detached := range []bool{false, true} {
				p, err := c.CreatePKCS7(ctx, doc, "ckc", detached)
				if err != nil {
					t.Fatalf("create_pkcs7 ckc detached=%v: %v", detached, err)
				}
				// The token holds only the end-entity certificate, so the
				// message cannot carry the chain.
				eimzoVerify(t, p, doc, detached, false, tokKey.Certificate)
			}
		})
	}
}

// checkAlias parses alias the way the official client does and compares
// the result with the certificate's own fields.
func checkAlias(t testing.TB, alias string, f *eimzoKeyFile) {
	t.Helper()
	got := eimzoclient.ParseAlias(alias)
	cert := f.Key.Certificate
	tin := f.Person.TIN
	if tin == "" {
		tin = f.Person.UID
	}
	want := eimzoclient.AliasInfo{
		CN: strings.ToUpper(f.Person.CN), TIN: tin, UID: f.Person.UID, PINFL: f.Person.PINFL,
		O: strings.ToUpper(f.Person.Organization), T: strings.ToUpper(f.Person.Title),
		SerialNumber: strings.ToUpper(cert.SerialNumber.Text(16)),
	}
	if got.CN != want.CN || got.TIN != want.TIN || got.UID != want.UID || got.PINFL != want.PINFL ||
		got.O != want.O || got.T != want.T || got.SerialNumber != want.SerialNumber {
		t.Errorf("alias %q parses as %+v, want %+v", alias, got, want)
	}
	if !got.ValidFromTime.Equal(cert.NotBefore) || !got.ValidToTime.Equal(cert.NotAfter) {
		t.Errorf("alias validity %v – %v, certificate %v – %v", got.ValidFromTime, got.ValidToTime, cert.NotBefore, cert.NotAfter)
	}
}

// TestEIMZOErrors: what a page sees when something is refused, through the
// real agent, each reply followed by close 1000: no Origin (-1021), an
// origin the administrator denies (-1022; main functions still answer), a
// keyId of another domain, an unknown or unloaded keyId (-1010), a wrong
// key-file password from the PIN source (-5000 with the BadPaddingException
// text the official e-imzo-init.js looks for), a wrong argument count (0).
func TestEIMZOErrors(t *testing.T) {
	files, setup := writeEIMZODisk(t)
	bad := files[2]
	setup.Secrets["file://"+bad.Path] = "not the password"
	setup.Deny = []string{"https://evil.example"}
	a := startEIMZOAgent(t, setup)
	ctx := eimzoCtx(t)
	status := func(t *testing.T, err error) int {
		t.Helper()
		st, ok := eimzoclient.StatusOf(err)
		if !ok {
			t.Fatalf("no E-IMZO status in %v", err)
		}
		return st
	}

	t.Run("no origin", func(t *testing.T) {
		c := a.client("ws", "")
		if _, err := c.Version(ctx); err != nil {
			t.Fatalf("version: %v", err)
		}
		if _, err := c.ListAllCertificates(ctx); status(t, err) != -1021 {
			t.Errorf("list_all_certificates: %v, want -1021", err)
		}
	})

	t.Run("denied origin", func(t *testing.T) {
		c := a.client("wss", "https://evil.example")
		if _, err := c.Version(ctx); err != nil {
			t.Fatalf("version: %v", err)
		}
		_, err := c.ListAllCertificates(ctx)
		if st := status(t, err); st != -1022 || !strings.Contains(err.Error(), "evil.example") {
			t.Errorf("list_all_certificates: %v, want -1022 naming the domain", err)
		}
		_, err = c.CallFunction(ctx, "ckc", "supported_ckc")
		if st := status(t, err); st != -1022 {
			t.Errorf("ckc.supported_ckc: %v, want -1022", err)
		}
	})

	t.Run("keyId scope", func(t *testing.T) {
		c := a.client("wss", "https://portal.example")
		certs, err := c.ListAllCertificates(ctx)
		if err != nil || len(certs) == 0 {
			t.Fatalf("list: %v", err)
		}
		k, err := c.LoadKey(ctx, certs[0])
		if err != nil {
			t.Fatal(err)
		}
		other := a.client("wss", "https://other.example")
		if _, err := other.CreatePKCS7(ctx, []byte("x"), k.KeyID, false); status(t, err) != -1010 {
			t.Errorf("another domain's keyId: %v, want -1010", err)
		}
		if _, err := c.CreatePKCS7(ctx, []byte("x"), strings.Repeat("0", 32), false); status(t, err) != -1010 {
			t.Errorf("unknown keyId: %v, want -1010", err)
		}
		if _, err := c.CallFunction(ctx, "pfx", "unload_key", k.KeyID); err != nil {
			t.Fatalf("unload_key: %v", err)
		}
		if _, err := c.CreatePKCS7(ctx, []byte("x"), k.KeyID, false); status(t, err) != -1010 {
			t.Errorf("unloaded keyId: %v, want -1010", err)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		c := a.client("wss", "https://portal.example")
		certs, err := c.ListAllCertificates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(certs, func(c eimzoclient.Certificate) bool { return c.Name == bad.Name })
		if i < 0 {
			t.Fatalf("%s not listed", bad.Name)
		}
		k, err := c.LoadKey(ctx, certs[i])
		if err != nil {
			t.Fatalf("load_key asks no password, so it succeeds: %v", err)
		}
		_, err = c.CreatePKCS7(ctx, []byte("x"), k.KeyID, false)
		if st := status(t, err); st != -5000 || !strings.Contains(err.Error(), "BadPaddingException") {
			t.Errorf("create_pkcs7 with a wrong password: %v, want -5000 naming BadPaddingException", err)
		}
		if strings.Contains(err.Error(), "not the password") {
			t.Error("the reply echoes the password")
		}
	})

	t.Run("argument count", func(t *testing.T) {
		c := a.client("ws", "https://portal.example")
		r, err := c.CallFunction(ctx, "pkcs7", "create_pkcs7", "eA==")
		if status(t, err) != 0 || r.CloseCode != eimzoclient.CloseNormal {
			t.Errorf("create_pkcs7 with one argument: %+v, %v; want status 0 and close 1000", r, err)
		}
	})
}
