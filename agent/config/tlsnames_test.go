package config

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/localca"
)

// Names that would make the local CA's constraints cover other people's
// sites are refused at load, at the name's own line and column.
func TestTLSNamesTooBroadRefused(t *testing.T) {
	tests := []struct {
		name, in  string
		line, col int
		want      string
	}{
		{"tld in tls.names", "tls:\n  names: [ok.example, com]\n", 2, 23, `"com" is a single-label name`},
		{"local in tls.names", "tls:\n  names:\n    - local\n", 3, 7, `"local" is a single-label name`},
		{"public suffix in tls.names", "tls:\n  names: [co.uk]\n", 2, 11, `"co.uk" is a public suffix`},
		{"upper-case public suffix", "tls:\n  names: [Kiev.UA]\n", 2, 11, `"kiev.ua" is a public suffix`},
		{"private public suffix", "tls:\n  names: [github.io]\n", 2, 11, `"github.io" is a public suffix`},
		{"wildcard", "tls:\n  names: [\"*.example.com\"]\n", 2, 11, "invalid DNS name"},
		{"leading dot", "tls:\n  names: [.example.com]\n", 2, 11, "invalid DNS name"},
		{"listener public suffix", "plugins:\n  - name: x\n    listen:\n      - bind: 127.0.0.1:80\n        names: [a.example, co.uz]\n", 5, 28, `"co.uz" is a public suffix`},
		{"listener tld", "plugins:\n  - name: x\n    listen:\n      - {bind: 127.0.0.1:80, names: [com]}\n", 4, 38, `"com" is a single-label name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse("/etc/signet/config.yaml", []byte(tt.in), fakeDNS)
			require.Error(t, err)
			var ce *Error
			require.True(t, errors.As(err, &ce), "%v is not a *config.Error", err)
			assert.Contains(t, err.Error(), fmt.Sprintf("/etc/signet/config.yaml:%d:%d: ", tt.line, tt.col))
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestTLSNamesAccepted(t *testing.T) {
	in := "tls:\n  names: [localhost, signet.localhost, example.co.uk]\nplugins:\n  - name: x\n    listen:\n      - {bind: 127.0.0.1:80, names: [local.cipher.kiev.ua]}\n"
	c, err := parse("c.yaml", []byte(in), fakeDNS)
	require.NoError(t, err)
	assert.Equal(t, []string{"example.co.uk", "local.cipher.kiev.ua", "localhost", "signet.localhost"}, c.TLSNames())
	for _, n := range c.TLSNames() {
		assert.NoError(t, localca.CheckName(n))
	}
}
