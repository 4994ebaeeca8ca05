package hsm_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/hsm/pkcs11"
	"github.com/signet-agent/signet/softhsm-config/softhsmtest"
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
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	sk, err := softhsmtest.NewSoftwareKey(softhsmtest.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	goodPFX := filepath.Join(dir, "person.pfx")
	if err := sk.WritePFX(goodPFX, "pfx-пароль", softhsmtest.Modern); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.pfx"), []byte("not a pfx file"), 0o600); err != nil {
		t.Fatal(err)
	}
	files, err := pfx.Open(pfx.Config{Dirs: []string{dir}, PasswordPrompt: pinPrompt})
	if err != nil {
		t.Fatal(err)
	}

	store := hsm.NewStore(tokens, files)
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Error(err)
		}
	})

	toks, err := store.Tokens(ctx)
	if err != nil {
		t.Fatalf("Tokens: %v", err)
	}
	labels := map[string]string{}
	for _, tk := range toks {
		labels[tk.Label] = tk.Backend
	}
	for label, backend := range map[string]string{"csr": "pkcs11", "store": "pkcs11"} {
		if labels[label] != backend {
			t.Errorf("token %q: backend %q, want %q (tokens: %v)", label, labels[label], backend, labels)
		}
	}
	var sawPFX bool
	for _, tk := range toks {
		if tk.Backend == "pfx" && strings.HasSuffix(tk.URI, "person.pfx") {
			sawPFX = true
		}
	}
	if !sawPFX {
		t.Errorf("the PFX file is not among the tokens: %+v", toks)
	}

	keys, err := store.Keys(ctx)
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	var tokenKey, fileKey hsm.KeyInfo
	for _, k := range keys {
		switch {
		case k.Label == softhsmtest.KeyECDSA && strings.Contains(k.TokenURI, "token=store;"):
			tokenKey = k
		case strings.HasPrefix(k.URI, "file:") && strings.Contains(k.URI, "person.pfx"):
			fileKey = k
		}
	}
	if tokenKey.URI == "" || fileKey.URI == "" {
		t.Fatalf("want a token key and a PFX key, got token %q, file %q", tokenKey.URI, fileKey.URI)
	}

	// Signing is routed to the backend that owns each URI.
	digest := sha256.Sum256([]byte("routed by URI"))
	for _, k := range []hsm.KeyInfo{tokenKey, fileKey} {
		sig, err := store.Sign(ctx, k.URI, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("Sign with %s: %v", k.URI, err)
		}
		// The PFX key's public key is known after the unlock; look it up again.
		info, err := store.Key(ctx, k.URI)
		if err != nil {
			t.Fatalf("Key(%s): %v", k.URI, err)
		}
		pub, ok := info.PublicKey.(*ecdsa.PublicKey)
		if !ok {
			t.Fatalf("%s: public key %T, want ECDSA", k.URI, info.PublicKey)
		}
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			t.Errorf("%s: signature does not verify", k.URI)
		}
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
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, tc.err, tc.want)
		} else if !strings.Contains(tc.err.Error(), tc.text) {
			t.Errorf("%s: error %q does not name %q", tc.name, tc.err, tc.text)
		}
	}

	// The broken file is reported, and did not hide the good one.
	problems := strings.Join(store.Problems(), "\n")
	if !strings.Contains(problems, "broken.pfx") {
		t.Errorf("Problems() does not mention broken.pfx: %q", problems)
	}
}

func signErr(store *hsm.Store, uri string) error {
	digest := sha256.Sum256(nil)
	_, err := store.Sign(context.Background(), uri, digest[:], crypto.SHA256)
	return err
}
