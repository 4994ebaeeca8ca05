package keystore

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509/pkix"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-agent/signet/agent/prompt"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/softhsm-config/softhsmtest"
)

func TestMain(m *testing.M) { softhsmtest.Main(m) }

func TestOpenMixesBackendsAndSurvivesABadModule(t *testing.T) {
	env := softhsmtest.Shared()
	fx := softhsmtest.StandardToken(t, env, "")
	dir := t.TempDir()
	pki, err := softhsmtest.NewPKI("Keystore")
	if err != nil {
		t.Fatal(err)
	}
	sk, err := pki.NewSoftwareKey(softhsmtest.ECP256, softhsmtest.IssueOptions{Subject: pkix.Name{CommonName: "PFX Holder"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sk.WritePFX(filepath.Join(dir, "holder.pfx"), "pfx-pw", softhsmtest.Modern); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KS_PIN", fx.UserPIN)
	t.Setenv("KS_PW", "pfx-pw")
	bad := filepath.Join(t.TempDir(), "libmissing.so")
	store, err := Open(Config{
		Modules:     []string{bad, softhsmtest.Module()},
		PFXDirs:     []string{dir},
		MaxSessions: 2,
	}, prompt.ByKind(prompt.FromEnv("KS_PIN"), prompt.FromEnv("KS_PW")))
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("want an error naming the bad module, got %v", err)
	}
	defer store.Close()
	ctx := context.Background()
	keys, err := store.Keys(ctx)
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	var tokenKey, pfxKey *hsm.KeyInfo
	for i, k := range keys {
		if strings.HasPrefix(k.URI, "pkcs11:") && k.Label == softhsmtest.KeyECDSA && k.HasPrivateKey &&
			strings.Contains(k.TokenURI, strings.ReplaceAll(fx.Token.Label, " ", "%20")) {
			tokenKey = &keys[i]
		}
		if strings.HasPrefix(k.URI, "file://") {
			pfxKey = &keys[i]
		}
	}
	if tokenKey == nil || pfxKey == nil {
		t.Fatalf("missing keys (token %v, pfx %v) in %d keys", tokenKey != nil, pfxKey != nil, len(keys))
	}
	d := sha256.Sum256([]byte("keystore"))
	for _, c := range []struct {
		uri string
		pub crypto.PublicKey
	}{
		{tokenKey.URI, fx.Keys[softhsmtest.KeyECDSA].Public},
		{pfxKey.URI, sk.Key.Public()},
	} {
		sig, err := store.Sign(ctx, c.uri, d[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("sign %s: %v", c.uri, err)
		}
		if !ecdsa.VerifyASN1(c.pub.(*ecdsa.PublicKey), d[:], sig) {
			t.Fatalf("signature by %s does not verify", c.uri)
		}
	}
}

func TestNoSources(t *testing.T) {
	store, err := Open(Config{NoProbe: true}, nil)
	if err != nil || len(store.Backends()) != 0 {
		t.Fatalf("%v %d", err, len(store.Backends()))
	}
}

func TestEIMZORoots(t *testing.T) {
	root := t.TempDir()
	pki, err := softhsmtest.NewPKI("EIMZO")
	if err != nil {
		t.Fatal(err)
	}
	sk, err := pki.NewSoftwareKey(softhsmtest.Ed25519, softhsmtest.IssueOptions{Subject: pkix.Name{CommonName: "DS Key"}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "DSKEYS", "DS1.pfx")
	if err := sk.WritePFX(path, "", softhsmtest.LegacyDES); err != nil {
		t.Fatal(err)
	}
	store, err := Open(Config{NoProbe: true, EIMZO: true, EIMZORoots: func() []string { return []string{root} }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	keys, err := store.Keys(context.Background())
	if err != nil || len(keys) != 1 || keys[0].Certificate == nil || keys[0].Certificate.Subject.CommonName != "DS Key" {
		t.Fatalf("keys %+v, %v", keys, err)
	}
	k, err := store.Key(context.Background(), keys[0].URI)
	if err != nil || k.Algorithm != hsm.Ed25519 {
		t.Fatalf("Key: %+v %v", k, err)
	}
}
