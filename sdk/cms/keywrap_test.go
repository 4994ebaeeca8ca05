package cms

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"crypto/sha1"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDES3KeyWrapRoundTrip(t *testing.T) {
	kek := make([]byte, 24)
	cek := make([]byte, 24)
	iv := make([]byte, 8)
	for _, b := range [][]byte{kek, cek, iv} {
		_, err := rand.Read(b)
		require.NoError(t, err)
	}
	wrapped, err := des3KeyWrap(kek, cek, iv)
	require.NoError(t, err)
	got, err := des3KeyUnwrap(kek, wrapped)
	require.NoError(t, err, "unwrap: %x", got)
	require.Equal(t, cek, got, "unwrap: %x", got)
	for i := range wrapped {
		bad := append([]byte{}, wrapped...)
		bad[i] ^= 0x80
		_, err := des3KeyUnwrap(kek, bad)
		require.ErrorIs(t, err, errKeyUnwrap, "byte %d tampered", i)
	}
	_, err = des3KeyUnwrap(kek, wrapped[:32])
	require.Error(t, err, "short input accepted")
}

// des3KeyWrap is the inverse of des3KeyUnwrap, for tests.
func des3KeyWrap(kek, cek, iv []byte) ([]byte, error) {
	if len(cek) != 24 || len(iv) != 8 {
		return nil, fmt.Errorf("cms: 3DES key wrap: key %d bytes, IV %d bytes", len(cek), len(iv))
	}
	block, err := des.NewTripleDESCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("cms: 3DES key wrap: %w", err)
	}
	sum := sha1.Sum(cek)
	cekICV := append(append([]byte{}, cek...), sum[:8]...)
	temp1 := make([]byte, 32)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(temp1, cekICV)
	temp2 := append(append([]byte{}, iv...), temp1...)
	temp3 := make([]byte, 40)
	for i := range temp2 {
		temp3[i] = temp2[39-i]
	}
	out := make([]byte, 40)
	cipher.NewCBCEncrypter(block, des3WrapIV).CryptBlocks(out, temp3)
	return out, nil
}
