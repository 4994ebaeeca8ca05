package e2e

import (
	"crypto/sha256"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A web page (through the example plugin's HTTP API) asks for a signature
// with a key URI carrying the token's PIN in RFC 7512 pin-value, or
// telling the agent where to read one (pin-source): the agent refuses it,
// and the value is in neither its log nor any file of its data directory
// (the journal).
func TestAttackPluginPINInKeyURI(t *testing.T) {
	const secret = "uripin-8830vx"
	pinFile := filepath.Join(t.TempDir(), "pin")
	writeSecret(t, pinFile, fixture.UserPIN)
	a := startAgentWith(t, agentSetup{PINSources: []pinSource{{Token: "pkcs11:token=" + tokenLabel, File: pinFile}}})
	c := a.client()
	addr := exampleAddr(t, a.plugin("example"))
	key := keyOnToken(t, listKeys(t, c, addr, nil), tokenLabel)
	sum := sha256.Sum256([]byte("pin in the key URI"))

	// A signature that works, so the journal is being written.
	status, _, body := signAs(t, c, addr, "https://portal.example", key, sum[:], "", nil)
	require.Equal(t, http.StatusOK, status, "%s", body)

	for _, bad := range []string{
		key + "?pin-value=" + secret,
		key + "?pin-source=file:/tmp/" + secret,
	} {
		status, _, body := signAs(t, c, addr, "https://portal.example", bad, sum[:], "", nil)
		assert.Equal(t, http.StatusBadRequest, status, "sign with %s: %s", bad, body)
		assert.NotContains(t, string(body), secret, "the reply repeats the value")
	}
	a.stop()
	assert.Contains(t, a.log.String(), "carries pin-value or pin-source")
	assert.NotContains(t, a.log.String(), secret, "the value is in the agent's log")
	files := 0
	require.NoError(t, filepath.WalkDir(a.dataDir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		assert.NotContains(t, string(data), secret, "the value is in %s", path)
		return nil
	}))
	require.NotZero(t, files)
}
