package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDoctorCommand: `signet doctor` exits 1 on a failed check (a missing
// PKCS#11 module) and says how to fix it; --json is redacted unless
// --include-personal.
func TestDoctorCommand(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "cfg"))
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(home, "run"))
	missing := filepath.Join(home, "libgone.so")
	cfg := filepath.Join(home, "config.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("data_dir: "+filepath.Join(home, "data")+"\nkeystore:\n  pkcs11_modules: ["+missing+"]\n"), 0o600))

	code, out, errOut := runCLI(t, "doctor", "--config", cfg)
	assert.Equal(t, 1, code, "%s", errOut)
	assert.Contains(t, out, "FAIL  PKCS#11 module "+missing+" not found")
	assert.Contains(t, out, "      fix: install the token's driver package")
	assert.Contains(t, errOut, "problems found")

	for _, personal := range []bool{false, true} {
		args := []string{"doctor", "--config", cfg, "--json"}
		if personal {
			args = append(args, "--include-personal")
		}
		code, out, _ = runCLI(t, args...)
		assert.Equal(t, 1, code)
		var rep struct {
			Redacted bool
			Findings []struct{ Check, Status, Summary, Fix string }
		}
		require.NoError(t, json.Unmarshal([]byte(out), &rep), "%s", out)
		assert.Equal(t, !personal, rep.Redacted)
		assert.NotEmpty(t, rep.Findings)
	}
}
