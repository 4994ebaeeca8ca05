package dstu

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The digests jkurwa's hash (the gost89 npm package) gives for these
// inputs; testdata/jkurwa.js recomputes them in the cross-check.
func TestSum34311Vectors(t *testing.T) {
	for _, v := range []struct {
		in   []byte
		want string
	}{
		{nil, "da37bdf41145e39e34111775b40646e8059c2e969c1460bb98abccb26f0f76a5"},
		{[]byte("abc"), "a34a53504d8ba070cb73a583146167a0a3c226d793440d9cea24465fe02251f2"},
		{bytes.Repeat([]byte{0x55}, 50), "71bb5634ef9a563545135162758fa96c67625756afb622b09297b5a127a46ba8"},
	} {
		got := Sum34311(v.in)
		assert.Equal(t, v.want, hex.EncodeToString(got[:]), "%q", v.in)
	}
}

func TestPackedDKEIsTheCertificateForm(t *testing.T) {
	// The DKE that Ukrainian certificates and key containers carry.
	assert.Equal(t, "a9d6eb45f13c708280c4967b231f5eadf658eba4c037291d38d96bf025ca4e17"+
		"f8e9720dc615b43a28975f0bc1dea36438b564ea2c179fd0123e6db8fac57904", hex.EncodeToString(PackedDKE))
	s, err := UnpackSBox(PackedDKE)
	require.NoError(t, err)
	assert.Equal(t, SBoxDKE, s)

	bad := bytes.Clone(PackedDKE)
	bad[0] = bad[1]
	_, err = UnpackSBox(bad)
	assert.ErrorIs(t, err, ErrParameters)
	_, err = UnpackSBox(PackedDKE[:63])
	assert.ErrorIs(t, err, ErrParameters)
}
