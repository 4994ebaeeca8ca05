package gost

import (
	"bytes"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hashVectors are the published GOST R 34.11-94 vectors, digest bytes in
// the usual (little-endian value) order. CryptoPro: the first three as
// E-IMZO documents them, and the widely reproduced table of the CryptoPro
// parameter set; test S-box: RFC 5831 §10 / the GOST R 34.11-94 examples.
var hashVectors = []struct {
	sbox     string
	in, want string
}{
	{"CryptoPro", "", "981e5f3ca30c841487830f84fb433e13ac1101569b9c13584ac483234cd656c0"},
	{"CryptoPro", "a", "e74c52dd282183bf37af0079c9f78055715a103f17e3133ceff1aacf2f403011"},
	{"CryptoPro", "abc", "b285056dbf18d7392d7677369524dd14747459ed8143997e163b2986f92fd42c"},
	{"CryptoPro", "message digest", "bc6041dd2aa401ebfa6e9886734174febdb4729aa972d60f549ac39b29721ba0"},
	{"CryptoPro", "The quick brown fox jumps over the lazy dog", "9004294a361a508c586fe53d1f1b02746765e71b765472786e4770d565830a76"},
	{"CryptoPro", "This is message, length=32 bytes", "2cefc2f7b7bdc514e18ea57fa74ff357e7fa17d652c75f69cb1be7893ede48eb"},
	{"CryptoPro", "Suppose the original message has length = 50 bytes", "c3730c5cbccacf915ac292676f21e8bd4ef75331d9405e5f1a61dc3130a65011"},
	{"CryptoPro", strings.Repeat("U", 128), "1c4ac7614691bbf427fa2316216be8f10d92edfd37cd1027514c1008f649c4e8"},
	{"Test", "", "ce85b99cc46752fffee35cab9a7b0278abb4c2d2055cff685af4912c49490f8d"},
	{"Test", "abc", "f3134348c44fb1b2a277729e2285ebb5cb5e0f29c975bc753b70497c06a4d51d"},
	{"Test", "message digest", "ad4434ecb18f2c99b60cbe59ec3d2469582b65273f48de72db2fde16a4889a4d"},
	{"Test", "This is message, length=32 bytes", "b1c466d37519b82e8319819ff32595e047a28cb6f83eff1c6916a815a637fffa"},
	{"Test", "Suppose the original message has length = 50 bytes", "471aba57a60a770d3a76130635c1fbea4ef14de51f78b4ae57dd893b62f55208"},
	{"Test", strings.Repeat("U", 128), "53a3a3ed25180cef0c1d85a074273e551c25660a87062a52d926a9e8fe5733a4"},
}

func sboxNamed(t testing.TB, name string) *SBox {
	switch name {
	case "CryptoPro":
		return SBoxCryptoProHash
	case "Test":
		return SBoxTestHash
	}
	t.Fatalf("no S-box %q", name)
	return nil
}

func TestGost94Vectors(t *testing.T) {
	for _, v := range hashVectors {
		name := v.sbox + "/" + v.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			h, err := New94(sboxNamed(t, v.sbox))
			require.NoError(t, err)
			h.Write([]byte(v.in))
			got := hex.EncodeToString(h.Sum(nil))
			assert.Equal(t, v.want, got, "got  %s\nwant %s", got, v.want)
			if v.sbox == "CryptoPro" {
				got := Sum94CryptoPro([]byte(v.in))
				assert.Equal(t, v.want, hex.EncodeToString(got[:]), "Sum94CryptoPro = %x", got)
			}
		})
	}
}

// TestGost94MillionA is the long-message vector (10^6 × "a").
func TestGost94MillionA(t *testing.T) {
	if testing.Short() {
		t.Skip("long message")
	}
	for _, v := range []struct{ sbox, want string }{
		{"CryptoPro", "8693287aa62f9478f7cb312ec0866b6c4e4a0f11160441e8f4ffcd2715dd554f"},
		{"Test", "5c00ccc2734cdd3332d3d4749576e3c1a7dbaf0e7ea74e9fa602413c90a129fa"},
	} {
		h, _ := New94(sboxNamed(t, v.sbox))
		chunk := bytes.Repeat([]byte("a"), 1000)
		for range 1000 {
			h.Write(chunk)
		}
		got := hex.EncodeToString(h.Sum(nil))
		assert.Equal(t, v.want, got, "%s: got %s, want %s", v.sbox, got, v.want)
	}
}

func TestGost94HashInterface(t *testing.T) {
	h := New94CryptoPro()
	require.Equal(t, 32, h.Size(), "Size %d BlockSize %d", h.Size(), h.BlockSize())
	require.Equal(t, 32, h.BlockSize(), "Size %d BlockSize %d", h.Size(), h.BlockSize())
	h.Write([]byte("ab"))
	mid := h.Sum([]byte("prefix"))
	require.True(t, bytes.HasPrefix(mid, []byte("prefix")), "Sum does not append: %x", mid)
	require.Len(t, mid, 6+32, "Sum does not append: %x", mid)
	// Sum does not change the state: writing on continues the message.
	h.Write([]byte("c"))
	want := Sum94CryptoPro([]byte("abc"))
	got := h.Sum(nil)
	assert.Equal(t, want[:], got, "after Sum and Write: %x, want %x", got, want)
	h.Reset()
	empty := Sum94CryptoPro(nil)
	got = h.Sum(nil)
	assert.Equal(t, empty[:], got, "after Reset: %x, want %x", got, empty)
}

func TestGost94BadSBox(t *testing.T) {
	_, err := New94(nil)
	assert.Error(t, err, "New94(nil) succeeded")
	bad := *SBoxTestHash
	bad[3][7] = 16
	_, err = New94(&bad)
	assert.ErrorContains(t, err, "row", "S-box entry 16")
	_, err = NewCipher(make([]byte, 31), SBoxTestHash)
	assert.ErrorContains(t, err, "31 bytes", "31-byte key")
}

// TestGostCipherDecryptsBack checks the cipher's round structure against
// a straightforward decryption written from RFC 5830 (K1…K8, then K8…K1
// three times, last round without swap): encrypt then decrypt is the
// identity for many keys and blocks. The hash vectors check the rest.
func TestGostCipherDecryptsBack(t *testing.T) {
	key := make([]byte, 32)
	block := make([]byte, 8)
	for i := range 200 {
		for j := range key {
			key[j] = byte(i*31 + j*7)
		}
		for j := range block {
			block[j] = byte(i + j*13)
		}
		c, err := NewCipher(key, SBoxCryptoProHash)
		require.NoError(t, err)
		ct := make([]byte, 8)
		c.Encrypt(ct, block)
		pt := decryptRef(c, ct)
		require.Equal(t, block, pt, "decrypt(encrypt(%x)) = %x", block, pt)
	}
}

func decryptRef(c *Cipher, in []byte) []byte {
	n1 := uint32(in[0]) | uint32(in[1])<<8 | uint32(in[2])<<16 | uint32(in[3])<<24
	n2 := uint32(in[4]) | uint32(in[5])<<8 | uint32(in[6])<<16 | uint32(in[7])<<24
	order := []int{0, 1, 2, 3, 4, 5, 6, 7}
	for range 3 {
		order = append(order, 7, 6, 5, 4, 3, 2, 1, 0)
	}
	for i, k := range order {
		f := c.t.f(n1, c.k[k])
		if i == len(order)-1 {
			n2 ^= f
		} else {
			n1, n2 = n2^f, n1
		}
	}
	out := make([]byte, 8)
	for i := range 4 {
		out[i] = byte(n1 >> (8 * i))
		out[4+i] = byte(n2 >> (8 * i))
	}
	return out
}

// TestGostCipherMagmaVector checks the cipher on its own against the
// example of GOST R 34.12-2015 (RFC 8891 §A.3): Magma is GOST 28147-89
// with the id-tc26-gost-28147-param-Z S-box, written big-endian. Reversing
// each 32-bit subkey and the 8-byte blocks maps it to this package's
// little-endian convention.
func TestGostCipherMagmaVector(t *testing.T) {
	sboxZ := &SBox{
		{12, 4, 6, 2, 10, 5, 11, 9, 14, 8, 13, 7, 0, 3, 15, 1},
		{6, 8, 2, 3, 9, 10, 5, 12, 1, 14, 4, 7, 11, 13, 0, 15},
		{11, 3, 5, 8, 2, 15, 10, 13, 14, 1, 7, 4, 12, 9, 6, 0},
		{12, 8, 2, 1, 13, 4, 15, 6, 7, 0, 10, 5, 3, 14, 9, 11},
		{7, 15, 5, 10, 8, 1, 6, 13, 0, 9, 3, 14, 11, 4, 2, 12},
		{5, 13, 15, 6, 9, 2, 12, 10, 11, 7, 8, 1, 4, 3, 14, 0},
		{8, 14, 2, 5, 6, 9, 1, 12, 15, 4, 11, 0, 13, 10, 3, 7},
		{1, 7, 14, 13, 0, 5, 8, 3, 4, 15, 10, 6, 9, 12, 11, 2},
	}
	key, _ := hex.DecodeString("ffeeddccbbaa99887766554433221100f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
	pt, _ := hex.DecodeString("fedcba9876543210")
	want, _ := hex.DecodeString("4ee901e5c2d8ca3d")
	for i := 0; i < len(key); i += 4 {
		slices.Reverse(key[i : i+4])
	}
	slices.Reverse(pt)
	c, err := NewCipher(key, sboxZ)
	require.NoError(t, err)
	ct := make([]byte, 8)
	c.Encrypt(ct, pt)
	slices.Reverse(ct)
	require.Equal(t, want, ct, "Magma example: %x, want %x", ct, want)
	// In place.
	c.Encrypt(pt, pt)
	slices.Reverse(pt)
	require.Equal(t, want, pt, "in place: %x", pt)
}
