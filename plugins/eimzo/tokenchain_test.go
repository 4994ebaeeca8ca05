package eimzo_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/signet-agent/signet/sdk/cms"
)

// TestPKCS7TokenKeyCarriesTokenChain: when the token holds the key's CA
// certificates, create_pkcs7 with the token key puts them in the message,
// and openssl verifies it against the root alone. The CA certificates are
// removed from the shared token afterwards.
func TestPKCS7TokenKeyCarriesTokenChain(t *testing.T) {
	ctx := context.Background()
	h0 := plugintest.Start(t, pkg, nil)
	pki := h0.Fixture.PKI
	key := h0.Key(t, plugintest.KeyECDSA)
	_, err := h0.Store.ImportCertificate(ctx, hsm.ImportCertificateRequest{KeyURI: key.URI, Certificate: key.Certificate, Chain: pki.Chain()})
	require.NoError(t, err, "store the intermediate and root on the token")
	t.Cleanup(func() {
		keys, err := h0.Store.Keys(ctx)
		require.NoError(t, err)
		for _, k := range keys {
			if k.Certificate != nil && !k.HasPrivateKey && k.PublicKey != nil &&
				(bytes.Equal(k.Certificate.Raw, pki.Root.Raw) || bytes.Equal(k.Certificate.Raw, pki.Intermediate.Raw)) {
				assert.NoError(t, h0.Store.Delete(ctx, k.URI), "remove %s", k.URI)
			}
		}
	})

	h, _ := tokenHost(t, plugintest.KeyECDSA, nil)
	doc := []byte("hujjat")
	reply := mustOK(t, "create_pkcs7", call(t, h, endpoint(h, "wss"), testOrigin, fn("pkcs7", "create_pkcs7", b64(doc), "ckc", "no")))
	der, _ := checkSignReply(t, reply, key.Certificate)
	sd, err := cms.ParseSignedData(der)
	require.NoError(t, err)
	var got [][]byte
	for _, c := range sd.Certificates {
		got = append(got, c.Raw)
	}
	assert.Equal(t, [][]byte{key.Certificate.Raw, pki.Intermediate.Raw, pki.Root.Raw}, got, "signer, intermediate, root")

	dir := t.TempDir()
	root, in := filepath.Join(dir, "root.pem"), filepath.Join(dir, "sig.p7s")
	require.NoError(t, os.WriteFile(root, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Root.Raw}), 0o600))
	require.NoError(t, os.WriteFile(in, der, 0o600))
	out, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", in,
		"-CAfile", root, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
	assert.NoError(t, err, "openssl cms -verify -CAfile root: %s", out)
}
