package pkcs11

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk/cms"
)

// TestTokenKeyChainFromTokenCertificates: a token key's chain is the
// certificates of its token, walked issuer by issuer — here the
// intermediate filed under the key's own CKA_ID and the root under its
// own — and a CMS signed with the key and that chain verifies with
// OpenSSL against the root alone.
func TestTokenKeyChainFromTokenCertificates(t *testing.T) {
	f := setup(t)
	b, _ := openTest(t, Config{PINPrompt: goodPrompt().fn}, false)
	ctx := context.Background()
	pki := f.chain.PKI
	leaf := f.chain.Keys["leaf"].Certificate

	k := keyURI(t, b, "chain", "leaf")
	require.NotNil(t, k.Certificate)
	assert.Equal(t, leaf.Raw, k.Certificate.Raw, "the key's certificate, not the CA certificate beside it")
	assert.Equal(t, [][]byte{pki.Intermediate.Raw, pki.Root.Raw}, raws(k.Chain), "chain: intermediate, root")

	// Key (what signing resolves) gives the same chain, from the listing.
	again, err := b.Key(ctx, k.URI)
	require.NoError(t, err)
	assert.Equal(t, raws(k.Chain), raws(again.Chain))

	dir := t.TempDir()
	root := filepath.Join(dir, "root.pem")
	require.NoError(t, os.WriteFile(root, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Root.Raw}), 0o600))
	verify := func(chain []*x509.Certificate) error {
		sig, err := cms.Sign([]byte("token chain"), hsm.Signer(ctx, b, k.URI, k.PublicKey), k.Certificate, &cms.SignOptions{Chain: chain})
		require.NoError(t, err, "cms.Sign with the token key")
		in := filepath.Join(dir, "sig.der")
		require.NoError(t, os.WriteFile(in, sig, 0o600))
		out, err := exec.Command("openssl", "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", root,
			"-purpose", "any", "-out", os.DevNull).CombinedOutput()
		if err != nil {
			t.Logf("openssl: %s", out)
		}
		return err
	}
	assert.NoError(t, verify(k.Chain), "openssl cms -verify -CAfile root with the listed chain")
	assert.Error(t, verify(nil), "the leaf alone must not verify against the root (the check would prove nothing)")
}

func raws(cs []*x509.Certificate) [][]byte {
	out := make([][]byte, len(cs))
	for i, c := range cs {
		out[i] = c.Raw
	}
	return out
}
