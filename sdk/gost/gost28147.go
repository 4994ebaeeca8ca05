package gost

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// SBox is a GOST 28147-89 substitution box: row i replaces the i-th
// 4-bit nibble of the 32-bit round input, counting from the least
// significant nibble (the layout of RFC 4357 §11 and of BouncyCastle's
// GOST28147Engine tables).
type SBox [8][16]byte

// SBoxCryptoProHash is id-GostR3411-94-CryptoProParamSet (RFC 4357
// §11.2, OID 1.2.643.2.2.30.1; BouncyCastle's "D-A"), the S-box of the
// GOST R 34.11-94 hash that E-IMZO calls O'zDSt 1106:2009.
var SBoxCryptoProHash = &SBox{
	{0xA, 0x4, 0x5, 0x6, 0x8, 0x1, 0x3, 0x7, 0xD, 0xC, 0xE, 0x0, 0x9, 0x2, 0xB, 0xF},
	{0x5, 0xF, 0x4, 0x0, 0x2, 0xD, 0xB, 0x9, 0x1, 0x7, 0x6, 0x3, 0xC, 0xE, 0xA, 0x8},
	{0x7, 0xF, 0xC, 0xE, 0x9, 0x4, 0x1, 0x0, 0x3, 0xB, 0x5, 0x2, 0x6, 0xA, 0x8, 0xD},
	{0x4, 0xA, 0x7, 0xC, 0x0, 0xF, 0x2, 0x8, 0xE, 0x1, 0x6, 0x5, 0xD, 0xB, 0x9, 0x3},
	{0x7, 0x6, 0x4, 0xB, 0x9, 0xC, 0x2, 0xA, 0x1, 0x8, 0x0, 0xE, 0xF, 0xD, 0x3, 0x5},
	{0x7, 0x6, 0x2, 0x4, 0xD, 0x9, 0xF, 0x0, 0xA, 0x1, 0x5, 0xB, 0x8, 0xE, 0xC, 0x3},
	{0xD, 0xE, 0x4, 0x1, 0x7, 0x0, 0x5, 0xA, 0x3, 0xC, 0x8, 0xF, 0x6, 0x2, 0x9, 0xB},
	{0x1, 0x3, 0xA, 0x9, 0x5, 0xB, 0x4, 0xF, 0x8, 0x6, 0x7, 0xE, 0xD, 0x0, 0x2, 0xC},
}

// SBoxTestHash is id-GostR3411-94-TestParamSet (RFC 4357 §11.2, OID
// 1.2.643.2.2.30.0), the S-box of the GOST R 34.11-94 standard's own
// examples (RFC 5831 §10). It exists so the hash can be checked against
// those published vectors too; E-IMZO does not use it.
var SBoxTestHash = &SBox{
	{4, 10, 9, 2, 13, 8, 0, 14, 6, 11, 1, 12, 7, 15, 5, 3},
	{14, 11, 4, 12, 6, 13, 15, 10, 2, 3, 8, 1, 0, 7, 5, 9},
	{5, 8, 1, 13, 10, 3, 4, 2, 14, 15, 12, 7, 6, 0, 9, 11},
	{7, 13, 10, 1, 0, 8, 9, 15, 14, 4, 6, 12, 11, 2, 5, 3},
	{6, 12, 7, 1, 5, 15, 13, 8, 4, 10, 9, 14, 0, 3, 11, 2},
	{4, 11, 10, 0, 7, 2, 1, 13, 3, 6, 8, 5, 9, 12, 15, 14},
	{13, 11, 4, 1, 3, 15, 5, 9, 0, 10, 14, 7, 6, 8, 2, 12},
	{1, 15, 13, 0, 5, 7, 10, 4, 9, 2, 3, 14, 6, 11, 8, 12},
}

// CipherKeySize and CipherBlockSize are the GOST 28147-89 key and block
// sizes in bytes.
const (
	CipherKeySize   = 32
	CipherBlockSize = 8
)

// sboxTable is an S-box expanded for the round function: t[i][b] is the
// substitution of byte i (two nibbles) of the round input, placed at its
// position and already rotated left by 11 bits, so a round's
// substitute-and-rotate is four lookups XORed together.
type sboxTable [4][256]uint32

// expand builds the round table of s. Every nibble must be < 16.
func (s *SBox) expand() (*sboxTable, error) {
	var t sboxTable
	for i := range 4 {
		lo, hi := &s[2*i], &s[2*i+1]
		for b := range 256 {
			l, h := lo[b&0xF], hi[b>>4]
			if l > 0xF || h > 0xF {
				return nil, fmt.Errorf("gost: S-box row %d or %d has an entry above 15", 2*i, 2*i+1)
			}
			v := (uint32(h)<<4 | uint32(l)) << (8 * i)
			t[i][b] = bits.RotateLeft32(v, 11)
		}
	}
	return &t, nil
}

// Cipher is GOST 28147-89 in its basic (ECB) mode, encryption only: the
// GOST R 34.11-94 hash needs nothing else. A Cipher is safe for
// concurrent use.
type Cipher struct {
	k [8]uint32
	t *sboxTable
}

// NewCipher returns the GOST 28147-89 cipher with the 32-byte key (eight
// little-endian 32-bit subkeys K1…K8, the byte order of RFC 5830 as used
// by GOST R 34.11-94) and the S-box sbox.
func NewCipher(key []byte, sbox *SBox) (*Cipher, error) {
	if len(key) != CipherKeySize {
		return nil, fmt.Errorf("gost: cipher key is %d bytes, want %d", len(key), CipherKeySize)
	}
	if sbox == nil {
		return nil, fmt.Errorf("gost: no S-box")
	}
	t, err := sbox.expand()
	if err != nil {
		return nil, err
	}
	c := &Cipher{t: t}
	c.setKey(key)
	return c, nil
}

// setKey loads the subkeys from a 32-byte key.
func (c *Cipher) setKey(key []byte) {
	for i := range c.k {
		c.k[i] = binary.LittleEndian.Uint32(key[4*i:])
	}
}

// f is the round function: add the subkey mod 2^32, substitute, rotate
// left by 11.
func (t *sboxTable) f(x, k uint32) uint32 {
	x += k
	return t[0][x&0xFF] ^ t[1][x>>8&0xFF] ^ t[2][x>>16&0xFF] ^ t[3][x>>24]
}

// Encrypt encrypts the first 8-byte block of src into dst (which may
// overlap src exactly). The block is two little-endian 32-bit halves
// N1 (bytes 0–3) and N2 (bytes 4–7). It panics if either is shorter than
// a block, like crypto/cipher.Block.
func (c *Cipher) Encrypt(dst, src []byte) {
	if len(src) < CipherBlockSize || len(dst) < CipherBlockSize {
		panic("gost: Encrypt with less than one block")
	}
	n1 := binary.LittleEndian.Uint32(src[0:])
	n2 := binary.LittleEndian.Uint32(src[4:])
	n1, n2 = c.encrypt(n1, n2)
	binary.LittleEndian.PutUint32(dst[0:], n1)
	binary.LittleEndian.PutUint32(dst[4:], n2)
}

// encrypt runs the 32 rounds: subkeys K1…K8 three times, then K8…K1; the
// last round does not swap the halves.
func (c *Cipher) encrypt(n1, n2 uint32) (uint32, uint32) {
	t, k := c.t, &c.k
	for range 3 {
		for j := 0; j < 8; j += 2 {
			n2 ^= t.f(n1, k[j])
			n1 ^= t.f(n2, k[j+1])
		}
	}
	for j := 7; j > 0; j -= 2 {
		n2 ^= t.f(n1, k[j])
		n1 ^= t.f(n2, k[j-1])
	}
	return n2, n1
}
