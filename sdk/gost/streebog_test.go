package gost

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"hash"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rfc6986M2 is the second example message of RFC 6986 §10.2 (a line of
// "The Tale of Igor's Campaign" in Windows-1251), as a byte string.
const rfc6986M2 = "d1e520e2e5f2f0e82c20d1f2f0e8e1eee6e820e2edf3f6e82c20e2e5fef2fa20f120eceef0ff20f1f2f0e5ebe0ece820ede020f5f0e0e1f0fbff20efebfaeafb20c8e3eef0e5e2fb"

// TestStreebogVectors checks the examples of RFC 6986 §10 (with their
// numbers byte-reversed, as they apply to byte strings) and the digests of
// the empty message.
func TestStreebogVectors(t *testing.T) {
	m2, err := hex.DecodeString(rfc6986M2)
	require.NoError(t, err)
	m1 := []byte("012345678901234567890123456789012345678901234567890123456789012")
	for _, tc := range []struct {
		name       string
		msg        []byte
		h512, h256 string
	}{
		{"M1", m1,
			"1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48",
			"9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500"},
		{"M2", m2,
			"1e88e62226bfca6f9994f1f2d51569e0daf8475a3b0fe61a5300eee46d961376035fe83549ada2b8620fcd7c496ce5b33f0cb9dddc2b6460143b03dabac9fb28",
			"9dd2fe4e90409e5da87f53976d7405b0c0cac628fc669a741d50063c557e8f50"},
		{"empty", nil,
			"8e945da209aa869f0455928529bcae4679e9873ab707b55315f56ceb98bef0a7362f715528356ee83cda5f2aac4c6ad2ba3a715c1bcd81cb8e9f90bf4c1c1a8a",
			"3f539a213e97c802cc229d474c6aa32a825a360b2a933a949fd925208d9ce1bb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s512 := SumStreebog512(tc.msg)
			s256 := SumStreebog256(tc.msg)
			assert.Equal(t, tc.h512, hex.EncodeToString(s512[:]))
			assert.Equal(t, tc.h256, hex.EncodeToString(s256[:]))
		})
	}
}

// TestStreebogStreaming: any split of the input into writes, and Sum in
// the middle of a stream, give the one-shot digest.
func TestStreebogStreaming(t *testing.T) {
	msg := make([]byte, 1000)
	rand.Read(msg)
	for _, newH := range []func() hash.Hash{NewStreebog256, NewStreebog512} {
		one := newH()
		one.Write(msg)
		want := one.Sum(nil)
		require.Len(t, want, one.Size())
		assert.Equal(t, StreebogBlockSize, one.BlockSize())
		for _, step := range []int{1, 7, 63, 64, 65, 200} {
			h := newH()
			for i := 0; i < len(msg); i += step {
				h.Write(msg[i:min(i+step, len(msg))])
				if i == 3*step {
					h.Sum(nil) // must not disturb the state
				}
			}
			assert.Equal(t, want, h.Sum([]byte{}), "step %d", step)
		}
		one.Reset()
		one.Write(msg)
		assert.True(t, bytes.Equal(want, one.Sum(nil)), "after Reset")
	}
}

// TestStreebogOpenSSL compares both digests with the OpenSSL GOST
// engine's md_gost12_256/512 on lengths around the block size and a long
// message.
func TestStreebogOpenSSL(t *testing.T) {
	gostEngine(t)
	for _, n := range []int{0, 1, 63, 64, 65, 127, 128, 129, 1000, 70001} {
		msg := make([]byte, n)
		rand.Read(msg)
		for _, v := range []struct {
			md  string
			sum func([]byte) []byte
		}{
			{"-md_gost12_256", func(b []byte) []byte { s := SumStreebog256(b); return s[:] }},
			{"-md_gost12_512", func(b []byte) []byte { s := SumStreebog512(b); return s[:] }},
		} {
			out := openssl(t, msg, "dgst", "-engine", "gost", v.md, "-r")
			want := strings.Fields(string(out))[0]
			assert.Equal(t, want, hex.EncodeToString(v.sum(msg)), "%s, %d bytes", v.md, n)
		}
	}
}
