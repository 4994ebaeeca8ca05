package cli

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk/cms"
	"github.com/signet-agent/signet/sdk/gost"
	"github.com/signet-agent/signet/sdk/gost/gosttest"
)

// gostBackend is an in-memory key store holding GOST and O'zDSt keys with
// their certificates. No real backend of this tree holds GOST keys that a
// test can make (SoftHSM has no GOST, and the PFX backend reads GOST files
// elsewhere), so `signet sign` and `signet keys` are run on this one.
type gostBackend struct {
	keys map[string]*gost.PrivateKey
	info []hsm.KeyInfo
}

const gostTokenURI = "pkcs11:token=gost-mem"

func (b *gostBackend) add(t *testing.T, label string, typ gost.KeyType, c *gost.Curve) (*gost.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := gost.GenerateKeyOf(typ, c, rand.Reader)
	require.NoError(t, err)
	cert, err := gosttest.Certificate(gosttest.Template{CommonName: label, IsCA: true}, &key.PublicKey, key, nil)
	require.NoError(t, err)
	uri := gostTokenURI + ";object=" + label + ";type=private"
	if b.keys == nil {
		b.keys = map[string]*gost.PrivateKey{}
	}
	b.keys[uri] = key
	b.info = append(b.info, hsm.KeyInfo{URI: uri, TokenURI: gostTokenURI, Label: label, HasPrivateKey: true, CanSign: true,
		Algorithm: hsm.KeyAlgorithm(typ.String()), Bits: 8 * c.Size(), PublicKey: &key.PublicKey, Certificate: cert})
	return key, cert
}

func (b *gostBackend) Tokens(context.Context) ([]hsm.TokenInfo, error) {
	return []hsm.TokenInfo{{URI: gostTokenURI, Label: "gost-mem"}}, nil
}
func (b *gostBackend) Keys(context.Context) ([]hsm.KeyInfo, error) { return b.info, nil }
func (b *gostBackend) Close() error                                { return nil }
func (b *gostBackend) Handles(uri string) bool                     { return strings.HasPrefix(uri, gostTokenURI) }
func (b *gostBackend) Sign(_ context.Context, uri string, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	k, ok := b.keys[uri]
	if !ok {
		return nil, hsm.ErrKeyNotFound
	}
	if opts != nil && opts.HashFunc() != 0 {
		return nil, fmt.Errorf("GOST key with %v: %w", opts.HashFunc(), hsm.ErrInvalidRequest)
	}
	return gost.Sign(rand.Reader, k, digest)
}

// runIn runs the CLI in this process on store.
func runIn(t *testing.T, store *hsm.Store, args ...string) (int, string, string) {
	t.Helper()
	var so, se bytes.Buffer
	a := &App{Stdout: &so, Stderr: &se}
	if store != nil {
		a.once.Do(func() { a.store = store })
	}
	code := Run(context.Background(), a, args)
	return code, so.String(), se.String()
}

// TestSignGOSTKeys: `signet keys` names GOST and O'zDSt keys by their
// standards; `signet sign` picks each key's own digest and CMS algorithm,
// refuses --hash for them, and the result verifies here and (for GOST
// 2012) in OpenSSL's gost engine; --raw writes s‖r over the key's digest.
func TestSignGOSTKeys(t *testing.T) {
	b := &gostBackend{}
	_, cert256 := b.add(t, "g256", gost.KeyGOST2012_256, gost.CurveTC26_256A)
	_, cert512 := b.add(t, "g512", gost.KeyGOST2012_512, gost.CurveTC26_512A)
	b.add(t, "oz", gost.KeyOzDSt1092, gost.CurveCryptoProA)
	store := hsm.NewStore(b)

	code, out, errOut := runIn(t, store, "keys")
	require.Zero(t, code, errOut)
	assert.Contains(t, out, "algorithm: GOST R 34.10-2012 (256) 256")
	assert.Contains(t, out, "algorithm: GOST R 34.10-2012 (512) 512")
	assert.Contains(t, out, "algorithm: O'zDSt 1092:2009 256")

	dir := t.TempDir()
	doc := filepath.Join(dir, "doc.txt")
	require.NoError(t, os.WriteFile(doc, []byte("a GOST-signed document\n"), 0o600))
	for _, tc := range []struct {
		label, sigAlg, digest string
		cert                  *x509.Certificate
	}{
		{"g256", "GOST R 34.10-2012 (256)", "Streebog-256", cert256},
		{"g512", "GOST R 34.10-2012 (512)", "Streebog-512", cert512},
		{"oz", "O'zDSt 1092:2009", "O'zDSt 1106:2009", nil},
	} {
		uri := gostTokenURI + ";object=" + tc.label + ";type=private"
		sigFile := filepath.Join(dir, tc.label+".p7s")
		code, _, errOut := runIn(t, store, "sign", "--key", uri, "--in", doc, "--out", sigFile, "--detached")
		require.Zero(t, code, "sign %s: %s", tc.label, errOut)
		sig, err := os.ReadFile(sigFile)
		require.NoError(t, err)
		f, err := os.Open(doc)
		require.NoError(t, err)
		rep, err := cms.Verify(sig, f, nil)
		f.Close()
		require.NoError(t, err, tc.label)
		assert.Equal(t, tc.sigAlg, rep.Signers[0].SignatureAlgorithm, tc.label)
		assert.Equal(t, tc.digest, rep.Signers[0].DigestAlgorithm, tc.label)

		if tc.cert != nil && gostEngineAvailable() {
			ca := filepath.Join(dir, tc.label+".pem")
			writePEM(t, ca, "CERTIFICATE", tc.cert.Raw)
			out, err := exec.Command("openssl", "cms", "-engine", "gost", "-verify", "-binary", "-inform", "DER", "-in", sigFile,
				"-content", doc, "-CAfile", ca, "-out", os.DevNull).CombinedOutput()
			require.NoError(t, err, "openssl cms -verify %s: %s", tc.label, out)
		}

		code, _, errOut = runIn(t, store, "sign", "--key", uri, "--in", doc, "--out", sigFile, "--hash", "sha384")
		assert.Equal(t, 2, code, "--hash with a GOST key")
		assert.Contains(t, errOut, "its digest is fixed")
	}

	// --raw: s‖r over Streebog-512 of the file.
	rawFile := filepath.Join(dir, "raw.sig")
	code, _, errOut = runIn(t, store, "sign", "--raw", "--key", gostTokenURI+";object=g512;type=private", "--in", doc, "--out", rawFile)
	require.Zero(t, code, errOut)
	raw, err := os.ReadFile(rawFile)
	require.NoError(t, err)
	content, _ := os.ReadFile(doc)
	d := gost.SumStreebog512(content)
	pub, err := gost.CertificatePublicKey(cert512)
	require.NoError(t, err)
	require.NoError(t, gost.Verify(pub, d[:], raw))
}

func gostEngineAvailable() bool {
	return exec.Command("openssl", "engine", "gost").Run() == nil
}

// TestVerifyCommand: `signet verify` reports on GOST and O'zDSt
// signatures in DER, PEM and bare base64, with and without roots,
// attached and detached, and exits 1 for a tampered one or missing
// content.
func TestVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	caKey, err := gost.GenerateKeyOf(gost.KeyGOST2012_256, gost.CurveCryptoProA, rand.Reader)
	require.NoError(t, err)
	ca, err := gosttest.Certificate(gosttest.Template{CommonName: "Verify CA", IsCA: true}, &caKey.PublicKey, caKey, nil)
	require.NoError(t, err)
	key, err := gost.GenerateKeyOf(gost.KeyGOST2012_256, gost.CurveCryptoProA, rand.Reader)
	require.NoError(t, err)
	leaf, err := gosttest.Certificate(gosttest.Template{CommonName: "Verify Signer"}, &key.PublicKey, caKey, ca)
	require.NoError(t, err)
	caFile := filepath.Join(dir, "ca.pem")
	writePEM(t, caFile, "CERTIFICATE", ca.Raw)

	content := []byte("verify me")
	attached, err := cms.Sign(content, key, leaf, &cms.SignOptions{Chain: []*x509.Certificate{ca}})
	require.NoError(t, err)
	detached, err := cms.Sign(content, key, leaf, &cms.SignOptions{Detached: true})
	require.NoError(t, err)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	attFile := write("att.p7s", attached)
	b64File := write("att.b64", []byte(base64.StdEncoding.EncodeToString(attached)))
	pemFile := filepath.Join(dir, "att.pem")
	writePEM(t, pemFile, "CMS", attached)
	detFile := write("det.p7s", detached)
	contentFile := write("content.txt", content)

	for _, f := range []string{attFile, b64File, pemFile} {
		code, out, errOut := runIn(t, nil, "verify", f)
		require.Zero(t, code, "%s: %s%s", f, out, errOut)
		assert.Contains(t, out, "signer 1: CN=Verify Signer")
		assert.Contains(t, out, "algorithm: GOST R 34.10-2012 (256) with Streebog-256")
		assert.Contains(t, out, "signature: valid")
		assert.Contains(t, out, "chain:     not-checked")
		assert.Contains(t, out, "result: valid")
	}
	code, out, errOut := runIn(t, nil, "verify", attFile, "--roots", caFile)
	require.Zero(t, code, out+errOut)
	assert.Contains(t, out, "chain:     valid")

	code, out, errOut = runIn(t, nil, "verify", detFile, "--content", contentFile, "--roots", caFile, "--json")
	require.Zero(t, code, out+errOut)
	var j VerifyJSON
	require.NoError(t, json.Unmarshal([]byte(out), &j))
	assert.True(t, j.Valid)
	assert.True(t, j.Detached)
	require.Len(t, j.Signers, 1)
	assert.Equal(t, "valid", j.Signers[0].Chain, "the CA is found among the roots for a detached message without a chain")

	code, _, errOut = runIn(t, nil, "verify", detFile)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--content")

	bad := append([]byte(nil), attached...)
	bad[len(bad)-3] ^= 0x04
	code, out, _ = runIn(t, nil, "verify", write("bad.p7s", bad))
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "signature: INVALID")
	assert.Contains(t, out, "result: NOT VALID")

	code, _, errOut = runIn(t, nil, "verify", write("junk.p7s", []byte("not a signature")))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "junk.p7s")
}
