package trust

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/localca"
)

func TestCompareInstalled(t *testing.T) {
	caDir := t.TempDir()
	ca, err := localca.Open(caDir, nil, localca.Options{})
	require.NoError(t, err)

	change, prev, err := CompareInstalled(caDir, ca.Certificate())
	require.NoError(t, err)
	assert.Equal(t, FirstInstall, change)
	assert.Nil(t, prev)

	require.NoError(t, RecordInstalled(caDir, ca.Certificate()))
	change, prev, err = CompareInstalled(caDir, ca.Certificate())
	require.NoError(t, err)
	assert.Equal(t, Unchanged, change)
	assert.True(t, prev.Equal(ca.Certificate()))

	// Same constraints, another CA (end of life): not a constraint change.
	other, err := localca.Open(t.TempDir(), nil, localca.Options{})
	require.NoError(t, err)
	change, _, err = CompareInstalled(caDir, other.Certificate())
	require.NoError(t, err)
	assert.Equal(t, SameConstraints, change)

	// A new name: the constraints changed.
	wider, err := localca.Open(caDir, []string{"local.cipher.kiev.ua"}, localca.Options{})
	require.NoError(t, err)
	require.True(t, wider.Rotated)
	change, prev, err = CompareInstalled(caDir, wider.Certificate())
	require.NoError(t, err)
	assert.Equal(t, ConstraintsChanged, change)
	assert.Equal(t, []string{"localhost"}, prev.PermittedDNSDomains)
}
