package eimzo_test

import (
	"context"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/stretchr/testify/require"
)

// E-IMZO-like key files for the plugin's tests.
//
// pfxEnv starts the plugin (plugintest.Start) and, once per test binary,
// writes a test "disk" of PFX files the way Uzbek CAs issue them and adds a
// hsm/pfx backend over it to the host's key store. The files are written
// by `openssl pkcs12 -export -name ALIAS` (softhsmtest.WriteEIMZOPFX), with
// certificates from a test PKI whose subjects carry the Uzbek attributes
// (CN, name, surname, O, L, ST, C, UID, PINFL, T, TIN, businessCategory).
//
// The disk (under the SoftHSM test directory, removed when the binary
// ends) holds:
//
//	<disk>/VALI.pfx           individual, RSA-2048, E-IMZO alias as friendlyName, certificates encrypted
//	<disk>/DSKEYS/DILNOZA.pfx employee with TIN, ECDSA P-256, E-IMZO alias, plain certificates,
//	                          valid to 18:59:59Z (alias "23:59:59", as real certificates)
//	<disk>/DSKEYS/ESHMAT.pfx  individual, ECDSA P-256, NO friendlyName, plain certificates:
//	                          listed with the alias built from the certificate
//	<disk>/HIDDEN.pfx         individual, RSA-2048, NO friendlyName, certificates encrypted:
//	                          listed with the key store's raw alias (the hex of OpenSSL's
//	                          localKeyID) until unlocked, then with the certificate's alias
//
// The host's password prompt answers each file's password. Sign with a
// fixture by loading it (pfx.load_key with Disk, Path, Name, Alias) and
// using the keyId; the certificate and chain to check signatures against
// are in the fixture.

// pfxFixture is one key file of the test disk.
type pfxFixture struct {
	// Disk, Path, Name and Alias are what pfx.list_all_certificates lists
	// (and pfx.load_key takes) before the file is first unlocked.
	Disk, Path, Name, Alias string
	// UnlockedAlias is the alias listed after the file has been unlocked
	// (differs from Alias only for HIDDEN, whose certificate is encrypted).
	UnlockedAlias string
	// FriendlyName is the alias written into the file ("" for none).
	FriendlyName string
	File         string // absolute path
	Person       softhsmtest.EIMZOPerson
	Key          crypto.Signer
	Cert         *x509.Certificate
	Chain        []*x509.Certificate // intermediate, root
	PKI          *softhsmtest.PKI
	Password     string
}

// pfxFixtureByName returns the fixture with file name name.
func pfxFixtureByName(t testing.TB, fxs []pfxFixture, name string) pfxFixture {
	t.Helper()
	for _, f := range fxs {
		if f.Name == name {
			return f
		}
	}
	require.FailNow(t, "no such PFX fixture", "no PFX fixture %q", name)
	return pfxFixture{}
}

var (
	pfxOnce     sync.Once
	pfxFixtures []pfxFixture
	pfxErr      error
	pfxDisk     string
	// pfxPasswords maps a key file's path to the password the host's
	// prompt answers for it (a string, once; a wrongPassword, at every
	// attempt); tests that write more files add theirs. A file without an
	// entry gets a cancelled prompt.
	pfxPasswords sync.Map
)

// wrongPassword is a password the prompt gives at every attempt.
type wrongPassword string

// pfxEnv starts the plugin with cfg and returns it with the E-IMZO-like
// key files its host's key store serves.
func pfxEnv(t testing.TB, cfg *plugintest.Config) (*plugintest.Host, []pfxFixture) {
	t.Helper()
	h := plugintest.Start(t, pkg, cfg)
	pfxOnce.Do(func() { pfxFixtures, pfxErr = makePFXDisk(h.Store) })
	require.NoError(t, pfxErr, "E-IMZO PFX fixtures")

	return h, append([]pfxFixture(nil), pfxFixtures...)
}

// makePFXDisk writes the test disk and adds its backend to store.
func makePFXDisk(store *hsm.Store) ([]pfxFixture, error) {
	disk := filepath.Join(softhsmtest.Shared().Dir, "eimzo-disk")
	pfxDisk = disk
	if err := os.MkdirAll(filepath.Join(disk, "DSKEYS"), 0o700); err != nil {
		return nil, err
	}
	pki, err := softhsmtest.NewPKI("E-IMZO Test")
	if err != nil {
		return nil, err
	}
	eshmat := softhsmtest.EIMZOPerson{
		CN: "TOSHMATOV ESHMAT BOBUR O'G'LI", Name: "ESHMAT", Surname: "TOSHMATOV",
		Locality: "SAMARQAND SHAHRI", Province: "SAMARQAND VILOYATI", Country: "UZ",
		UID: "498765432", PINFL: "50101950340021",
	}
	now := time.Now().Truncate(time.Second)
	// A real certificate's validity ends at 23:59:59 Tashkent time.
	endOfDay := time.Date(now.Year()+2, now.Month(), now.Day(), 18, 59, 59, 0, time.UTC)
	specs := []struct {
		name, path, typ string
		person          softhsmtest.EIMZOPerson
		friendly        bool
		plainCerts      bool
		opts            softhsmtest.IssueOptions
	}{
		{"VALI", "", softhsmtest.RSA2048, softhsmtest.EIMZOIndividual, true, false, softhsmtest.IssueOptions{}},
		{"DILNOZA", "DSKEYS", softhsmtest.ECP256, softhsmtest.EIMZOEmployee, true, true,
			softhsmtest.IssueOptions{NotBefore: now.Add(-time.Hour), NotAfter: endOfDay, SerialNumber: big.NewInt(0x71c4eb12)}},
		{"ESHMAT", "DSKEYS", softhsmtest.ECP256, eshmat, false, true, softhsmtest.IssueOptions{}},
		{"HIDDEN", "", softhsmtest.RSA2048, softhsmtest.EIMZOIndividual, false, false, softhsmtest.IssueOptions{}},
	}
	var fxs []pfxFixture
	for i, sp := range specs {
		k, err := pki.NewEIMZOKey(sp.typ, sp.person, sp.opts)
		if err != nil {
			return nil, err
		}
		f := pfxFixture{
			Disk: disk + string(filepath.Separator), Path: sp.path, Name: sp.name,
			File:   filepath.Join(disk, sp.path, sp.name+".pfx"),
			Person: sp.person, Key: k.Key, Cert: k.Certificate, Chain: k.Chain, PKI: pki,
			Password: fmt.Sprintf("Parol-%d-%s", i+1, strings.ToLower(sp.name)),
		}
		alias := sp.person.Alias(k.Certificate)
		f.UnlockedAlias = alias
		switch {
		case sp.friendly:
			f.FriendlyName, f.Alias = alias, alias
		case sp.plainCerts:
			f.Alias = alias // built by the plugin from the readable certificate
		default:
			// OpenSSL's localKeyID is the SHA-1 of the certificate.
			sum := sha1.Sum(k.Certificate.Raw)
			f.Alias = hex.EncodeToString(sum[:])
		}
		if err := softhsmtest.WriteEIMZOPFX(f.File, k, softhsmtest.EIMZOPFX{
			Alias: f.FriendlyName, Password: f.Password, PlainCertificates: sp.plainCerts}); err != nil {
			return nil, err
		}
		pfxPasswords.Store(f.File, f.Password)
		fxs = append(fxs, f)
	}
	b, err := pfx.Open(pfx.Config{
		EIMZO:      true,
		EIMZORoots: func() []string { return []string{disk} },
		PasswordPrompt: func(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
			file, _, err := pfx.ParseURI(req.Token.URI)
			if err != nil {
				return hsm.PINResponse{}, err
			}
			pw, ok := pfxPasswords.Load(file)
			if w, wrong := pw.(wrongPassword); wrong {
				return hsm.PINResponse{PIN: []byte(w)}, nil // every attempt
			}
			if !ok || req.Attempt > 1 {
				return hsm.PINResponse{}, fmt.Errorf("test prompt for %s: %w", file, hsm.ErrCancelled)
			}
			return hsm.PINResponse{PIN: []byte(pw.(string))}, nil
		},
	})
	if err != nil {
		return nil, err
	}
	store.Add(b)
	return fxs, nil
}
