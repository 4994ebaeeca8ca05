package pfx

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/signet-agent/signet/hsm"
)

// TestMemoryFile: a file held in memory lists without a password (no
// certificate while its certificates are encrypted), signs after one
// prompt, and after RemoveMemory is gone and its copy wiped.
func TestMemoryFile(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "memory"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	data, err := pkcs12.Modern.Encode(key, cert, nil, "pw")
	require.NoError(t, err)

	prompts := 0
	b, err := Open(Config{PasswordPrompt: func(context.Context, hsm.PINRequest) (hsm.PINResponse, error) {
		prompts++
		return hsm.PINResponse{PIN: []byte("pw")}, nil
	}})
	require.NoError(t, err)
	defer b.Close()

	_, err = b.AddMemory("../x", data)
	assert.ErrorIs(t, err, hsm.ErrInvalidRequest, "a name that is not a plain word")
	_, err = b.AddMemory("big", make([]byte, MaxFileSize+1))
	assert.ErrorIs(t, err, ErrTooLarge)
	_, err = b.AddMemory("junk", []byte("junk"))
	assert.ErrorIs(t, err, ErrMalformed)

	keys, err := b.AddMemory("h1", data)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	uri := keys[0].URI
	name, ok := IsMemoryURI(uri)
	assert.True(t, ok)
	assert.Equal(t, "h1", name)
	_, err = b.AddMemory("h1", data)
	assert.ErrorIs(t, err, ErrExists)

	d := sha256.Sum256([]byte("doc"))
	sig, err := b.Sign(context.Background(), uri, d[:], crypto.SHA256)
	require.NoError(t, err)
	assert.True(t, ecdsa.VerifyASN1(&key.PublicKey, d[:], sig))
	assert.Equal(t, 1, prompts)
	ks, ok := b.MemoryKeys("h1")
	require.True(t, ok)
	require.NotNil(t, ks[0].Certificate, "unlocked: the certificate is known")

	b.mu.Lock()
	f := b.known[MemoryPath("h1")]
	b.mu.Unlock()
	b.RemoveMemory("h1")
	assert.Equal(t, make([]byte, len(data)), f.data, "the held copy is wiped")
	_, err = b.Sign(context.Background(), uri, d[:], crypto.SHA256)
	assert.ErrorIs(t, err, hsm.ErrKeyNotFound)
	_, ok = b.MemoryKeys("h1")
	assert.False(t, ok)
	_, ok = IsMemoryURI(FileURI("/home/me/key.pfx"))
	assert.False(t, ok)
}
