package host

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A plugin whose SHA-256 is not the pinned one is refused with both sums
// in the message, so the administrator can compare them and update the
// configuration.
func TestPinMismatchNamesActualSum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signet-plugin-updated")
	body := writeExec(t, path, "new-release")
	actual := sha256.Sum256(body)
	pinned := strings.Repeat("ab", sha256.Size)

	_, _, err := pluginCommand(PluginSpec{Name: "updated", Path: path, SHA256: "sha256:" + strings.ToUpper(pinned)}, nil, lifeline(t))
	require.ErrorIs(t, err, ErrPinMismatch)
	var perm permanentError
	assert.ErrorAs(t, err, &perm, "a pin mismatch is not retried")
	msg := err.Error()
	assert.Contains(t, msg, path)
	assert.Contains(t, msg, "the file's is "+hex.EncodeToString(actual[:]))
	assert.Contains(t, msg, "the pin is "+pinned)
	assert.Contains(t, msg, "does not match the sha256 pinned")
}
