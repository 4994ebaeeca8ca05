package doctor

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/localca"
	"github.com/signet-agent/signet/agent/trust"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// setup is a person's home with a configuration; run runs the doctor on it.
type setup struct {
	t      *testing.T
	home   string
	yaml   string
	stores []trust.Store
}

func newSetup(t *testing.T) *setup {
	home, err := os.MkdirTemp("", "doctor") // short: unix socket paths are limited
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(home) })
	return &setup{t: t, home: home, yaml: "data_dir: " + filepath.Join(home, "data") + "\n"}
}

func (s *setup) run() Report {
	s.t.Helper()
	path := filepath.Join(s.home, "config.yaml")
	require.NoError(s.t, os.WriteFile(path, []byte(s.yaml), 0o600))
	cfg, err := config.Load(path)
	require.NoError(s.t, err, "%s", s.yaml)
	return Run(context.Background(), Env{ConfigPath: path, Config: cfg, SocketPath: filepath.Join(s.home, "no-agent.sock"),
		TrustStores: func() ([]trust.Store, error) { return s.stores, nil }})
}

// find returns the findings of check whose summary contains s.
func find(r Report, check, s string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Check == check && strings.Contains(f.Summary, s) {
			out = append(out, f)
		}
	}
	return out
}

// one asserts exactly one finding of check mentions s, with status want
// and a fix when it is a problem.
func one(t *testing.T, r Report, check, s string, want Status) Finding {
	t.Helper()
	fs := find(r, check, s)
	require.Len(t, fs, 1, "findings %s %q in %+v", check, s, r.Findings)
	assert.Equal(t, want, fs[0].Status, "%s: %s", check, fs[0].Summary)
	if want == Warn || want == Fail {
		assert.NotEmpty(t, fs[0].Fix, "a problem without a fix: %s", fs[0].Summary)
	}
	return fs[0]
}

// TestDoctorModuleMissing: a configured PKCS#11 module that is not there.
func TestDoctorModuleMissing(t *testing.T) {
	s := newSetup(t)
	missing := filepath.Join(s.home, "lib", "libvendor-pkcs11.so")
	s.yaml += "keystore:\n  pkcs11_modules: [" + missing + "]\n"
	r := s.run()
	f := one(t, r, "pkcs11", missing+" not found", Fail)
	assert.Contains(t, f.Fix, "opensc-pkcs11")
	one(t, r, "agent", "web pages cannot sign", Warn)
	one(t, r, "config", "configuration valid", OK)
}

// TestDoctorModuleNotLoadable: a file that is no PKCS#11 module.
func TestDoctorModuleNotLoadable(t *testing.T) {
	s := newSetup(t)
	bogus := filepath.Join(s.home, "libbogus.so")
	require.NoError(t, os.WriteFile(bogus, []byte("not a library"), 0o644))
	s.yaml += "keystore:\n  pkcs11_modules: [" + bogus + "]\n"
	one(t, s.run(), "pkcs11", bogus+" cannot be loaded", Fail)
}

// TestDoctorPortTaken: the E-IMZO plugin's address is held by another
// program (here: this test) and the agent is not running.
func TestDoctorPortTaken(t *testing.T) {
	s := newSetup(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	freeAddr := free.Addr().String()
	free.Close()
	s.yaml += "plugin_dir: " + s.home + "\nplugins:\n  - name: eimzo\n    listen: [\"" + l.Addr().String() + "\", \"" + freeAddr + "\"]\n"
	r := s.run()
	f := one(t, r, "port", l.Addr().String()+", where plugin eimzo listens, is taken by another program", Fail)
	_, port, _ := net.SplitHostPort(l.Addr().String())
	assert.Contains(t, f.Fix, "sport = :"+port)
	assert.Contains(t, f.Summary, fmt.Sprintf("pid %d (", os.Getpid()), "the program holding the port is named")
	one(t, r, "port", freeAddr+" is free", OK)
}

// TestDoctorCAUntrusted: the local CA exists but the person's Chromium NSS
// database does not trust it; after `signet trust install` (InstallAll)
// it does. Its name constraints are shown.
func TestDoctorCAUntrusted(t *testing.T) {
	s := newSetup(t)
	_, err := localca.Open(localca.Dir(filepath.Join(s.home, "data")), nil, localca.Options{})
	require.NoError(t, err)
	s.stores = trust.NSSDatabases(s.home) // Chromium's, created on install
	r := s.run()
	ca := one(t, r, "ca", "local CA present", OK)
	assert.Contains(t, ca.Summary, "localhost")
	f := one(t, r, "trust", "does not trust the local CA", Fail)
	assert.Contains(t, f.Fix, "signet trust install")

	c, err := localca.Load(localca.Dir(filepath.Join(s.home, "data")), localca.Options{})
	require.NoError(t, err)
	require.NoError(t, trust.InstallAll(s.stores, c.Certificate()))
	one(t, s.run(), "trust", "trusts the local CA", OK)
}

// TestDoctorExpiredCertificate: a PFX key file whose certificate expired
// (a real one: NotAfter in the past), and one near its end; the JSON for a
// support ticket hides the owner's name, TIN and serial unless asked.
func TestDoctorExpiredCertificate(t *testing.T) {
	s := newSetup(t)
	keys := filepath.Join(s.home, "keys")
	require.NoError(t, os.MkdirAll(keys, 0o700))
	now := time.Now()
	writePFX(t, filepath.Join(keys, "old.pfx"), "ALIYEV VALI", "123456789", now.AddDate(-2, 0, 0), now.AddDate(0, 0, -3))
	writePFX(t, filepath.Join(keys, "soon.pfx"), "KARIMOVA NODIRA", "987654321", now.AddDate(-1, 0, 0), now.AddDate(0, 0, 10))
	s.yaml += "keystore:\n  pfx_dirs: [" + keys + "]\n"
	r := s.run()
	one(t, r, "pfx", "readable (2 entries)", OK)
	old := one(t, r, "certificate", "ALIYEV VALI", Fail)
	assert.Contains(t, old.Summary, "expired on "+now.AddDate(0, 0, -3).UTC().Format("2006-01-02"))
	one(t, r, "certificate", "KARIMOVA NODIRA", Warn)

	data, err := json.Marshal(r.Redact())
	require.NoError(t, err)
	// The TIN is in the subject, hex-encoded as an unknown attribute.
	tinHex := hex.EncodeToString([]byte("123456789"))
	for _, personal := range []string{"ALIYEV", "KARIMOVA", "123456789", "987654321", tinHex, "old.pfx", "soon.pfx"} {
		assert.NotContains(t, string(data), personal, "redacted JSON")
	}
	assert.Contains(t, string(data), `"redacted":true`)
	assert.Contains(t, string(data), "[personal]")
	assert.Contains(t, string(data), "expired on")
	data, err = json.Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(data), "ALIYEV VALI", "unredacted")
	assert.Contains(t, string(data), tinHex, "unredacted")
}

// TestDoctorConfigInvalid: a configuration that does not load is one
// failure naming the line, and the other checks wait for a valid file.
func TestDoctorConfigInvalid(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte("keystore:\n  max_sesions: 4\n"), 0o600))
	_, err := config.Load(path)
	require.Error(t, err)
	r := Run(context.Background(), Env{ConfigPath: path, ConfigErr: err, SocketPath: filepath.Join(home, "none.sock")})
	f := one(t, r, "config", "does not load", Fail)
	assert.Contains(t, f.Summary, path+":2:")
	assert.Contains(t, f.Fix, path)
}

// TestDoctorClock: a clock before any Signet build is a failure.
func TestDoctorClock(t *testing.T) {
	f := checkClock(Env{Now: func() time.Time { return time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC) }}, nil)
	assert.Equal(t, Fail, f.Status)
	assert.Contains(t, f.Fix, "timedatectl")
	assert.Equal(t, OK, checkClock(Env{Now: time.Now}, nil).Status)
}

// writePFX writes a PFX file (no password on the certificate, so listing
// needs none; the key is encrypted) with an E-IMZO-style subject.
func writePFX(t *testing.T, path, name, tin string, notBefore, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject: pkix.Name{CommonName: name, ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: []int{1, 2, 860, 3, 16, 1, 1}, Value: tin}}},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	crt, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	require.NoError(t, os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
	out, err := exec.Command("openssl", "pkcs12", "-export", "-inkey", kf, "-in", crt, "-certpbe", "NONE",
		"-out", path, "-passout", "pass:doctor-test").CombinedOutput()
	require.NoError(t, err, "openssl pkcs12: %s", out)
}
