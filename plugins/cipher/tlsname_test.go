package cipher_test

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/plugintest"
)

// leafNames returns the DNS and IP names of the certificate listener
// serves.
func leafNames(t *testing.T, h *plugintest.Host, listener string) (dns []string, ips []net.IP) {
	t.Helper()
	conn, err := tls.Dial("tcp", h.Addr(listener), h.TLSConfig())
	require.NoError(t, err)
	defer conn.Close()
	leaf := conn.ConnectionState().PeerCertificates[0]
	return leaf.DNSNames, leaf.IPAddresses
}

// TestPortalNameWhenConfigured: with the name configured for the plugin,
// both listeners' certificates carry local.cipher.kiev.ua besides
// 127.0.0.1 and localhost. (That an unconfigured name is left out is
// tested against `signet serve` in the repository's test package.)
func TestPortalNameWhenConfigured(t *testing.T) {
	named := plugintest.Start(t, pkg, &plugintest.Config{Listen: []plugintest.Listen{{Name: "*", TLSNames: []string{"local.cipher.kiev.ua"}}}})
	for _, l := range []string{"https", "https9090"} {
		dns, ips := leafNames(t, named, l)
		assert.Contains(t, dns, "local.cipher.kiev.ua", l)
		assert.Contains(t, dns, "localhost", l)
		assert.True(t, containsIP(ips, net.IPv4(127, 0, 0, 1)), "%s: %v", l, ips)
	}
}

func containsIP(ips []net.IP, ip net.IP) bool {
	for _, x := range ips {
		if x.Equal(ip) {
			return true
		}
	}
	return false
}
