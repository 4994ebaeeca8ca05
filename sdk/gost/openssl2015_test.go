package gost

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGost2015OpenSSLCiphers encrypts the same random data here and with
// the engine's `openssl enc`: Kuznyechik ECB and CBC, Magma CBC, both
// CTR-ACPKM (the engine's enc re-keys every 4096 bytes for Kuznyechik and
// every 1024 for Magma) and GOST 28147-89 CFB with CryptoPro key meshing
// ("gost89", with the S-boxes TC26 Z, the engine's default, and
// CryptoPro A, chosen through its CRYPT_PARAMS variable). The data spans several sections and
// meshings. The engine's MAC ciphers are not compared: its `dgst -mac`
// answers with uninitialised bytes in this OpenSSL version, so the MAC is
// checked by the standard's vectors only (TestCMACVectors).
func TestGost2015OpenSSLCiphers(t *testing.T) {
	gostEngine(t)
	key := make([]byte, 32)
	rand.Read(key)
	data := make([]byte, 10000) // a multiple of both block sizes
	rand.Read(data)
	kuz, err := NewKuznyechik(key)
	require.NoError(t, err)
	mag, err := NewMagma(key)
	require.NoError(t, err)
	iv16, iv8, iv4 := make([]byte, 16), make([]byte, 8), make([]byte, 4)
	rand.Read(iv16)
	rand.Read(iv8)
	rand.Read(iv4)

	ecb := func(b cipher.Block) []byte {
		out := make([]byte, len(data))
		for i := 0; i < len(data); i += b.BlockSize() {
			b.Encrypt(out[i:], data[i:])
		}
		return out
	}
	cbc := func(b cipher.Block, iv []byte) []byte {
		out := make([]byte, len(data))
		cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, data)
		return out
	}
	stream := func(s cipher.Stream, err error) []byte {
		require.NoError(t, err)
		out := make([]byte, len(data))
		s.XORKeyStream(out, data)
		return out
	}
	for _, tc := range []struct {
		name string
		iv   []byte
		want []byte
		env  string
	}{
		{"kuznyechik-ecb", nil, ecb(kuz), ""},
		{"kuznyechik-cbc", iv16, cbc(kuz, iv16), ""},
		{"magma-cbc", iv8, cbc(mag, iv8), ""},
		{"kuznyechik-ctr-acpkm", iv8, stream(NewKuznyechikCTRACPKM(key, iv8, 4096)), ""},
		{"magma-ctr-acpkm", iv4, stream(NewMagmaCTRACPKM(key, iv4, 1024)), ""},
		{"gost89", iv8, stream(NewCFBMeshing(key, SBoxTC26Z, iv8, false)), ""},
		{"gost89", iv8, stream(NewCFBMeshing(key, SBoxCryptoProA, iv8, false)), "id-Gost28147-89-CryptoPro-A-ParamSet"},
	} {
		args := []string{"enc", "-engine", "gost", "-" + tc.name, "-nopad", "-K", hex.EncodeToString(key)}
		if tc.iv != nil {
			args = append(args, "-iv", hex.EncodeToString(tc.iv))
		}
		t.Setenv("CRYPT_PARAMS", tc.env) // the engine's S-box for gost89; empty is TC26 Z
		got := openssl(t, data, args...)
		assert.Equal(t, hex.EncodeToString(tc.want[:64]), hex.EncodeToString(got[:min(64, len(got))]), "%s %s", tc.name, tc.env)
		assert.True(t, bytes.Equal(tc.want, got), "%s %s: the whole output differs", tc.name, tc.env)
	}
}
