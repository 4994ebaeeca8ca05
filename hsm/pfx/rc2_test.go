package pfx

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRC2Vectors: RFC 2268 §5.
func TestRC2Vectors(t *testing.T) {
	for _, tc := range []struct {
		key      string
		eff      int
		pt, want string
	}{
		{"0000000000000000", 63, "0000000000000000", "ebb773f993278eff"},
		{"ffffffffffffffff", 64, "ffffffffffffffff", "278b27e42e2f0d49"},
		{"3000000000000000", 64, "1000000000000001", "30649edf9be7d2c2"},
		{"88", 64, "0000000000000000", "61a8a244adacccf0"},
		{"88bca90e90875a", 64, "0000000000000000", "6ccf4308974c267f"},
		{"88bca90e90875a7f0f79c384627bafb2", 64, "0000000000000000", "1a807d272bbe5db1"},
		{"88bca90e90875a7f0f79c384627bafb2", 128, "0000000000000000", "2269552ab0f85ca6"},
	} {
		key, err := hex.DecodeString(tc.key)
		require.NoError(t, err)
		pt, err := hex.DecodeString(tc.pt)
		require.NoError(t, err)
		c := newRC2(key, tc.eff)
		got := make([]byte, 8)
		c.Encrypt(got, pt)
		assert.Equal(t, tc.want, hex.EncodeToString(got), "key %s/%d", tc.key, tc.eff)
		c.Decrypt(got, got)
		assert.Equal(t, tc.pt, hex.EncodeToString(got), "decrypt %s/%d", tc.key, tc.eff)
	}
}
