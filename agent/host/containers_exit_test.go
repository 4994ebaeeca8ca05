package host_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/plugintest"
)

const cipherPlugin = "github.com/signet-agent/signet/plugins/cipher/cmd/signet-plugin-cipher"

// TestContainersForgottenWhenPluginExits: a plugin (Cipher) uploads a key
// container; when its process dies the host forgets the container, and
// the restarted plugin holds none.
func TestContainersForgottenWhenPluginExits(t *testing.T) {
	h := plugintest.Start(t, cipherPlugin, &plugintest.Config{
		PasswordPrompt: func(context.Context, hsm.PINRequest) (hsm.PINResponse, error) {
			return hsm.PINResponse{PIN: []byte("pw")}, nil
		},
		Options: map[string]string{"temp_dir": t.TempDir() + "/tickets"},
	})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "exit"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pfx, err := pkcs12.Modern.Encode(key, cert, nil, "pw")
	require.NoError(t, err)

	base := "https://" + h.Addr("https") + "/api/v1"
	c := h.HTTPClient()
	resp, err := c.Post(base+"/ticket", "text/plain", nil)
	require.NoError(t, err)
	var tk struct {
		TicketUUID string `json:"ticketUuid"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tk))
	resp.Body.Close()
	req, err := http.NewRequest("PUT", base+"/ticket/"+tk.TicketUUID+"/keyStore", bytes.NewReader(pfx))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 1, h.Manager.Containers(h.Name()))

	before := h.Status()
	require.NoError(t, syscall.Kill(before.PID, syscall.SIGKILL))
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := h.Status()
		if st.State == host.Running && st.PID != before.PID {
			break
		}
		require.True(t, time.Now().Before(deadline), "plugin not restarted: %+v", st)
		time.Sleep(10 * time.Millisecond)
	}
	assert.Equal(t, 0, h.Manager.Containers(h.Name()), "the dead plugin's container is forgotten")
}
