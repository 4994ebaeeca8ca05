package eimzo_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/signet-agent/signet/sdk/cms"
	"github.com/signet-agent/signet/sdk/gost"
	"github.com/signet-agent/signet/sdk/gost/gosttest"
)

// TestPKCS7CreateWithOzDStKey: create_pkcs7 with an O'zDSt 1092 key from
// a DSKEYS key file signs as E-IMZO does (spec §8.3, from a verified
// production signature): digestAlgorithm O'zDSt 1106:2009 and
// signatureAlgorithm 1.2.860.3.15.1.1.2.2.2.2, both with NULL; signed
// attributes contentType, signingTime and messageDigest only; the chain
// user → CA. The signature verifies with sdk/cms against the O'zDSt root,
// and the signature value with sdk/gost over the signed attributes.
func TestPKCS7CreateWithOzDStKey(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)

	ca, err := gost.GenerateKeyOf(gost.KeyOzDSt1092, gost.CurveCryptoProA, rand.Reader)
	require.NoError(t, err)
	caCert, err := gosttest.Certificate(gosttest.Template{CommonName: "Test O'zDSt Root", IsCA: true}, &ca.PublicKey, ca, nil)
	require.NoError(t, err)
	k, err := gost.GenerateKeyOf(gost.KeyOzDSt1092, gost.CurveCryptoProA, rand.Reader)
	require.NoError(t, err)
	k.ParamSet = "1.2.860.3.15.1.1.2.1.1"
	cert, err := gosttest.Certificate(gosttest.Template{CommonName: "OZDST SINOV"}, &k.PublicKey, ca, caCert)
	require.NoError(t, err)
	pkcs8, err := gost.MarshalOzDStPKCS8PrivateKey(k)
	require.NoError(t, err)

	// The key file, in a DSKEYS folder; removed (so the shared key store
	// lists nothing more for later tests) when the test ends.
	disk := t.TempDir()
	dir := filepath.Join(disk, "DSKEYS")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	file := filepath.Join(dir, "DS3012345670001.pfx")
	const alias = "cn=ozdst sinov,serialnumber=1,validfrom=2026.01.01 00:00:00,validto=2028.01.01 23:59:59"
	data, err := pfx.EncodeTC26(nil, pkcs8, []*x509.Certificate{cert, caCert}, alias, []byte("Parol-ozdst"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, data, 0o600))
	b, err := pfx.Open(pfx.Config{
		Files: []string{file},
		PasswordPrompt: func(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
			if req.Attempt > 1 {
				return hsm.PINResponse{}, fmt.Errorf("test prompt: %w", hsm.ErrCancelled)
			}
			return hsm.PINResponse{PIN: []byte("Parol-ozdst")}, nil
		},
	})
	require.NoError(t, err)
	h.Store.Add(b)

	f := pfxFixture{Disk: disk + string(filepath.Separator), Path: "DSKEYS", Name: "DS3012345670001", Alias: alias, UnlockedAlias: alias}
	all := listedCerts(t, call(t, h, endpoint(h, "ws"), testOrigin, pfxReq("list_all_certificates")))
	findListed(t, all, f)
	id := loadKey(t, h, testOrigin, f, alias)

	doc := []byte("Shartnoma: O'zDSt 1092:2009 imzosi")
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	for _, mode := range []string{"no", "yes"} {
		reply := mustOK(t, "create_pkcs7 "+mode, call(t, h, endpoint(h, "wss"), testOrigin, fn("pkcs7", "create_pkcs7", b64(doc), id, mode)))
		der, si := checkSignReply(t, reply, cert)
		assert.Equal(t, "1.2.860.3.15.1.3.2.1.1", si.DigestAlgorithm.Algorithm.String(), "digestAlgorithm")
		assert.Equal(t, "1.2.860.3.15.1.1.2.2.2.2", si.SignatureAlgorithm.Algorithm.String(), "signatureAlgorithm")
		assert.Equal(t, []byte{0x05, 0x00}, si.SignatureAlgorithm.Parameters.FullBytes, "signatureAlgorithm parameters")
		var types []string
		for _, a := range si.SignedAttributes {
			types = append(types, a.Type.String())
		}
		assert.ElementsMatch(t, []string{"1.2.840.113549.1.9.3", "1.2.840.113549.1.9.5", "1.2.840.113549.1.9.4"}, types,
			"signed attributes: contentType, signingTime, messageDigest")
		var content []byte
		if mode == "yes" {
			content = doc
		}
		var rep *cms.Report
		if content != nil {
			rep, err = cms.Verify(der, bytes.NewReader(content), &cms.VerifyOptions{Roots: roots})
		} else {
			rep, err = cms.Verify(der, nil, &cms.VerifyOptions{Roots: roots})
		}
		require.NoError(t, err, mode)
		require.Len(t, rep.Signers, 1)
		assert.True(t, rep.Signers[0].Valid(), "%s: %v", mode, rep.Signers[0].Err())
		assert.Equal(t, cms.ChainValid, rep.Signers[0].ChainStatus, "%s: %v", mode, rep.Signers[0].Err())
		// The signature value, checked with sdk/gost alone.
		signed := append([]byte{0x31}, si.RawSignedAttributes[1:]...) // [0] IMPLICIT → SET
		attrs := gost.Sum94CryptoPro(signed)
		assert.NoError(t, gost.Verify(&k.PublicKey, attrs[:], si.Signature), mode)
	}
}
