package cms

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkEnvelopeDecrypt measures Decrypt against bare AES-256-CBC
// decryption of the same content, measured in the same run, and reports the
// ratio (x_bare_cbc). For large content the envelope should cost little
// more than the cipher; for small content the recipient's private-key
// operation (RSA decryption or ECDH) dominates.
func BenchmarkEnvelopeDecrypt(b *testing.B) {
	rs := envFixture(b)
	for _, tc := range []struct {
		name string
		r    string
		size int
	}{
		{"p256/1KiB", "p256", 1 << 10},
		{"p256/1MiB", "p256", 1 << 20},
		{"rsa2048/1MiB", "rsa2048", 1 << 20},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := rs[tc.r]
			content := envContent(tc.size)
			der, err := Encrypt(content, []*x509.Certificate{r.cert}, EncryptOptions{})
			require.NoError(b, err)
			key := make([]byte, 32)
			iv := make([]byte, 16)
			ct, err := envCBCEncrypt(key, iv, content)
			require.NoError(b, err)
			out := make([]byte, len(ct))
			b.SetBytes(int64(tc.size))
			b.ResetTimer()
			for range b.N {
				_, err := Decrypt(der, r.cert, r.key)
				require.NoError(b, err)
			}
			b.StopTimer()
			envelope := b.Elapsed()
			// The baseline, same iteration count, outside the timer.
			start := time.Now()
			for range b.N {
				block, _ := aes.NewCipher(key)
				cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, ct)
				_, ok := envPKCS7Unpad(out, 16)
				require.True(b, ok, "padding")
			}
			bare := time.Since(start)
			if bare > 0 {
				b.ReportMetric(float64(envelope)/float64(bare), "x_bare_cbc")
			}
		})
	}
}
