package cipher

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStoreKeepsLiveRunsAndRemovesStaleOnes: a new plugin process removes
// a dead process's run directory and stray files, and leaves a live one's
// (two agents of one user, or tests in parallel, share the directory).
func TestStoreKeepsLiveRunsAndRemovesStaleOnes(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "run-1") // pid 1 is always alive
	stale := filepath.Join(dir, "run-2147483646")
	stray := filepath.Join(dir, "old-ticket")
	for _, d := range []string{live, stale, stray} {
		require.NoError(t, os.MkdirAll(d, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(d, "data-1"), []byte("x"), 0o600))
	}
	st, err := newStore(dir, DefaultLimits, time.Now)
	require.NoError(t, err)
	assert.DirExists(t, live, "a live process's files stay")
	assert.NoDirExists(t, stale, "a dead process's files go")
	assert.NoDirExists(t, stray)
	assert.Equal(t, filepath.Join(dir, "run-"+strconv.Itoa(os.Getpid())), st.dir)
}
