package trust

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSystemStoreUninstallRemovesLinks: Debian's update-ca-certificates
// leaves NAME.pem and HASH.0 dangling when a local CA file is removed;
// Uninstall removes them, and only them.
func TestSystemStoreUninstallRemovesLinks(t *testing.T) {
	anchors, links := t.TempDir(), t.TempDir()
	s := &SystemStore{Layout: "test", AnchorDir: anchors, FileName: "signet-x.crt", Update: []string{"true"},
		Bundle: filepath.Join(links, "bundle.crt"), LinkDir: links}
	require.NoError(t, os.WriteFile(s.path(), []byte("ca"), 0o644))
	other := filepath.Join(anchors, "other.crt")
	os.WriteFile(other, []byte("other"), 0o644)
	for name, target := range map[string]string{
		"signet-x.pem": s.path(), "abcd1234.0": "signet-x.pem",
		"other.pem": other, "ef567890.0": "other.pem",
	} {
		require.NoError(t, os.Symlink(target, filepath.Join(links, name)))
	}
	require.NoError(t, s.Uninstall())
	for name, want := range map[string]bool{"signet-x.pem": false, "abcd1234.0": false, "other.pem": true, "ef567890.0": true} {
		_, err := os.Lstat(filepath.Join(links, name))
		assert.Equal(t, want, err == nil, "%s present", name)
	}
	_, err := os.Stat(s.path())
	assert.ErrorIs(t, err, os.ErrNotExist, "CA file left")
}
