package hsm_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/hsm/pkcs11"
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStore runs the Store over its real backends: one PKCS#11 module with
// two SoftHSM tokens, and a PFX directory with one good file and one broken
// one. It checks merged listings, routing by URI, the errors for URIs no
// backend owns, capabilities a backend lacks, and problem reporting.
func TestStore(t *testing.T) {
	ctx := context.Background()
	env := softhsmtest.Shared()

	pinPrompt := func(_ context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
		if req.Kind == hsm.Password {
			return hsm.PINResponse{PIN: []byte("pfx-пароль")}, nil
		}
		return hsm.PINResponse{PIN: []byte(softhsmtest.DefaultUserPIN)}, nil
	}
	tokens, err := pkcs11.Open(pkcs11.Config{Module: env.Module, PINPrompt: pinPrompt})
	require.NoError(t, err)

	dir := t.TempDir()
	sk, err := softhsmtest.NewSoftwareKey(softhsmtest.ECP256)
	require.NoError(t, err)
	goodPFX := filepath.Join(dir, "person.pfx")
	require.NoError(t, sk.WritePFX(goodPFX, "pfx-пароль", softhsmtest.Modern))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.pfx"), []byte("not a pfx file"), 0o600))
	files, err := pfx.Open(pfx.Config{Dirs: []string{dir}, PasswordPrompt: pinPrompt})
	require.NoError(t, err)

	store := hsm.NewStore(tokens, files)
	t.Cleanup(func() { assert.NoError(t, store.Close()) })

	toks, err := store.Tokens(ctx)
	require.NoError(t, err, "Tokens")
	labels := map[string]string{}
	for _, tk := range toks {
		labels[tk.Label] = tk.Backend
	}
	for label, backend := range map[string]string{"csr": "pkcs11", "store": "pkcs11"} {
		assert.Equal(t, backend, labels[label], "token %q backend (tokens: %v)", label, labels)
	}
	var sawPFX bool
	for _, tk := range toks {
		if tk.Backend == "pfx" && strings.HasSuffix(tk.URI, "person.pfx") {
			sawPFX = true
		}
	}
	assert.True(t, sawPFX, "the PFX file is not among the tokens: %+v", toks)

	keys, err := store.Keys(ctx)
	require.NoError(t, err, "Keys")
	var tokenKey, fileKey hsm.KeyInfo
	for _, k := range keys {
		switch {
		case k.Label == softhsmtest.KeyECDSA && strings.Contains(k.TokenURI, "token=store;"):
			tokenKey = k
		case strings.HasPrefix(k.URI, "file:") && strings.Contains(k.URI, "person.pfx"):
			fileKey = k
		}
	}
	require.NotEmpty(t, tokenKey.URI, "want a token key")
	require.NotEmpty(t, fileKey.URI, "want a PFX key")

	// Signing is routed to the backend that owns each URI.
	digest := sha256.Sum256([]byte("routed by URI"))
	for _, k := range []hsm.KeyInfo{tokenKey, fileKey} {
		sig, err := store.Sign(ctx, k.URI, digest[:], crypto.SHA256)
		require.NoError(t, err, "Sign with %s", k.URI)
		// The PFX key's public key is known after the unlock; look it up again.
		info, err := store.Key(ctx, k.URI)
		require.NoError(t, err, "Key(%s)", k.URI)
		require.IsType(t, &ecdsa.PublicKey{}, info.PublicKey, "%s: public key", k.URI)
		pub := info.PublicKey.(*ecdsa.PublicKey)
		assert.True(t, ecdsa.VerifyASN1(pub, digest[:], sig), "%s: signature does not verify", k.URI)
	}

	// URIs no backend owns, and capabilities a backend lacks.
	errCases := []struct {
		name string
		err  error
		want error
		text string
	}{
		{"unknown token", signErr(store, "pkcs11:token=nowhere;object=x;type=private"), hsm.ErrTokenRemoved, "token=nowhere"},
		{"unknown file", signErr(store, "file:///no/such/file.pfx#k"), hsm.ErrKeyNotFound, "/no/such/file.pfx"},
		{"empty URI", signErr(store, ""), hsm.ErrInvalidURI, "empty"},
		{"keygen on a PFX file", func() error {
			_, err := store.GenerateKey(ctx, hsm.GenerateKeyRequest{TokenURI: fileKey.TokenURI, Algorithm: hsm.ECDSA})
			return err
		}(), hsm.ErrUnsupported, "person.pfx"},
	}
	for _, tc := range errCases {
		if assert.ErrorIs(t, tc.err, tc.want, tc.name) {
			assert.ErrorContains(t, tc.err, tc.text, tc.name)
		}
	}

	// The broken file is reported, and did not hide the good one.
	problems := strings.Join(store.Problems(), "\n")
	assert.Contains(t, problems, "broken.pfx", "Problems() does not mention broken.pfx")
}

func signErr(store *hsm.Store, uri string) error {
	digest := sha256.Sum256(nil)
	_, err := store.Sign(context.Background(), uri, digest[:], crypto.SHA256)
	return err
}
