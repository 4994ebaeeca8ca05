package trust

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSystemStoreUninstallRemovesLinks: Debian's update-ca-certificates
// leaves NAME.pem and HASH.0 dangling when a local CA file is removed;
// Uninstall removes them, and only them.
func TestSystemStoreUninstallRemovesLinks(t *testing.T) {
	anchors, links := t.TempDir(), t.TempDir()
	s := &SystemStore{Layout: "test", AnchorDir: anchors, FileName: "signet-x.crt", Update: []string{"true"},
		Bundle: filepath.Join(links, "bundle.crt"), LinkDir: links}
	if err := os.WriteFile(s.path(), []byte("ca"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(anchors, "other.crt")
	os.WriteFile(other, []byte("other"), 0o644)
	for name, target := range map[string]string{
		"signet-x.pem": s.path(), "abcd1234.0": "signet-x.pem",
		"other.pem": other, "ef567890.0": "other.pem",
	} {
		if err := os.Symlink(target, filepath.Join(links, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Uninstall(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"signet-x.pem": false, "abcd1234.0": false, "other.pem": true, "ef567890.0": true} {
		_, err := os.Lstat(filepath.Join(links, name))
		if got := err == nil; got != want {
			t.Errorf("%s present = %v, want %v", name, got, want)
		}
	}
	if _, err := os.Stat(s.path()); !os.IsNotExist(err) {
		t.Errorf("CA file left: %v", err)
	}
}
