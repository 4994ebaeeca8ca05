package sdk

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFileKeyURI(t *testing.T) {
	path, alias, err := ParseFileKeyURI("file:///home/me/keys/My%20Key.pfx#cn=ism%20familiya,o=x")
	require.NoError(t, err)
	assert.Equal(t, "/home/me/keys/My Key.pfx", path)
	assert.Equal(t, "cn=ism familiya,o=x", alias)

	path, alias, err = ParseFileKeyURI("file:///k.pfx")
	require.NoError(t, err)
	assert.Equal(t, "/k.pfx", path)
	assert.Empty(t, alias)

	for _, bad := range []string{"pkcs11:token=x", "file://remote.example/k.pfx", "file:k.pfx", "file:///k.pfx?x=1", ""} {
		_, _, err := ParseFileKeyURI(bad)
		assert.ErrorIs(t, err, ErrInvalidURI, "%q", bad)
	}
}
