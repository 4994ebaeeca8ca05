package profiling

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartWritesProfile(t *testing.T) {
	dir := t.TempDir()
	stop := Start(dir, "test")
	x := 0
	for i := range 1_000_000 {
		x += i * i
	}
	stop()
	stop() // a second stop does nothing
	files, err := filepath.Glob(filepath.Join(dir, "test-*.cpu.pprof"))
	require.NoError(t, err)
	require.Len(t, files, 1, "profiles in %s", dir)
	f, err := os.Open(files[0])
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f) // a pprof profile is gzipped protobuf
	require.NoError(t, err, "the file is a CPU profile")
	data, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.NotEmpty(t, data, "profile content")
	fi, err := os.Stat(files[0])
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "profile file mode")
}

func TestStartWithoutDirDoesNothing(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	before, _ := filepath.Glob(filepath.Join(wd, "*.pprof"))
	Start("", "test")()
	after, _ := filepath.Glob(filepath.Join(wd, "*.pprof"))
	assert.Equal(t, before, after, "no profile written")
}
