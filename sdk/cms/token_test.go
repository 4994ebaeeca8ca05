package cms

import (
	"bytes"
	"context"
	"crypto"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pkcs11"
	"github.com/signet-agent/signet/internal/softhsmtest"
)

// TestTokenSigners signs with keys that never leave a SoftHSM2 token,
// through hsm/pkcs11 and hsm.Signer (the same crypto.Signer shape the
// plugin SDK hands to sdk/cms), and cross-checks with OpenSSL.
func TestTokenSigners(t *testing.T) {
	fx := softhsmtest.StandardToken(t, softhsmtest.Shared(), "cms-signers")
	be, err := pkcs11.Open(pkcs11.Config{
		Module: softhsmtest.Module(),
		PINPrompt: func(context.Context, hsm.PINRequest) (hsm.PINResponse, error) {
			return hsm.PINResponse{PIN: []byte(fx.UserPIN)}, nil
		},
	})
	require.NoError(t, err)
	defer be.Close()
	ctx := context.Background()
	keys, err := be.Keys(ctx)
	require.NoError(t, err)
	byLabel := map[string]hsm.KeyInfo{}
	for _, k := range keys {
		if k.HasPrivateKey && k.Certificate != nil && bytes.Contains([]byte(k.TokenURI), []byte("cms-signers")) {
			byLabel[k.Label] = k
		}
	}
	content := []byte("signed on a SoftHSM2 token")
	cases := []struct {
		name, label string
		opts        SignOptions
	}{
		{"rsa-pkcs1", softhsmtest.KeyRSA, SignOptions{}},
		{"rsa-pss", softhsmtest.KeyRSA, SignOptions{Algorithm: "RSA-PSS", Digest: crypto.SHA384}},
		{"ecdsa", softhsmtest.KeyECDSA, SignOptions{}},
		{"ed25519", softhsmtest.KeyEd25519, SignOptions{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ki, ok := byLabel[c.label]
			require.True(t, ok, "key %q not found on the token", c.label)
			signer := hsm.Signer(ctx, be, ki.URI, ki.PublicKey)
			for _, detached := range []bool{false, true} {
				o := c.opts
				o.Detached = detached
				o.Chain = fx.PKI.Chain()
				sig, err := Sign(content, signer, ki.Certificate, &o)
				require.NoError(t, err)
				var dc []byte
				if detached {
					dc = content
				}
				if c.label == softhsmtest.KeyEd25519 {
					opensslEd25519Check(t, sig, ki.Certificate)
				} else {
					require.NoError(t, opensslVerifyRoot(t, fx.PKI.Root.Raw, sig, dc, "-cades"))
				}
				rep, err := Verify(sig, bytes.NewReader(content), &VerifyOptions{Roots: fx.PKI.Roots()})
				if !detached {
					rep, err = Verify(sig, nil, &VerifyOptions{Roots: fx.PKI.Roots()})
				}
				require.NoError(t, err)
				assert.Equal(t, ChainValid, rep.Signers[0].ChainStatus, "chain")
			}
		})
	}
}
