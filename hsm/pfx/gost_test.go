package pfx

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/signet-agent/signet/sdk/gost"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// gostEngine skips (fails in CI) when openssl has no GOST engine.
func gostEngine(t *testing.T) {
	t.Helper()
	out, err := exec.Command("openssl", "engine", "gost").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "gost") {
		msg := "openssl has no GOST engine (apt-get install libengine-gost-openssl): " + strings.TrimSpace(string(out))
		require.Empty(t, os.Getenv("CI"), msg)
		t.Skip(msg)
	}
}

// gostProtections are the ways OpenSSL's GOST engine protects a PKCS#12
// file: the ciphers it can write in PBES2 (its PRF follows the cipher:
// HMAC-Streebog-512 for gost89, HMAC-SHA-256 for the 2015 ciphers) and
// the GOST MAC digests.
var gostProtections = []struct{ name, keypbe, mac string }{
	{"gost89-streebog512", "gost89", "md_gost12_512"},
	{"kuznyechik-streebog256", "kuznyechik-ctr-acpkm", "md_gost12_256"},
	{"magma-gost94", "magma-ctr-acpkm", "md_gost94"},
	{"aes-streebog512", "aes-256-cbc", "md_gost12_512"},
}

// TestGOSTProtectedFilesFromOpenSSL: files OpenSSL's GOST engine
// protects with GOST ciphers and MACs (go-pkcs12 refuses all of them)
// list, unlock with the password, refuse a wrong one as a wrong password,
// and sign.
func TestGOSTProtectedFilesFromOpenSSL(t *testing.T) {
	gostEngine(t)
	k := newKey(t, softhsmtest.ECP256, "GOST protected")
	for _, p := range gostProtections {
		t.Run(p.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "k.pfx")
			writeOpenSSLPFX(t, path, k, "alias", "пароль-1", "-engine", "gost",
				"-keypbe", p.keypbe, "-certpbe", p.keypbe, "-macalg", p.mac)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			_, _, _, err = pkcs12.DecodeChain(data, "пароль-1")
			require.Error(t, err, "go-pkcs12 reads it; the test shows nothing")

			_, err = decode(data, []byte("wrong"))
			assert.ErrorIs(t, err, pkcs12.ErrIncorrectPassword)

			pr := &prompter{answers: []string{"wrong", "пароль-1"}}
			b := openBackend(t, Config{Files: []string{path}, PasswordPrompt: pr.prompt})
			key := onlyKey(t, b)
			assert.Equal(t, "alias", key.Label)
			signAndVerify(t, b, key.URI, k.Key.Public())
			assert.Equal(t, 2, pr.calls(), "a wrong password, then the right one")
			after := onlyKey(t, b)
			require.NotNil(t, after.Certificate)
			assert.Equal(t, k.Certificate.Raw, after.Certificate.Raw)
			assert.Equal(t, hsm.ECDSA, after.Algorithm)
		})
	}
}

// TestEncodeTC26LoadsHereAndInOpenSSL: a file EncodeTC26 writes unlocks
// here (and lists its certificate while locked), and OpenSSL's GOST
// engine verifies its MAC, decrypts its key and prints the same key.
func TestEncodeTC26LoadsHereAndInOpenSSL(t *testing.T) {
	gostEngine(t)
	k := newKey(t, softhsmtest.ECP256, "TC26 writer")
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	require.NoError(t, err)
	data, err := EncodeTC26(nil, der, append([]*x509.Certificate{k.Certificate}, k.Chain...), "мой ключ", []byte("пароль-2"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "tc26.pfx")
	require.NoError(t, os.WriteFile(path, data, 0o600))

	b := openBackend(t, Config{Files: []string{path}, PasswordPrompt: (&prompter{answers: []string{"пароль-2"}}).prompt})
	locked := onlyKey(t, b)
	require.NotNil(t, locked.Certificate, "the certificate lists without the password")
	assert.Equal(t, "мой ключ", locked.Label)
	signAndVerify(t, b, locked.URI, k.Key.Public())

	cmd := exec.Command("openssl", "pkcs12", "-engine", "gost", "-in", path, "-passin", "env:PFXPW", "-nodes", "-info")
	cmd.Env = append(os.Environ(), "PFXPW=пароль-2")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "openssl pkcs12: %s", out)
	assert.Contains(t, string(out), "MAC: GOST R 34.11-2012 with 512 bit hash, Iteration 2048")
	assert.Contains(t, string(out), "Shrouded Keybag: PBES2, PBKDF2, kuznyechik-ctr-acpkm, Iteration 2048, PRF id-tc26-hmac-gost-3411-2012-512")
	block, _ := pem.Decode(out[strings.Index(string(out), "-----BEGIN PRIVATE KEY-----"):])
	require.NotNil(t, block, "openssl printed no key: %s", out)
	assert.Equal(t, der, block.Bytes, "openssl decrypted another key")

	cmd = exec.Command("openssl", "pkcs12", "-engine", "gost", "-in", path, "-passin", "pass:wrong", "-nodes")
	out, err = cmd.CombinedOutput()
	require.Error(t, err, "openssl accepted a wrong password: %s", out)
	assert.Contains(t, string(out), "Mac verify error")
}

// opensslGOSTPFX makes a GOST R 34.10-2012 key (algorithm gost2012_256 or
// gost2012_512, parameter set ps), a self-signed certificate and a PFX
// with OpenSSL's GOST engine; extra are more `openssl pkcs12 -export`
// options. It returns the PFX path and the key and certificate PEM paths.
func opensslGOSTPFX(t *testing.T, alg, ps, pw string, extra ...string) (pfxPath, keyPath, certPath string) {
	t.Helper()
	dir := t.TempDir()
	keyPath, certPath, pfxPath = filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "k.pfx")
	md := map[string]string{"gost2012_256": "-md_gost12_256", "gost2012_512": "-md_gost12_512"}[alg]
	for _, args := range [][]string{
		{"genpkey", "-engine", "gost", "-algorithm", alg, "-pkeyopt", "paramset:" + ps, "-out", keyPath},
		{"req", "-engine", "gost", "-new", "-x509", "-key", keyPath, "-subj", "/CN=GOST " + alg + " " + ps, "-days", "30", md, "-out", certPath},
		append([]string{"pkcs12", "-engine", "gost", "-export", "-inkey", keyPath, "-in", certPath, "-name", "gost key",
			"-passout", "env:PFXPW", "-out", pfxPath}, extra...),
	} {
		cmd := exec.Command("openssl", args...)
		cmd.Env = append(os.Environ(), "PFXPW="+pw)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "openssl %v: %s", args, out)
	}
	return pfxPath, keyPath, certPath
}

// TestGOST2012KeysFromOpenSSL: PFX files with GOST R 34.10-2012 keys
// that OpenSSL's GOST engine exports, in its default protection (AES,
// HMAC-SHA-256 MAC) and in the GOST ones, list with the national
// algorithm name and the certificate, and sign digests that verify.
func TestGOST2012KeysFromOpenSSL(t *testing.T) {
	gostEngine(t)
	for _, tc := range []struct {
		alg, ps string
		extra   []string
	}{
		{"gost2012_256", "A", nil},
		{"gost2012_256", "B", []string{"-keypbe", "gost89", "-certpbe", "gost89", "-macalg", "md_gost12_512"}},
		{"gost2012_256", "TCA", []string{"-keypbe", "kuznyechik-ctr-acpkm", "-certpbe", "kuznyechik-ctr-acpkm", "-macalg", "md_gost12_256"}},
		{"gost2012_512", "A", []string{"-keypbe", "magma-ctr-acpkm", "-certpbe", "magma-ctr-acpkm", "-macalg", "md_gost12_512"}},
		{"gost2012_512", "C", nil},
	} {
		t.Run(tc.alg+"-"+tc.ps, func(t *testing.T) {
			path, _, _ := opensslGOSTPFX(t, tc.alg, tc.ps, "секрет", tc.extra...)
			b := openBackend(t, Config{Files: []string{path}, PasswordPrompt: (&prompter{answers: []string{"секрет"}}).prompt})
			key := onlyKey(t, b)
			digest := make([]byte, map[string]int{"gost2012_256": 32, "gost2012_512": 64}[tc.alg])
			copy(digest, "a Streebog digest of the document")
			sig, err := b.Sign(context.Background(), key.URI, digest, crypto.Hash(0))
			require.NoError(t, err)
			after := onlyKey(t, b)
			require.NotNil(t, after.Certificate, "the certificate pairs with the GOST key")
			pub, ok := after.PublicKey.(*gost.PublicKey)
			require.True(t, ok, "public key %T", after.PublicKey)
			assert.NoError(t, gost.Verify(pub, digest, sig))
			want := map[string]string{"gost2012_256": "GOST R 34.10-2012 (256)", "gost2012_512": "GOST R 34.10-2012 (512)"}[tc.alg]
			assert.Equal(t, hsm.KeyAlgorithm(want), after.Algorithm)
			assert.Equal(t, 8*len(digest), after.Bits)

			_, err = b.Sign(context.Background(), key.URI, digest[:20], crypto.Hash(0))
			assert.ErrorIs(t, err, hsm.ErrInvalidRequest, "a digest of the wrong size")
			_, err = b.Sign(context.Background(), key.URI, digest[:32], crypto.SHA256)
			assert.ErrorIs(t, err, hsm.ErrInvalidRequest, "a SHA-256 digest")
		})
	}
}
