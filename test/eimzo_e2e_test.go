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
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/signet-agent/signet/plugins/eimzo/eimzoclient"
	"github.com/signet-agent/signet/sdk/cms"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NoError(t, eimzoBuild.err)
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
	require.NoError(t, eimzoTokens.err)
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
	cfg := newAgentConfig(dir)
	cfg.Keystore.PFXDirs = s.PFXDirs
	cfg.Keystore.PFXFiles = s.PFXFiles
	p := pluginConf{Name: "eimzo", Path: plugin, Listen: []listenConf{anyPort, anyPort}}
	if s.TokenKey != "" {
		p.Options = map[string]string{"token_key": s.TokenKey}
	}
	cfg.Plugins = []pluginConf{p}
	cfg.Policy = policyConf{Deny: s.Deny, Unattended: unattendedConf{Rules: []ruleConf{allowAll}}}
	uris := make([]string, 0, len(s.Secrets))
	for u := range s.Secrets {
		uris = append(uris, u)
	}
	slices.Sort(uris)
	for i, u := range uris {
		f := filepath.Join(dir, fmt.Sprintf("secret-%d", i))
		require.NoError(t, os.WriteFile(f, []byte(s.Secrets[u]), 0o600))
		cfg.Policy.Unattended.PINSources = append(cfg.Policy.Unattended.PINSources, pinSource{Token: u, File: f})
	}
	cfgPath := writeConfig(t, dir, cfg)
	a := &eimzoAgent{agent: launchAgent(t, dir, cfgPath, nil)}
	a.findListeners(t)
	return a
}

// findListeners reads the plugin's bound addresses from `signet plugins
// --json` and the local CA from the data directory.
func (a *eimzoAgent) findListeners(t testing.TB) {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "signet"), "plugins", "--json", "--socket", a.socket).Output()
	require.NoError(t, err, "signet plugins")
	var ps []host.PluginStatus
	require.NoError(t, json.Unmarshal(out, &ps), "signet plugins output\n%s", out)
	for _, p := range ps {
		if p.Name != "eimzo" {
			continue
		}
		require.Equal(t, host.Running, p.State, "eimzo plugin: %s", p.LastError)
		for _, l := range p.Listeners {
			switch l.Name {
			case "wss":
				a.WSS = "wss://" + l.Addr + "/service/cryptapi"
			case "ws":
				a.WS = "ws://" + l.Addr + "/service/cryptapi"
			}
		}
	}
	require.NotEmpty(t, a.WSS, "eimzo wss listener not found in %s", out)
	require.NotEmpty(t, a.WS, "eimzo ws listener not found in %s", out)
	data, err := os.ReadFile(filepath.Join(a.dir, "data", "ca", "ca.crt"))
	require.NoError(t, err, "local CA")
	blk, _ := pem.Decode(data)
	require.NotNil(t, blk, "local CA: no PEM block")
	a.CA, err = x509.ParseCertificate(blk.Bytes)
	require.NoError(t, err)
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
	require.NoError(t, err)
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
		require.NoError(t, err)
		kf := &eimzoKeyFile{Person: f.person, Key: k, Password: fmt.Sprintf("Parol-%d-Kalit", i), Alias: f.person.Alias(k.Certificate),
			Disk: f.disk + string(filepath.Separator), Dir: f.dir, Name: f.name}
		kf.Path = filepath.Join(f.disk, f.dir, f.name+".pfx")
		require.NoError(t, softhsmtest.WriteEIMZOPFX(kf.Path, k, softhsmtest.EIMZOPFX{Alias: kf.Alias, Password: kf.Password, PlainCertificates: true}))
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
	require.NoError(t, err)
	var keys map[string]string
	require.NoError(t, json.Unmarshal(data, &keys), "testdata/eimzo/apikeys.json")
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
	require.NoError(t, err)
	var content io.Reader
	if detached {
		content = bytes.NewReader(doc)
	}
	opts := &cms.VerifyOptions{Roots: pki.Roots()}
	if !chain {
		opts.Intermediates = pki.Intermediates()
	}
	rep, err := cms.Verify(p.PKCS7, content, opts)
	require.NoError(t, err, "sdk/cms.Verify")
	require.True(t, rep.Valid(), "sdk/cms report not valid: %+v", rep)
	require.Len(t, rep.Signers, 1, "sdk/cms report: %+v", rep)
	s := rep.Signers[0]
	assert.Equal(t, cms.ChainValid, s.ChainStatus, "chain status")
	assert.True(t, s.Certificate.Equal(want), "signer %s, want %s", s.Subject, want.Subject)
	assert.Equal(t, detached, rep.Detached, "detached")
	if !detached {
		assert.Equal(t, doc, rep.Content, "attached content")
	}
	assert.Equal(t, s.SignatureHex, p.SignatureHex, "signature_hex against the CMS")
	assert.Equal(t, strings.ToLower(p.SignatureHex), p.SignatureHex, "signature_hex is not lower case")
	sd, err := cms.ParseSignedData(p.PKCS7)
	require.NoError(t, err)
	require.Len(t, sd.Signers, 1, "SignerInfos")
	assert.Equal(t, hex.EncodeToString(sd.Signers[0].Signature), p.SignatureHex, "signature_hex against the SignerInfo")
	assert.Equal(t, sd.Signers[0].SerialHex(), p.SignerSerialNumber, "signer_serial_number against the SignerInfo")
	assert.NotEqual(t, detached, sd.HasContent, "eContent present for detached = %v", detached)
	assert.Equal(t, s.SerialHex, p.SignerSerialNumber, "signer_serial_number against the CMS report")
	assert.Equal(t, want.SerialNumber.Text(16), p.SignerSerialNumber, "signer_serial_number against the certificate")
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
		require.NoError(t, os.WriteFile(p, data, 0o600))
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
	msg, err := exec.Command("openssl", args...).CombinedOutput()
	require.NoError(t, err, "openssl %s\n%s", strings.Join(args, " "), msg)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, doc, got, "openssl cms -verify output is not the document")
}

// opensslEd25519Attrs verifies an Ed25519 SignerInfo's signature over its
// signed attributes (re-tagged as a SET, as signed) with `openssl pkeyutl
// -verify -rawin`.
func opensslEd25519Attrs(t testing.TB, si *cms.SignerInfo, cert *x509.Certificate) {
	t.Helper()
	require.True(t, si.HasSignedAttributes, "Ed25519 signer without signed attributes")
	require.NotEmpty(t, si.RawSignedAttributes, "Ed25519 signer without signed attributes")
	signed := slices.Clone(si.RawSignedAttributes)
	signed[0] = 0x31 // [0] IMPLICIT → SET OF
	spki, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	require.NoError(t, err)
	dir := t.TempDir()
	pub, attrs, sig := filepath.Join(dir, "pub.pem"), filepath.Join(dir, "attrs.der"), filepath.Join(dir, "sig.bin")
	for p, data := range map[string][]byte{pub: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), attrs: signed, sig: si.Signature} {
		require.NoError(t, os.WriteFile(p, data, 0o600))
	}
	out, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", attrs, "-sigfile", sig).CombinedOutput()
	require.NoError(t, err, "openssl pkeyutl -verify -rawin (Ed25519)\n%s", out)
	require.Contains(t, string(out), "Signature Verified Successfully", "openssl pkeyutl -verify -rawin (Ed25519)")
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
			require.NoError(t, err, "version")
			require.GreaterOrEqual(t, v.Number(), 486, "version %s: the official client would refuse it", v)

			// 2. apikey with the vendor's published keys.
			if keys := publishedAPIKeys(t); keys != nil {
				msg, err := c.APIKey(ctx, "localhost", keys["localhost"], "127.0.0.1", keys["127.0.0.1"])
				require.NoError(t, err, "apikey with the published keys")
				assert.Equal(t, c.Origin, msg, "apikey message, want the Origin")
			} else {
				t.Log("testdata/eimzo/apikeys.json missing: apikey with the published keys not checked")
			}

			// 3. pfx.list_all_certificates: every key file, where E-IMZO
			// would list it, with an alias the official client parses into
			// the certificate's own fields.
			certs, err := c.ListAllCertificates(ctx)
			require.NoError(t, err, "list_all_certificates")
			require.Len(t, certs, len(files), "listed certificates: %+v", certs)
			for _, f := range files {
				i := slices.IndexFunc(certs, func(c eimzoclient.Certificate) bool { return c.Name == f.Name })
				require.GreaterOrEqual(t, i, 0, "%s not listed: %+v", f.Name, certs)
				got := certs[i]
				assert.Equal(t, f.Disk, got.Disk, "%s listed on disk", f.Name)
				assert.Equal(t, f.Dir, got.Path, "%s listed in path", f.Name)
				assert.Equal(t, f.Alias, got.Alias, "%s listed with alias", f.Name)
				checkAlias(t, got.Alias, f)

				// 4. load_key: no password asked, a fresh keyId.
				k, err := c.LoadKey(ctx, got)
				require.NoError(t, err, "load_key %s", f.Name)
				assert.Equal(t, "PFX_KEY_STORE", k.Type, "load_key %s: type", f.Name)
				assert.Len(t, k.KeyID, 32, "load_key %s: keyId", f.Name)
				assert.Equal(t, strings.ToLower(k.KeyID), k.KeyID, "load_key %s: keyId is not lower case", f.Name)
				_, err = hex.DecodeString(k.KeyID)
				assert.NoError(t, err, "keyId %q is not hex", k.KeyID)

				// 5. create_pkcs7 attached ("no") and detached ("yes").
				doc := []byte("Shartnoma № 17 — " + f.Name + " — " + listener)
				for _, detached := range []bool{false, true} {
					p, err := c.CreatePKCS7(ctx, doc, k.KeyID, detached)
					require.NoError(t, err, "create_pkcs7 %s detached=%v", f.Name, detached)
					eimzoVerify(t, p, doc, detached, true, f.Key.Certificate)
				}
			}

			// 6. A token key through the pseudo-id "ckc" (token_key names
			// the token, the unattended PIN source logs in).
			doc := []byte("token signature over " + listener)
			for _, detached := range []bool{false, true} {
				p, err := c.CreatePKCS7(ctx, doc, "ckc", detached)
				require.NoError(t, err, "create_pkcs7 ckc detached=%v", detached)
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
	assert.Equal(t, want.CN, got.CN, "alias %q: CN", alias)
	assert.Equal(t, want.TIN, got.TIN, "alias %q: TIN", alias)
	assert.Equal(t, want.UID, got.UID, "alias %q: UID", alias)
	assert.Equal(t, want.PINFL, got.PINFL, "alias %q: PINFL", alias)
	assert.Equal(t, want.O, got.O, "alias %q: O", alias)
	assert.Equal(t, want.T, got.T, "alias %q: T", alias)
	assert.Equal(t, want.SerialNumber, got.SerialNumber, "alias %q: serial number", alias)
	assert.True(t, got.ValidFromTime.Equal(cert.NotBefore), "alias valid from %v, certificate %v", got.ValidFromTime, cert.NotBefore)
	assert.True(t, got.ValidToTime.Equal(cert.NotAfter), "alias valid to %v, certificate %v", got.ValidToTime, cert.NotAfter)
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
		require.True(t, ok, "no E-IMZO status in %v", err)
		return st
	}

	t.Run("no origin", func(t *testing.T) {
		c := a.client("ws", "")
		_, err := c.Version(ctx)
		require.NoError(t, err, "version")
		_, err = c.ListAllCertificates(ctx)
		assert.Equal(t, -1021, status(t, err), "list_all_certificates: %v", err)
	})

	t.Run("denied origin", func(t *testing.T) {
		c := a.client("wss", "https://evil.example")
		_, err := c.Version(ctx)
		require.NoError(t, err, "version")
		_, err = c.ListAllCertificates(ctx)
		assert.Equal(t, -1022, status(t, err), "list_all_certificates: %v", err)
		assert.ErrorContains(t, err, "evil.example", "list_all_certificates: want the domain named")
		_, err = c.CallFunction(ctx, "ckc", "supported_ckc")
		assert.Equal(t, -1022, status(t, err), "ckc.supported_ckc: %v", err)
	})

	t.Run("keyId scope", func(t *testing.T) {
		c := a.client("wss", "https://portal.example")
		certs, err := c.ListAllCertificates(ctx)
		require.NoError(t, err, "list")
		require.NotEmpty(t, certs, "list")
		k, err := c.LoadKey(ctx, certs[0])
		require.NoError(t, err)
		other := a.client("wss", "https://other.example")
		_, err = other.CreatePKCS7(ctx, []byte("x"), k.KeyID, false)
		assert.Equal(t, -1010, status(t, err), "another domain's keyId: %v", err)
		_, err = c.CreatePKCS7(ctx, []byte("x"), strings.Repeat("0", 32), false)
		assert.Equal(t, -1010, status(t, err), "unknown keyId: %v", err)
		_, err = c.CallFunction(ctx, "pfx", "unload_key", k.KeyID)
		require.NoError(t, err, "unload_key")
		_, err = c.CreatePKCS7(ctx, []byte("x"), k.KeyID, false)
		assert.Equal(t, -1010, status(t, err), "unloaded keyId: %v", err)
	})

	t.Run("wrong password", func(t *testing.T) {
		c := a.client("wss", "https://portal.example")
		certs, err := c.ListAllCertificates(ctx)
		require.NoError(t, err)
		i := slices.IndexFunc(certs, func(c eimzoclient.Certificate) bool { return c.Name == bad.Name })
		require.GreaterOrEqual(t, i, 0, "%s not listed", bad.Name)
		k, err := c.LoadKey(ctx, certs[i])
		require.NoError(t, err, "load_key asks no password, so it succeeds")
		_, err = c.CreatePKCS7(ctx, []byte("x"), k.KeyID, false)
		assert.Equal(t, -5000, status(t, err), "create_pkcs7 with a wrong password: %v", err)
		assert.ErrorContains(t, err, "BadPaddingException", "create_pkcs7 with a wrong password")
		assert.NotContains(t, err.Error(), "not the password", "the reply echoes the password")
	})

	t.Run("argument count", func(t *testing.T) {
		c := a.client("ws", "https://portal.example")
		r, err := c.CallFunction(ctx, "pkcs7", "create_pkcs7", "eA==")
		assert.Equal(t, 0, status(t, err), "create_pkcs7 with one argument: %v", err)
		assert.Equal(t, eimzoclient.CloseNormal, r.CloseCode, "create_pkcs7 with one argument: close code")
	})
}
