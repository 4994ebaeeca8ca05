package host

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDiscoverDisabled: a plugin the configuration disables is not
// started from the plugin directory either (it was, unpinned, before).
func TestDiscoverDisabled(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"eimzo", "example"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, PluginPrefix+n), []byte("#!/bin/sh\n"), 0o755))
	}
	specs, err := Discover(Config{Dir: dir, Plugins: []PluginSpec{{Name: "example", Disabled: true}}})
	require.NoError(t, err)
	require.Len(t, specs, 1)
	assert.Equal(t, "eimzo", specs[0].Name)
}
