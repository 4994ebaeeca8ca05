package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPackageDocExampleLoads: the configuration shown in the package doc
// is one the loader accepts.
func TestPackageDocExampleLoads(t *testing.T) {
	src, err := os.ReadFile("config.go")
	require.NoError(t, err)
	var example []string
	in := false
	for _, line := range strings.Split(string(src), "\n") {
		body, isExample := strings.CutPrefix(line, "//\t")
		if !in && isExample && strings.HasPrefix(body, "keystore:") {
			in = true
		}
		if in && !isExample {
			break
		}
		if in {
			example = append(example, body)
		}
	}
	require.NotEmpty(t, example, "no YAML example in the package doc")
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(example, "\n")+"\n"), 0o600))
	_, err = Load(path)
	require.NoError(t, err, "the package doc's example:\n%s", strings.Join(example, "\n"))
}
