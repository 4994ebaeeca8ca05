package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJournalMaxSize(t *testing.T) {
	dir := t.TempDir()
	cfg, err := Parse("test.yaml", []byte("data_dir: "+dir+"\n"))
	require.NoError(t, err)
	assert.Equal(t, int64(DefaultJournalMaxSizeMB)<<20, cfg.Journal.MaxSize())

	cfg, err = Parse("test.yaml", []byte("data_dir: "+dir+"\njournal:\n  max_size_mb: 5\n"))
	require.NoError(t, err)
	assert.Equal(t, int64(5)<<20, cfg.Journal.MaxSize())

	for _, bad := range []string{"-1", "65537"} {
		_, err = Parse("test.yaml", []byte("data_dir: "+dir+"\njournal:\n  max_size_mb: "+bad+"\n"))
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "journal.max_size_mb")
		assert.Contains(t, err.Error(), "test.yaml:3:")
	}
}
