package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCloudSignFlagErrors(t *testing.T) {
	ok := cloudSignFlags{url: "http://127.0.0.1:9095", account: "acme"}
	tests := []struct {
		name  string
		edit  func(f *cloudSignFlags)
		files []string
		want  string
	}{
		{"no url", func(f *cloudSignFlags) { f.url = "" }, []string{"a"}, "--url and --account"},
		{"neither draft nor reply", func(f *cloudSignFlags) {}, []string{"a"}, "exactly one of --draft and --reply"},
		{"both", func(f *cloudSignFlags) { f.draft, f.reply = "d", "a/b/c" }, []string{"a"}, "exactly one of --draft and --reply"},
		{"bad reply", func(f *cloudSignFlags) { f.reply = "a/b" }, []string{"a"}, "is not DOCFLOW/DOCUMENT/REPLY"},
		{"reply of two files", func(f *cloudSignFlags) { f.reply = "a/b/c" }, []string{"a", "b"}, "a reply is one document"},
		{"same base name twice", func(f *cloudSignFlags) { f.draft = "d" }, []string{"x/a.xml", "y/a.xml"}, "two files named"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := ok
			tc.edit(&f)
			_, err := f.place(tc.files)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestCloudSignSecretFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(path, []byte("secret-api-key\n"), 0o644))
	_, err := readSecretFile(path)
	require.Error(t, err, "a key file others can read is refused")
	assert.NotContains(t, err.Error(), "secret-api-key")
	require.NoError(t, os.Chmod(path, 0o600))
	key, err := readSecretFile(path)
	require.NoError(t, err)
	assert.Equal(t, "secret-api-key", key)
}
