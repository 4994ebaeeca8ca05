package sdk

import (
	"context"
	"crypto/tls"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tlsServe accepts connections on a loopback listener with cfg, completes
// each handshake and closes it.
func tlsServe(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Write([]byte("ok"))
			}()
		}
	}()
	return ln.Addr().String()
}

// TestListenerKeyExchange: the plugins' loopback listeners settle on X25519
// when the client offers the hybrid X25519MLKEM768 first (as browsers do)
// with an X25519 share next to it, in one round trip; a client with P-256
// only gets P-256; OpenSSL's client connects too.
func TestListenerKeyExchange(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	h := &Host{tls: &shortCA{life: time.Hour, clock: clock}, now: clock.Now}
	cfg, err := h.TLSConfig(context.Background(), "localhost")
	require.NoError(t, err)
	addr := tlsServe(t, cfg)

	for _, tc := range []struct {
		name   string
		curves []tls.CurveID
		want   tls.CurveID
	}{
		{"browser-like (hybrid first)", []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}, tls.X25519},
		{"Go default", nil, tls.X25519},
		{"P-256 only", []tls.CurveID{tls.CurveP256}, tls.CurveP256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, CurvePreferences: tc.curves, MinVersion: tls.VersionTLS13})
			require.NoError(t, err)
			defer c.Close()
			st := c.ConnectionState()
			assert.Equal(t, tc.want, st.CurveID, "key exchange")
			assert.False(t, st.HelloRetryRequest, "an extra round trip (HelloRetryRequest) for the key share")
		})
	}

	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl is needed to check the key exchange with another implementation: %v", err)
	}
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("openssl", "s_client", "-connect", net.JoinHostPort(host, port), "-brief")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "openssl s_client:\n%s", out)
	assert.Contains(t, string(out), "X25519", "openssl s_client:\n%s", out)
	assert.NotContains(t, string(out), "MLKEM", "openssl s_client:\n%s", out)
}
