package e2e

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/sdk/cms"
	"github.com/signet-agent/signet/sdk/dstu"
	"github.com/signet-agent/signet/sdk/dstu/dstutest"
)

// A DSTU 4145 key in an IIT Key-6.dat signs a file through `signet sign`
// (CMS SignedData with GOST 34.311-95), and the independent implementation
// (jkurwa, run with node) verifies the signature; a changed signature byte
// makes it refuse.
func TestDSTUKey6SignsThroughSignetSignAndJkurwaVerifies(t *testing.T) {
	jk := dstutest.Jkurwa(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	require.NoError(t, os.Mkdir(keys, 0o700))
	key, err := dstu.GenerateKey(dstu.Curve257, nil)
	require.NoError(t, err)
	keyFile := filepath.Join(keys, "Key-6.dat")
	require.NoError(t, os.WriteFile(keyFile, dstutest.Key6(t, key, "таємний пароль"), 0o600))
	cert := dstutest.Certificate(t, key, "Леся Українка")
	require.NoError(t, os.WriteFile(filepath.Join(keys, "Леся Українка.cer"), cert.Raw, 0o600))
	pw := filepath.Join(dir, "password")
	require.NoError(t, os.WriteFile(pw, []byte("таємний пароль"), 0o600))
	in := filepath.Join(dir, "declaration.xml")
	require.NoError(t, os.WriteFile(in, []byte("<DECLAR>податкова декларація</DECLAR>"), 0o600))
	out := filepath.Join(dir, "declaration.xml.p7s")
	uri := pfx.KeyURI(keyFile, "key")

	listed := runSignet(t, nil, 0, "keys", "--no-probe", "--pfx-dir", keys)
	assert.Contains(t, string(listed), "Key-6.dat")

	runSignet(t, nil, 0, "sign", "--no-probe", "--pfx-dir", keys, "--password-file", pw,
		"--key", uri, "--in", in, "--out", out)
	der, err := os.ReadFile(out)
	require.NoError(t, err)

	rep, err := cms.Verify(der, nil, nil)
	require.NoError(t, err)
	require.Len(t, rep.Signers, 1)
	assert.Equal(t, "DSTU4145", rep.Signers[0].SignatureAlgorithm)
	assert.Equal(t, "GOST34311", rep.Signers[0].DigestAlgorithm)

	sig, err := hex.DecodeString(rep.Signers[0].SignatureHex)
	require.NoError(t, err)
	tampered := bytes.Clone(der)
	at := bytes.Index(tampered, sig)
	require.Positive(t, at)
	tampered[at+7] ^= 0x01

	res := jk.Run(t,
		dstutest.Req{"op": "cmsverify", "cms": hex.EncodeToString(der), "cert": hex.EncodeToString(cert.Raw)},
		dstutest.Req{"op": "cmsverify", "cms": hex.EncodeToString(tampered), "cert": hex.EncodeToString(cert.Raw)},
	)
	assert.True(t, res[0].Bool(t, "ok"), "jkurwa verifies the signature signet made")
	assert.False(t, res[1].Bool(t, "ok"), "jkurwa refuses a changed signature")
}

// A PKCS#12 file with a DSTU key, as Ukrainian CAs issue them, beside an
// ordinary directory's PFX files: `signet keys` lists it, `signet sign`
// signs with the certificate the file holds, and jkurwa verifies.
func TestDSTUPKCS12SignsThroughSignetSignAndJkurwaVerifies(t *testing.T) {
	jk := dstutest.Jkurwa(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	require.NoError(t, os.Mkdir(keys, 0o700))
	key, err := dstu.GenerateKey(dstu.Curve431, nil)
	require.NoError(t, err)
	cert := dstutest.Certificate(t, key, "ТОВ Приклад")
	keyFile := filepath.Join(keys, "ca-issued.pfx")
	require.NoError(t, os.WriteFile(keyFile, dstutest.PKCS12(t, key, "pfx-пароль", cert), 0o600))
	pw := filepath.Join(dir, "password")
	require.NoError(t, os.WriteFile(pw, []byte("pfx-пароль"), 0o600))
	in := filepath.Join(dir, "report.xml")
	require.NoError(t, os.WriteFile(in, []byte("<report/>"), 0o600))
	out := filepath.Join(dir, "report.p7s")

	runSignet(t, nil, 0, "sign", "--no-probe", "--pfx-dir", keys, "--password-file", pw,
		"--key", pfx.KeyURI(keyFile, "key"), "--in", in, "--out", out)
	der, err := os.ReadFile(out)
	require.NoError(t, err)
	rep, err := cms.Verify(der, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, cert.Raw, rep.Signers[0].Certificate.Raw)
	res := jk.Run(t, dstutest.Req{"op": "cmsverify", "cms": hex.EncodeToString(der), "cert": hex.EncodeToString(cert.Raw)})
	assert.True(t, res[0].Bool(t, "ok"), "jkurwa verifies the signature signet made")
}
