package gost

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Block and stream throughput; compare with `openssl speed -engine gost
// -evp kuznyechik-ctr-acpkm` (and magma-ctr-acpkm).
func BenchmarkKuznyechikCTRACPKM(b *testing.B) {
	s, err := NewKuznyechikCTRACPKM(make([]byte, 32), make([]byte, 8), KuznyechikCMSSection)
	require.NoError(b, err)
	buf := make([]byte, 8192)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		s.XORKeyStream(buf, buf)
	}
}

func BenchmarkMagmaCTRACPKM(b *testing.B) {
	s, err := NewMagmaCTRACPKM(make([]byte, 32), make([]byte, 4), MagmaCMSSection)
	require.NoError(b, err)
	buf := make([]byte, 8192)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		s.XORKeyStream(buf, buf)
	}
}

func BenchmarkKuznyechikDecrypt(b *testing.B) {
	c, err := NewKuznyechik(make([]byte, 32))
	require.NoError(b, err)
	buf := make([]byte, 16)
	b.SetBytes(16)
	for b.Loop() {
		c.Decrypt(buf, buf)
	}
}
