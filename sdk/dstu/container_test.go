package dstu_test

import (
	"bytes"
	"encoding/hex"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/dstu"
	"github.com/signet-agent/signet/sdk/dstu/dstutest"
)

func TestKey6RoundTripAndWrongPassword(t *testing.T) {
	key, err := dstu.GenerateKey(dstu.Curve257, nil)
	require.NoError(t, err)
	file := dstutest.Key6(t, key, "пароль-1")
	assert.True(t, dstu.IsKey6(file))

	got, err := dstu.ParseKey6(file, []byte("пароль-1"))
	require.NoError(t, err)
	assert.Equal(t, key.D, got.D)
	assert.True(t, got.PublicKey.Equal(&key.PublicKey))

	_, err = dstu.ParseKey6(file, []byte("пароль-2"))
	assert.ErrorIs(t, err, dstu.ErrPassword)
	assert.NotContains(t, err.Error(), "пароль")
}

func TestKey6RefusesMalformedContainers(t *testing.T) {
	key, err := dstu.GenerateKey(dstu.Curve257, nil)
	require.NoError(t, err)
	file := dstutest.Key6(t, key, "p")
	for name, data := range map[string][]byte{
		"empty":     nil,
		"truncated": file[:len(file)-3],
		"trailing":  append(bytes.Clone(file), 0),
		"too large": make([]byte, dstu.MaxContainer+1),
	} {
		_, err := dstu.ParseKey6(data, []byte("p"))
		assert.Error(t, err, name)
		assert.False(t, dstu.IsKey6(data), name)
	}
}

// jkurwa reads the Key-6.dat written here (jkurwa has no Key-6.dat
// writer), and our PBES2 reader reads the PBES2 key container published
// with jkurwa's tests (password "password") to the key jkurwa reads.
func TestJkurwaContainers(t *testing.T) {
	jk := dstutest.Jkurwa(t)
	key, err := dstu.GenerateKey(dstu.Curve257, nil)
	require.NoError(t, err)
	store, err := os.ReadFile(filepath.Join(jk.Dir(), "node_modules", "jkurwa", "test", "data", "STORE_A040.dat"))
	require.NoError(t, err)
	res := jk.Run(t,
		dstutest.Req{"op": "load", "store": hex.EncodeToString(dstutest.Key6(t, key, "secret")), "password": "secret"},
		dstutest.Req{"op": "load", "store": hex.EncodeToString(store), "password": "password"},
	)
	require.Nil(t, res[0]["error"])
	keys := res[0]["keys"].([]any)
	require.Len(t, keys, 1)
	k0 := dstutest.Res(keys[0].(map[string]any))
	assert.Equal(t, "DSTU_PB_257", k0.Str(t, "curve"))
	d, ok := new(big.Int).SetString(k0.Str(t, "d"), 16)
	require.True(t, ok)
	assert.Equal(t, key.D, d)
	assert.Equal(t, certKey(t, &key.PublicKey), k0.Str(t, "pub"))

	got, err := dstu.ParseEncryptedPrivateKey(store, []byte("password"))
	require.NoError(t, err)
	require.Nil(t, res[1]["error"])
	theirs := res[1]["keys"].([]any)
	require.NotEmpty(t, theirs)
	first := dstutest.Res(theirs[0].(map[string]any))
	assert.Equal(t, first.Str(t, "pub"), certKey(t, &got.PublicKey))

	_, err = dstu.ParseEncryptedPrivateKey(store, []byte("wrong"))
	assert.ErrorIs(t, err, dstu.ErrPassword)
}
