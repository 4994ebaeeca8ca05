package keybackends

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
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { softhsmtest.Main(m) }

func TestOpenMixesBackendsAndSurvivesABadModule(t *testing.T) {
	env := softhsmtest.Shared()
	fx := softhsmtest.StandardToken(t, env, "")
	dir := t.TempDir()
	pki, err := softhsmtest.NewPKI("Key backends")
	require.NoError(t, err)
	sk, err := pki.NewSoftwareKey(softhsmtest.ECP256, softhsmtest.IssueOptions{Subject: pkix.Name{CommonName: "PFX Holder"}})
	require.NoError(t, err)
	require.NoError(t, sk.WritePFX(filepath.Join(dir, "holder.pfx"), "pfx-pw", softhsmtest.Modern))
	t.Setenv("KS_PIN", fx.UserPIN)
	t.Setenv("KS_PW", "pfx-pw")
	bad := filepath.Join(t.TempDir(), "libmissing.so")
	store, err := Open(Config{
		Modules:     []string{bad, softhsmtest.Module()},
		PFXDirs:     []string{dir},
		MaxSessions: 2,
	}, prompt.ByKind(prompt.FromEnv("KS_PIN"), prompt.FromEnv("KS_PW")))
	assert.ErrorContains(t, err, bad, "want an error naming the bad module")
	defer store.Close()
	ctx := context.Background()
	keys, err := store.Keys(ctx)
	require.NoError(t, err, "Keys")
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
	require.NotNil(t, tokenKey, "no token key in %d keys", len(keys))
	require.NotNil(t, pfxKey, "no PFX key in %d keys", len(keys))
	d := sha256.Sum256([]byte("key backends"))
	for _, c := range []struct {
		uri string
		pub crypto.PublicKey
	}{
		{tokenKey.URI, fx.Keys[softhsmtest.KeyECDSA].Public},
		{pfxKey.URI, sk.Key.Public()},
	} {
		sig, err := store.Sign(ctx, c.uri, d[:], crypto.SHA256)
		require.NoError(t, err, "sign %s", c.uri)
		assert.True(t, ecdsa.VerifyASN1(c.pub.(*ecdsa.PublicKey), d[:], sig), "signature by %s does not verify", c.uri)
	}
}

func TestNoSources(t *testing.T) {
	store, err := Open(Config{NoProbe: true}, nil)
	require.NoError(t, err)
	assert.Empty(t, store.Backends())
}

func TestEIMZORoots(t *testing.T) {
	root := t.TempDir()
	pki, err := softhsmtest.NewPKI("EIMZO")
	require.NoError(t, err)
	sk, err := pki.NewSoftwareKey(softhsmtest.Ed25519, softhsmtest.IssueOptions{Subject: pkix.Name{CommonName: "DS Key"}})
	require.NoError(t, err)
	path := filepath.Join(root, "DSKEYS", "DS1.pfx")
	require.NoError(t, sk.WritePFX(path, "", softhsmtest.LegacyDES))
	store, err := Open(Config{NoProbe: true, EIMZO: true, EIMZORoots: func() []string { return []string{root} }}, nil)
	require.NoError(t, err)
	defer store.Close()
	keys, err := store.Keys(context.Background())
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.NotNil(t, keys[0].Certificate, "keys %+v", keys)
	assert.Equal(t, "DS Key", keys[0].Certificate.Subject.CommonName)
	k, err := store.Key(context.Background(), keys[0].URI)
	require.NoError(t, err, "Key")
	assert.Equal(t, hsm.Ed25519, k.Algorithm, "Key: %+v", k)
}
