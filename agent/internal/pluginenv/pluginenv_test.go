package pluginenv

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestInherited(t *testing.T) {
	for name, want := range map[string]bool{
		"PATH": true, "HOME": true, "TMPDIR": true, "LANG": true, "TZ": true,
		"LC_ALL": true, "LC_PIN": true, "XDG_RUNTIME_DIR": true, "XDG_": true,
		"SIGNET_PIN": false, "PATHX": false, "path": false, "LC": false, "lc_pin": false, "MY_HOME": false, "": false,
	} {
		assert.Equal(t, want, Inherited(name), name)
	}
}

func TestFilter(t *testing.T) {
	got := Filter([]string{"PATH=/bin", "SIGNET_PIN=1234", "LC_ALL=C", "noequals", "XDG_X=y", "HOMEX=z"})
	assert.Equal(t, []string{"PATH=/bin", "LC_ALL=C", "XDG_X=y"}, got)
}

func TestText(t *testing.T) {
	assert.Equal(t, "PATH, HOME, TMPDIR, LANG, TZ, LC_* and XDG_*", Text())
}
