package gost

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}

// Test vectors of GOST R 34.12-2015 (RFC 7801 §5, RFC 8891 §A), GOST R
// 34.13-2015 Annex A and R 1323565.1.017-2018 Annex A (ACPKM).
const (
	kuzKey   = "8899aabbccddeeff0011223344556677fedcba98765432100123456789abcdef"
	magmaKey = "ffeeddccbbaa99887766554433221100f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
	// GOST R 34.13-2015 A.1: four plaintext blocks for Kuznyechik.
	kuzPlain = "1122334455667700ffeeddccbbaa9988 00112233445566778899aabbcceeff0a" +
		"112233445566778899aabbcceeff0a00 2233445566778899aabbcceeff0a0011"
	// GOST R 34.13-2015 A.2: four plaintext blocks for Magma.
	magmaPlain = "92def06b3c130a59 db54c704f8189d20 4a98fb2e67a8024c 8912409b17b57e41"
)

func TestKuznyechikVectors(t *testing.T) {
	c, err := NewKuznyechik(unhex(t, kuzKey))
	require.NoError(t, err)
	// GOST R 34.13-2015 A.1.1 (ECB); its first block is RFC 7801 §5.5.
	plain := unhex(t, kuzPlain)
	want := unhex(t, "7f679d90bebc24305a468d42b9d4edcd b429912c6e0032f9285452d76718d08b"+
		"f0ca33549d247ceef3f5a5313bd4b157 d0b09ccde830b9eb3a02c4c5aa8ada98")
	got := make([]byte, len(plain))
	for i := 0; i < len(plain); i += 16 {
		c.Encrypt(got[i:], plain[i:])
	}
	assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got))
	for i := 0; i < len(got); i += 16 {
		c.Decrypt(got[i:], got[i:])
	}
	assert.Equal(t, plain, got)
	// RFC 7801 §5.4: the round keys K3 and K10.
	roundKey := func(i int) string {
		var b [16]byte
		kuzStore(b[:], c.k[i])
		return hex.EncodeToString(b[:])
	}
	assert.Equal(t, "db31485315694343228d6aef8cc78c44", roundKey(2))
	assert.Equal(t, "72e9dd7416bcf45b755dbaa88e4a4043", roundKey(9))
	_, err = NewKuznyechik(make([]byte, 31))
	assert.ErrorContains(t, err, "Kuznyechik key is 31 bytes")
}

func TestMagmaVectors(t *testing.T) {
	c, err := NewMagma(unhex(t, magmaKey))
	require.NoError(t, err)
	// RFC 8891 §A.3 (GOST R 34.12-2015 A.2.4).
	got := make([]byte, 8)
	c.Encrypt(got, unhex(t, "fedcba9876543210"))
	assert.Equal(t, "4ee901e5c2d8ca3d", hex.EncodeToString(got))
	c.Decrypt(got, got)
	assert.Equal(t, "fedcba9876543210", hex.EncodeToString(got))
	// GOST R 34.13-2015 A.2.1 (ECB).
	plain := unhex(t, magmaPlain)
	got = make([]byte, len(plain))
	for i := 0; i < len(plain); i += 8 {
		c.Encrypt(got[i:], plain[i:])
	}
	assert.Equal(t, "2b073f0494f372a0de70e715d3556e4811d8d9e9eacfbc1e7c68260996c67efb", hex.EncodeToString(got))
	_, err = NewMagma(make([]byte, 16))
	assert.ErrorContains(t, err, "Magma key is 16 bytes")
}

func TestCTRVectors(t *testing.T) {
	// GOST R 34.13-2015 A.1.2 and A.2.2: CTR is CTR-ACPKM without re-keying.
	s, err := NewKuznyechikCTRACPKM(unhex(t, kuzKey), unhex(t, "1234567890abcef0"), 0)
	require.NoError(t, err)
	plain := unhex(t, kuzPlain)
	got := make([]byte, len(plain))
	s.XORKeyStream(got, plain)
	assert.Equal(t, "f195d8bec10ed1dbd57b5fa240bda1b885eee733f6a13e5df33ce4b33c45dee4"+
		"a5eae88be6356ed3d5e877f13564a3a5cb91fab1f20cbab6d1c6d15820bdba73", hex.EncodeToString(got))

	s, err = NewMagmaCTRACPKM(unhex(t, magmaKey), unhex(t, "12345678"), 0)
	require.NoError(t, err)
	plain = unhex(t, magmaPlain)
	got = make([]byte, len(plain))
	s.XORKeyStream(got, plain)
	assert.Equal(t, "4e98110c97b7b93c3e250d93d6e85d69136d868807b2dbef568eb680ab52a12d", hex.EncodeToString(got))
}

func TestCTRACPKMVector(t *testing.T) {
	// R 1323565.1.017-2018 A.4.1 (RFC 8645 A.1): Kuznyechik, N = 256 bits,
	// fed in odd-sized pieces so partial blocks and re-keying interleave.
	plain := unhex(t, kuzPlain+"33445566778899aabbcceeff0a001122"+
		"445566778899aabbcceeff0a00112233 5566778899aabbcceeff0a0011223344")
	want := "f195d8bec10ed1dbd57b5fa240bda1b885eee733f6a13e5df33ce4b33c45dee4" +
		"4bceeb8f646f4c55001706275e85e800587c4df568d094393e4834afd0805046" +
		"cf30f57686aeece11cfc6c316b8a896edffd07ec813636460c4f3b743423163e" +
		"6409a9c282fac8d469d221e7fbd6de5d"
	s, err := NewKuznyechikCTRACPKM(unhex(t, kuzKey), unhex(t, "1234567890abcef0"), 32)
	require.NoError(t, err)
	got := make([]byte, len(plain))
	for off, step := 0, 1; off < len(plain); off, step = off+step, step+2 {
		end := min(off+step, len(plain))
		s.XORKeyStream(got[off:end], plain[off:end])
	}
	assert.Equal(t, want, hex.EncodeToString(got))

	_, err = NewKuznyechikCTRACPKM(unhex(t, kuzKey), make([]byte, 16), 32)
	assert.ErrorContains(t, err, "IV is 16 bytes, want 8")
	_, err = NewMagmaCTRACPKM(unhex(t, magmaKey), make([]byte, 4), 12)
	assert.ErrorContains(t, err, "not a multiple of the block size")
}

func TestCMACVectors(t *testing.T) {
	// GOST R 34.13-2015 A.1.6 and A.2.6.
	k, err := NewKuznyechik(unhex(t, kuzKey))
	require.NoError(t, err)
	m, err := NewCMAC(k)
	require.NoError(t, err)
	m.Write(unhex(t, kuzPlain))
	assert.Equal(t, "336f4d296059fbe34ddeb35b37749c67", hex.EncodeToString(m.Sum(nil)))

	mg, err := NewMagma(unhex(t, magmaKey))
	require.NoError(t, err)
	m, err = NewCMAC(mg)
	require.NoError(t, err)
	plain := unhex(t, magmaPlain)
	m.Write(plain[:5])
	m.Write(plain[5:])
	assert.Equal(t, "154e72102030c5bb", hex.EncodeToString(m.Sum(nil)))
	m.Reset()
	m.Write(plain)
	assert.Equal(t, "154e72102030c5bb", hex.EncodeToString(m.Sum(nil)), "after Reset")
}

func TestGost28147DecryptAndCFB(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	c, err := NewCipher(key, SBoxCryptoProA)
	require.NoError(t, err)
	var _ cipher.Block = c
	b := []byte("8 bytes!")
	c.Encrypt(b, b)
	c.Decrypt(b, b)
	assert.Equal(t, "8 bytes!", string(b))

	// CFB with meshing decrypts what it encrypts, across several meshings
	// and in uneven pieces.
	iv := make([]byte, 8)
	rand.Read(iv)
	plain := make([]byte, 3*meshingSection+77)
	rand.Read(plain)
	enc, err := NewCFBMeshing(key, SBoxTC26Z, iv, false)
	require.NoError(t, err)
	ct := make([]byte, len(plain))
	enc.XORKeyStream(ct[:100], plain[:100])
	enc.XORKeyStream(ct[100:], plain[100:])
	dec, err := NewCFBMeshing(key, SBoxTC26Z, iv, true)
	require.NoError(t, err)
	pt := make([]byte, len(ct))
	dec.XORKeyStream(pt, ct)
	assert.Equal(t, plain, pt)
	_, err = NewCFBMeshing(key, SBoxTC26Z, iv[:4], true)
	assert.ErrorContains(t, err, "IV is 4 bytes")
}
