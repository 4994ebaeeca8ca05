package gost

import "encoding/binary"

// BlockSize returns CipherBlockSize, so that a Cipher is a
// crypto/cipher.Block.
func (c *Cipher) BlockSize() int { return CipherBlockSize }

// Decrypt decrypts the first 8-byte block of src into dst (which may
// overlap src exactly), the inverse of Encrypt: subkeys K1…K8 once, then
// K8…K1 three times. It panics if either is shorter than a block. Ukrainian
// IIT key containers are encrypted in this basic mode.
func (c *Cipher) Decrypt(dst, src []byte) {
	if len(src) < CipherBlockSize || len(dst) < CipherBlockSize {
		panic("gost: Decrypt with less than one block")
	}
	n1 := binary.LittleEndian.Uint32(src[0:])
	n2 := binary.LittleEndian.Uint32(src[4:])
	t, k := c.t, &c.k
	for j := 0; j < 8; j += 2 {
		n2 ^= t.f(n1, k[j])
		n1 ^= t.f(n2, k[j+1])
	}
	for range 3 {
		for j := 7; j > 0; j -= 2 {
			n2 ^= t.f(n1, k[j])
			n1 ^= t.f(n2, k[j-1])
		}
	}
	binary.LittleEndian.PutUint32(dst[0:], n2)
	binary.LittleEndian.PutUint32(dst[4:], n1)
}
