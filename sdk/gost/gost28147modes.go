package gost

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// decrypt runs the 32 decryption rounds: subkeys K1…K8 once, then K8…K1
// three times; the last round does not swap the halves.
func (c *Cipher) decrypt(n1, n2 uint32) (uint32, uint32) {
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
	return n2, n1
}

// Decrypt decrypts the first 8-byte block of src into dst (which may
// overlap src exactly), the inverse of Encrypt.
func (c *Cipher) Decrypt(dst, src []byte) {
	if len(src) < CipherBlockSize || len(dst) < CipherBlockSize {
		panic("gost: Decrypt with less than one block")
	}
	n1 := binary.LittleEndian.Uint32(src[0:])
	n2 := binary.LittleEndian.Uint32(src[4:])
	n1, n2 = c.decrypt(n1, n2)
	binary.LittleEndian.PutUint32(dst[0:], n1)
	binary.LittleEndian.PutUint32(dst[4:], n2)
}

// BlockSize returns 8, so a Cipher is a crypto/cipher.Block.
func (c *Cipher) BlockSize() int { return CipherBlockSize }

var _ cipher.Block = (*Cipher)(nil)

// SBoxCryptoProA is id-Gost28147-89-CryptoPro-A-ParamSet (RFC 4357
// §11.1, OID 1.2.643.2.2.31.1), the encryption S-box of CryptoPro's
// GOST 28147-89 (CFB with key meshing) in key containers and PKCS#12 files.
var SBoxCryptoProA = &SBox{
	{0x9, 0x6, 0x3, 0x2, 0x8, 0xB, 0x1, 0x7, 0xA, 0x4, 0xE, 0xF, 0xC, 0x0, 0xD, 0x5},
	{0x3, 0x7, 0xE, 0x9, 0x8, 0xA, 0xF, 0x0, 0x5, 0x2, 0x6, 0xC, 0xB, 0x4, 0xD, 0x1},
	{0xE, 0x4, 0x6, 0x2, 0xB, 0x3, 0xD, 0x8, 0xC, 0xF, 0x5, 0xA, 0x0, 0x7, 0x1, 0x9},
	{0xE, 0x7, 0xA, 0xC, 0xD, 0x1, 0x3, 0x9, 0x0, 0x2, 0xB, 0x4, 0xF, 0x8, 0x5, 0x6},
	{0xB, 0x5, 0x1, 0x9, 0x8, 0xD, 0xF, 0x0, 0xE, 0x4, 0x2, 0x3, 0xC, 0x7, 0xA, 0x6},
	{0x3, 0xA, 0xD, 0xC, 0x1, 0x2, 0x0, 0xB, 0x7, 0x5, 0x9, 0x4, 0x8, 0xF, 0xE, 0x6},
	{0x1, 0xD, 0x2, 0x9, 0x7, 0xA, 0x6, 0x0, 0x8, 0xC, 0x4, 0x5, 0xF, 0x3, 0xB, 0xE},
	{0xB, 0xA, 0xF, 0x5, 0x0, 0xC, 0xE, 0x8, 0x6, 0x2, 0x3, 0x9, 0x1, 0x7, 0xD, 0x4},
}

// cryptoProMeshingKey is C of CryptoPro key meshing (RFC 4357 §2.3).
var cryptoProMeshingKey = [32]byte{
	0x69, 0x00, 0x72, 0x22, 0x64, 0xC9, 0x04, 0x23,
	0x8D, 0x3A, 0xDB, 0x96, 0x46, 0xE9, 0x2A, 0xC4,
	0x18, 0xFE, 0xAC, 0x94, 0x00, 0xED, 0x07, 0x12,
	0xC0, 0x86, 0xDC, 0xC2, 0xEF, 0x4C, 0xA9, 0x2B,
}

// meshingSection is the data length after which CryptoPro key meshing
// changes the key (RFC 4357 §2.3.2).
const meshingSection = 1024

// cfbMeshing is GOST 28147-89 CFB mode (GOST 28147-89 §5, RFC 5830 §6)
// with CryptoPro key meshing (RFC 4357 §2.3.2): after every 1024 bytes
// the key becomes the ECB decryption of C under the old key and the
// feedback register is encrypted once under the new key. This is
// "gost89" of OpenSSL's GOST engine and id-Gost28147-89 in CMS and PBES2.
type cfbMeshing struct {
	c       Cipher
	reg     [8]byte // feedback register: IV, then the last ciphertext block
	gamma   [8]byte
	used    int // bytes of gamma consumed
	n       int // bytes processed since the last meshing
	decrypt bool
}

// NewCFBMeshing returns GOST 28147-89 CFB with CryptoPro key meshing, a
// cipher.Stream that encrypts (or, with decrypt, decrypts) under the
// 32-byte key, the S-box and the 8-byte IV.
func NewCFBMeshing(key []byte, sbox *SBox, iv []byte, decrypt bool) (cipher.Stream, error) {
	c, err := NewCipher(key, sbox)
	if err != nil {
		return nil, err
	}
	if len(iv) != CipherBlockSize {
		return nil, fmt.Errorf("gost: GOST 28147-89 CFB IV is %d bytes, want %d", len(iv), CipherBlockSize)
	}
	s := &cfbMeshing{c: *c, used: 8, decrypt: decrypt}
	copy(s.reg[:], iv)
	return s, nil
}

func (s *cfbMeshing) mesh() {
	var k [32]byte
	for i := 0; i < 32; i += 8 {
		s.c.Decrypt(k[i:], cryptoProMeshingKey[i:])
	}
	s.c.setKey(k[:])
	clear(k[:])
	s.c.Encrypt(s.reg[:], s.reg[:])
}

// XORKeyStream implements cipher.Stream.
func (s *cfbMeshing) XORKeyStream(dst, src []byte) {
	if len(dst) < len(src) {
		panic("gost: output smaller than input")
	}
	for i, b := range src {
		if s.used == 8 {
			if s.n == meshingSection {
				s.mesh()
				s.n = 0
			}
			s.c.Encrypt(s.gamma[:], s.reg[:])
			s.used = 0
			s.n += 8
		}
		out := b ^ s.gamma[s.used]
		if s.decrypt {
			s.reg[s.used] = b
		} else {
			s.reg[s.used] = out
		}
		dst[i] = out
		s.used++
	}
}
