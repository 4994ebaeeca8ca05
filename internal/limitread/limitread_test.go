package limitread

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAll(t *testing.T) {
	for _, tc := range []struct {
		size, max int
		tooLarge  bool
	}{{0, 0, false}, {10, 10, false}, {11, 10, true}, {1 << 20, 100, true}} {
		data, err := All(bytes.NewReader(make([]byte, tc.size)), int64(tc.max), "input")
		if tc.tooLarge {
			assert.ErrorIs(t, err, ErrTooLarge, "%d bytes, limit %d", tc.size, tc.max)
			assert.ErrorContains(t, err, "input is over", "the error names the input")
			assert.Nil(t, data)
			continue
		}
		require.NoError(t, err, "%d bytes, limit %d", tc.size, tc.max)
		assert.Len(t, data, tc.size)
	}
}

// A reader far over the limit is read no further than one byte past it.
func TestAllStopsPastTheLimit(t *testing.T) {
	r := &countingReader{}
	_, err := All(r, 100, "endless")
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.LessOrEqual(t, r.n, 101, "bytes read from an endless input")
}

type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) {
	c.n += len(p)
	return len(p), nil
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(path, []byte("hello"), 0o600))
	data, err := File(path, 5)
	require.NoError(t, err)
	assert.Equal(t, []byte("hello"), data)
	_, err = File(path, 4)
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.ErrorContains(t, err, path)
	_, err = File(filepath.Join(dir, "missing"), 4)
	assert.ErrorIs(t, err, fs.ErrNotExist)
}
