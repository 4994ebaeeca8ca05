package cms_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/cms"
)

func selfSigned(t *testing.T) (crypto.Signer, *x509.Certificate) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "attach"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return key, cert
}

// TestAttachContent: a detached signature becomes attached, keeps its
// signer byte for byte, and OpenSSL verifies it without the content file;
// other content or an attached message is refused.
func TestAttachContent(t *testing.T) {
	key, cert := selfSigned(t)
	content := []byte("the signed document\n")
	detached, err := cms.Sign(content, key, cert, &cms.SignOptions{Detached: true})
	require.NoError(t, err)

	attached, err := cms.AttachContent(detached, content)
	require.NoError(t, err)
	rep, err := cms.Verify(attached, nil, &cms.VerifyOptions{})
	require.NoError(t, err)
	require.True(t, rep.Valid(), "%v", rep.Signers[0].Errors)
	assert.Equal(t, content, rep.Content)
	before, err := cms.ParseSignedData(detached)
	require.NoError(t, err)
	after, err := cms.ParseSignedData(attached)
	require.NoError(t, err)
	assert.Equal(t, before.Signers[0].Raw, after.Signers[0].Raw, "the signer is kept byte for byte")

	dir := t.TempDir()
	in := filepath.Join(dir, "a.p7s")
	require.NoError(t, os.WriteFile(in, attached, 0o600))
	out, err := exec.Command("openssl", "cms", "-verify", "-inform", "DER", "-in", in, "-noverify", "-out", filepath.Join(dir, "out")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	got, err := os.ReadFile(filepath.Join(dir, "out"))
	require.NoError(t, err)
	assert.Equal(t, content, got)

	_, err = cms.AttachContent(detached, []byte("another document\n"))
	require.ErrorIs(t, err, cms.ErrContentMismatch)
	_, err = cms.AttachContent(attached, content)
	require.Error(t, err, "an attached message is refused")
}
