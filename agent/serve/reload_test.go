package serve

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestNeedsRestart names exactly the sections a reload cannot apply; a
// policy change needs none.
func TestNeedsRestart(t *testing.T) {
	base := `
data_dir: /tmp/x
plugin_dir: /tmp/p
plugins:
  - name: eimzo
    listen: ["127.0.0.1:64443"]
`
	running := parse(t, base)
	assert.Empty(t, needsRestart(running, parse(t, base+"policy:\n  deny: [\"https://evil.example\"]\n")), "policy only")
	next := parse(t, `
data_dir: /tmp/y
plugin_dir: /tmp/p
plugins:
  - name: eimzo
    listen: ["127.0.0.1:64444"]
tls:
  names: [signet.localhost]
`)
	assert.Equal(t, []string{"data_dir", "plugins", "tls"}, needsRestart(running, next))
}
