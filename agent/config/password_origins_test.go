package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPasswordOrigins: policy.password_origins is empty by default (no
// origin passes a password), names origins by pattern, refuses "*" and
// "null", and never lets a denied origin or a local caller pass one.
func TestPasswordOrigins(t *testing.T) {
	def, err := Parse("signet.yaml", []byte("{}\n"))
	require.NoError(t, err)
	assert.False(t, def.Policy.PasswordOrigin("https://portal.example"), "default off")

	c, err := Parse("signet.yaml", []byte(`
policy:
  deny: ["https://bad.portal.example"]
  password_origins: ["https://*.portal.example", "https://one.example"]
`))
	require.NoError(t, err)
	p := &c.Policy
	assert.True(t, p.PasswordOrigin("https://one.example"))
	assert.True(t, p.PasswordOrigin("https://a.portal.example"))
	assert.False(t, p.PasswordOrigin("https://two.example"))
	assert.False(t, p.PasswordOrigin("https://bad.portal.example"), "a denied origin")
	assert.False(t, p.PasswordOrigin(""), "a local caller")

	for _, bad := range []string{`"*"`, `"null"`, `"https://x.example/path"`} {
		_, err := Parse("signet.yaml", []byte("policy:\n  password_origins: ["+bad+"]\n"))
		assert.ErrorContains(t, err, "password_origins", bad)
	}
}
