package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/sdk/gost"
	"github.com/signet-agent/signet/sdk/gost/gosttest"
)

// GOST PFX files between Signet and OpenSSL's GOST engine (Debian package
// libengine-gost-openssl), the independent implementation:
//
//   - a GOST R 34.10-2012 key OpenSSL's engine generates and exports to
//     PKCS#12 (in the TC26 profile and in OpenSSL's default protection)
//     signs through `signet sign`, and `openssl cms -verify -engine gost`
//     verifies the CMS against the certificate;
//   - a file pfx.EncodeTC26 writes loads in `openssl pkcs12 -engine gost`
//     (MAC verified, key decrypted to the same key).

// requireGOSTEngine fails in CI and skips elsewhere when openssl has no
// GOST engine.
func requireGOSTEngine(t *testing.T) {
	t.Helper()
	out, err := exec.Command("openssl", "engine", "gost").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "gost") {
		msg := "openssl has no GOST engine (apt-get install libengine-gost-openssl): " + strings.TrimSpace(string(out))
		require.Empty(t, os.Getenv("CI"), msg)
		t.Skip(msg)
	}
}

// gostOpenSSL runs openssl (with the password, if any, in $PFXPW) and
// returns its combined output, failing the test on an error.
func gostOpenSSL(t *testing.T, pw string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Env = append(os.Environ(), "PFXPW="+pw)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "openssl %s:\n%s", strings.Join(args, " "), out)
	return out
}

func TestGOSTPFXFromOpenSSLSignsAndOpenSSLVerifies(t *testing.T) {
	requireGOSTEngine(t)
	const pw = "gost-пароль"
	for _, tc := range []struct {
		name, alg, ps, md string
		export            []string
	}{
		{"tc26-kuznyechik-256", "gost2012_256", "A", "-md_gost12_256",
			[]string{"-keypbe", "kuznyechik-ctr-acpkm", "-certpbe", "kuznyechik-ctr-acpkm", "-macalg", "md_gost12_512"}},
		{"gost89-512", "gost2012_512", "A", "-md_gost12_512",
			[]string{"-keypbe", "gost89", "-certpbe", "gost89", "-macalg", "md_gost12_512"}},
		{"default-aes-256", "gost2012_256", "B", "-md_gost12_256", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			key, cert, file := filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "gost.pfx")
			gostOpenSSL(t, "", "genpkey", "-engine", "gost", "-algorithm", tc.alg, "-pkeyopt", "paramset:"+tc.ps, "-out", key)
			gostOpenSSL(t, "", "req", "-engine", "gost", "-new", "-x509", "-key", key, "-subj", "/CN=Signet GOST e2e "+tc.name,
				"-days", "30", tc.md, "-addext", "keyUsage=critical,digitalSignature", "-out", cert)
			gostOpenSSL(t, pw, append([]string{"pkcs12", "-engine", "gost", "-export", "-inkey", key, "-in", cert,
				"-name", "gost e2e", "-passout", "env:PFXPW", "-out", file}, tc.export...)...)

			doc := filepath.Join(dir, "doc.txt")
			content := []byte("Договор поставки № 42\nподписан ключом ГОСТ Р 34.10-2012\n")
			require.NoError(t, os.WriteFile(doc, content, 0o600))
			p7s := filepath.Join(dir, "doc.p7s")
			uri := pfx.KeyURI(file, "gost e2e")
			keys := string(runSignet(t, nil, 0, "keys", "--pfx", file))
			assert.Contains(t, keys, uri, "signet keys lists the GOST key")
			runSignet(t, []string{"SIGNET_PFX_PASSWORD=" + pw}, 0, "sign", "--pfx", file, "--key", uri, "--in", doc, "--out", p7s)

			// OpenSSL's CMS verifies the signature and the certificate.
			verified := filepath.Join(dir, "verified.txt")
			out := gostOpenSSL(t, "", "cms", "-verify", "-engine", "gost", "-binary", "-inform", "DER", "-in", p7s,
				"-CAfile", cert, "-out", verified)
			assert.Contains(t, string(out), "Verification successful")
			got, err := os.ReadFile(verified)
			require.NoError(t, err)
			assert.Equal(t, content, got, "the content OpenSSL verified")

			// A changed document is refused.
			bad := filepath.Join(dir, "bad.p7s")
			der, err := os.ReadFile(p7s)
			require.NoError(t, err)
			i := bytes.Index(der, []byte("42"))
			require.Positive(t, i, "attached content not found")
			der[i] = '7'
			require.NoError(t, os.WriteFile(bad, der, 0o600))
			cmd := exec.Command("openssl", "cms", "-verify", "-engine", "gost", "-binary", "-inform", "DER", "-in", bad, "-CAfile", cert, "-out", os.DevNull)
			out, err = cmd.CombinedOutput()
			assert.Error(t, err, "openssl verified a changed document: %s", out)
		})
	}
}

func TestGOSTPFXFromSignetLoadsInOpenSSL(t *testing.T) {
	requireGOSTEngine(t)
	const pw = "signet-tc26"
	k, err := gost.GenerateKeyOf(gost.KeyGOST2012_256, gost.CurveTC26_256A, rand.Reader)
	require.NoError(t, err)
	cert, err := gosttest.Certificate(gosttest.Template{CommonName: "Signet TC26 writer"}, &k.PublicKey, k, nil)
	require.NoError(t, err)
	der, err := gost.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	data, err := pfx.EncodeTC26(nil, der, []*x509.Certificate{cert}, "signet key", []byte(pw))
	require.NoError(t, err)
	dir := t.TempDir()
	file := filepath.Join(dir, "signet.pfx")
	require.NoError(t, os.WriteFile(file, data, 0o600))

	out := gostOpenSSL(t, pw, "pkcs12", "-engine", "gost", "-in", file, "-passin", "env:PFXPW", "-nodes", "-info")
	assert.Contains(t, string(out), "MAC: GOST R 34.11-2012 with 512 bit hash")
	start := bytes.Index(out, []byte("-----BEGIN PRIVATE KEY-----"))
	require.GreaterOrEqual(t, start, 0, "openssl printed no key:\n%s", out)
	block, _ := pem.Decode(out[start:])
	require.NotNil(t, block)
	got, err := gost.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	assert.True(t, got.Equal(k), "openssl decrypted another key")
	start = bytes.Index(out, []byte("-----BEGIN CERTIFICATE-----"))
	require.GreaterOrEqual(t, start, 0, "openssl printed no certificate:\n%s", out)
	block, _ = pem.Decode(out[start:])
	require.NotNil(t, block)
	assert.Equal(t, cert.Raw, block.Bytes)
}
