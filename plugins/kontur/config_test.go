package kontur

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const validConfig = `database: {dsn: "postgres://signet@127.0.0.1:5432/signet"}
notifier: {file: /tmp/codes}
accounts:
  - id: acme
    keys: ["pkcs11:token=t;object=k"]
    api_key_sha256: [` + "0000000000000000000000000000000000000000000000000000000000000000" + `]
`

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(validConfig))
	require.NoError(t, err)
	assert.Equal(t, 5*time.Minute, c.Codes.TTL)
	assert.Equal(t, 3, c.Codes.Attempts)
	assert.Equal(t, "sms", c.Accounts[0].Confirm)
	assert.Equal(t, 16, c.Limits.MaxDocumentMB)
	assert.NotEmpty(t, c.Replica)
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, edit, want string
	}{
		{"password in the address", `s|postgres://signet@|postgres://signet:hunter2@|`, "holds a password"},
		{"unknown field", `s|^notifier|colour: red\nnotifier|`, "colour"},
		{"no account key", `s|keys: \["pkcs11:token=t;object=k"\]|keys: []|`, "no keys"},
		{"bad hash", `s|\[0000000000000000000000000000000000000000000000000000000000000000\]|[abc]|`, "not a hex SHA-256"},
		{"bad confirm", `s|    keys:|    confirm: maybe\n    keys:|`, "sms or none"},
		{"subjects without oidc", `s|    keys:|    subjects: [alice]\n    keys:|`, "subjects need auth.oidc"},
		{"attempts", `s|^notifier|codes: {attempts: 99}\nnotifier|`, "codes.attempts"},
		{"no notifier", `s|^notifier: {file: /tmp/codes}||`, "notifier"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(sed(t, validConfig, tc.edit)))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "hunter2", "an error never repeats the password")
		})
	}
}

// sed applies one s|from|to| edit (from is a regexp, multi-line mode).
func sed(t *testing.T, s, edit string) string {
	parts := strings.Split(edit, "|")
	require.Len(t, parts, 4, "edit %q", edit)
	re := mustRegexp(t, "(?m)"+parts[1])
	require.True(t, re.MatchString(s), "edit %q does not apply", edit)
	return re.ReplaceAllString(s, strings.ReplaceAll(parts[2], `\n`, "\n"))
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(validConfig))
	f.Add([]byte("accounts: [{id: a/b}]"))
	f.Add([]byte("database: {dsn: 'host=x password=y'}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err == nil {
			// Whatever parses is checked: bounded limits and known modes.
			assert.Positive(t, c.Codes.Attempts)
			assert.LessOrEqual(t, c.Limits.MaxDocumentMB, 1024)
			for _, a := range c.Accounts {
				assert.Contains(t, []string{"sms", "none"}, a.Confirm)
				assert.NotEmpty(t, a.Keys)
			}
		}
	})
}

func FuzzUnzipSingle(f *testing.F) {
	f.Add([]byte("PK\x03\x04not really a zip"))
	f.Add([]byte("plain text"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out := unzipSingle(data, 1<<20)
		assert.LessOrEqual(t, len(out), max(len(data), 1<<20), "output bounded by the input or the limit")
	})
}

func TestCodes(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		c, err := newCode()
		require.NoError(t, err)
		require.Len(t, c, 6)
		require.True(t, validCode(c))
		seen[c] = true
	}
	assert.Greater(t, len(seen), 190, "codes are random")
	for _, bad := range []string{"", "12a456", "1234567890123456789", " 123456"} {
		assert.False(t, validCode(bad), "%q", bad)
	}
}
