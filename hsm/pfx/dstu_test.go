package pfx

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/dstu"
	"github.com/signet-agent/signet/sdk/dstu/dstutest"
)

// A DSTU PKCS#12 file in a scanned directory is left to hsm/dstukey: this
// backend neither lists it nor reports it as unreadable.
func TestDSTUFilesAreLeftOut(t *testing.T) {
	dir := t.TempDir()
	key, err := dstu.GenerateKey(dstu.Curve257, nil)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ua.pfx"),
		dstutest.PKCS12(t, key, "x", dstutest.Certificate(t, key, "ua")), 0o600))
	b, err := Open(Config{Dirs: []string{dir}})
	require.NoError(t, err)
	defer b.Close()
	toks, err := b.Tokens(context.Background())
	require.NoError(t, err)
	assert.Empty(t, toks)
	keys, err := b.Keys(context.Background())
	require.NoError(t, err)
	assert.Empty(t, keys)
	assert.Empty(t, b.Problems())
}
