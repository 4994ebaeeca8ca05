package gost

import (
	"crypto/cipher"
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCipherDecryptInvertsEncrypt(t *testing.T) {
	key := make([]byte, CipherKeySize)
	_, _ = rand.Read(key)
	c, err := NewCipher(key, SBoxCryptoProHash)
	require.NoError(t, err)
	var _ cipher.Block = c
	for range 100 {
		var plain, ct, back [8]byte
		_, _ = rand.Read(plain[:])
		c.Encrypt(ct[:], plain[:])
		assert.NotEqual(t, plain, ct)
		c.Decrypt(back[:], ct[:])
		assert.Equal(t, plain, back)
	}
}
