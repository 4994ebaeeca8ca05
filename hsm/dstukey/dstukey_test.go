package dstukey_test

import (
	"context"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/dstukey"
	"github.com/signet-agent/signet/sdk/dstu"
	"github.com/signet-agent/signet/sdk/dstu/dstutest"
)

// prompt answers with the passwords in order and counts the questions.
func prompt(n *atomic.Int32, passwords ...string) hsm.PINPrompt {
	return func(_ context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
		i := n.Add(1) - 1
		if req.Kind != hsm.Password || int(i) >= len(passwords) {
			return hsm.PINResponse{}, hsm.ErrCancelled
		}
		return hsm.PINResponse{PIN: []byte(passwords[i])}, nil
	}
}

type fixture struct {
	dir  string
	key  *dstu.PrivateKey
	path string
}

func newFixture(t *testing.T, password string) fixture {
	dir := t.TempDir()
	key, err := dstu.GenerateKey(dstu.Curve257, nil)
	require.NoError(t, err)
	path := filepath.Join(dir, "Key-6.dat")
	require.NoError(t, os.WriteFile(path, dstutest.Key6(t, key, password), 0o600))
	cert := dstutest.Certificate(t, key, "Тарас Шевченко")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "signer.pem"),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600))
	// Another key's certificate and a file that is no container.
	other, err := dstu.GenerateKey(dstu.Curve257, nil)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "other.cer"), dstutest.Certificate(t, other, "other").Raw, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.dat"), []byte("not a key"), 0o600))
	return fixture{dir: dir, key: key, path: path}
}

func TestKey6ListsLockedThenSignsAndShowsCertificate(t *testing.T) {
	fx := newFixture(t, "пароль")
	var asked atomic.Int32
	b, err := dstukey.Open(dstukey.Config{Dirs: []string{fx.dir}, PasswordPrompt: prompt(&asked, "wrong", "пароль")})
	require.NoError(t, err)
	defer b.Close()
	ctx := context.Background()

	keys, err := b.Keys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 1, "notes.dat is not a container")
	k := keys[0]
	assert.True(t, k.HasPrivateKey)
	assert.Nil(t, k.PublicKey, "locked: nothing known but the file")
	assert.Zero(t, asked.Load(), "listing never asks")
	assert.True(t, b.Handles(k.URI))

	digest := dstu.Sum34311([]byte("document"))
	sig, err := b.Sign(ctx, k.URI, digest[:], nil)
	require.NoError(t, err)
	assert.EqualValues(t, 2, asked.Load(), "one wrong password, then the right one")
	require.NoError(t, fx.key.PublicKey.Verify(digest[:], sig))

	keys, err = b.Keys(ctx)
	require.NoError(t, err)
	k = keys[0]
	assert.Equal(t, hsm.DSTU4145, k.Algorithm)
	assert.Equal(t, 257, k.Bits)
	require.NotNil(t, k.Certificate)
	assert.Equal(t, "Тарас Шевченко", k.Certificate.Subject.CommonName)

	// Unlocked: no further question; after Lock the password is asked again.
	_, err = b.Sign(ctx, k.URI, digest[:], nil)
	require.NoError(t, err)
	assert.EqualValues(t, 2, asked.Load())
	require.NoError(t, b.Lock(ctx, k.TokenURI))
	_, err = b.Sign(ctx, k.URI, digest[:], nil)
	assert.ErrorIs(t, err, hsm.ErrCancelled, "the prompt has no more answers")
}

func TestKey6WrongPasswordsEndWithPINError(t *testing.T) {
	fx := newFixture(t, "right")
	var asked atomic.Int32
	b, err := dstukey.Open(dstukey.Config{Dirs: []string{fx.dir}, PasswordPrompt: prompt(&asked, "a", "b", "c", "right")})
	require.NoError(t, err)
	defer b.Close()
	keys, err := b.Keys(context.Background())
	require.NoError(t, err)
	_, err = b.Sign(context.Background(), keys[0].URI, make([]byte, 32), nil)
	var pinErr *hsm.PINError
	require.ErrorAs(t, err, &pinErr)
	assert.ErrorIs(t, err, hsm.ErrPINIncorrect)
	assert.EqualValues(t, 3, asked.Load(), "MaxAttempts defaults to 3")
	assert.NotContains(t, err.Error(), "right")
}

func TestDoesNotHandleFilesOutsideItsDirectories(t *testing.T) {
	fx := newFixture(t, "p")
	b, err := dstukey.Open(dstukey.Config{Dirs: []string{t.TempDir()}})
	require.NoError(t, err)
	assert.False(t, b.Handles("file://"+fx.path+"#key"))
	_, err = b.Sign(context.Background(), "file://"+fx.path+"#key", make([]byte, 32), nil)
	assert.ErrorIs(t, err, hsm.ErrKeyNotFound)
}

func TestPKCS12SignsWithTheCertificateInTheFile(t *testing.T) {
	dir := t.TempDir()
	key, err := dstu.GenerateKey(dstu.Curve431, nil)
	require.NoError(t, err)
	cert := dstutest.Certificate(t, key, "ФОП Петренко")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "key.pfx"), dstutest.PKCS12(t, key, "p12", cert), 0o600))
	var asked atomic.Int32
	b, err := dstukey.Open(dstukey.Config{Dirs: []string{dir}, PasswordPrompt: prompt(&asked, "p12")})
	require.NoError(t, err)
	defer b.Close()
	ctx := context.Background()
	keys, err := b.Keys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	digest := dstu.Sum34311([]byte("x"))
	sig, err := b.Sign(ctx, keys[0].URI, digest[:], nil)
	require.NoError(t, err)
	require.NoError(t, key.PublicKey.Verify(digest[:], sig))
	keys, err = b.Keys(ctx)
	require.NoError(t, err)
	require.NotNil(t, keys[0].Certificate)
	assert.Equal(t, cert.Raw, keys[0].Certificate.Raw)
	assert.Equal(t, 431, keys[0].Bits)
}
