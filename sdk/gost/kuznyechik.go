package gost

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// KuznyechikBlockSize and KuznyechikKeySize are the GOST R 34.12-2015
// "Kuznyechik" block and key sizes in bytes.
const (
	KuznyechikBlockSize = 16
	KuznyechikKeySize   = 32
)

// kuzPi is the substitution π of GOST R 34.12-2015 §4.1.1 (RFC 7801
// §2.2): the same table as Streebog's (sbox, streebog.go).
var kuzPi = &sbox

// kuzL are the coefficients of the linear map ℓ (RFC 7801 §2.3), for the
// bytes of a block in memory order (byte 0 is a15 of the standard).
var kuzL = [16]byte{148, 32, 133, 16, 194, 192, 1, 251, 1, 192, 194, 16, 133, 32, 148, 1}

// kuzTables holds what the cipher derives from π and ℓ once: the inverse
// substitution, and for each byte position the 256 images of the
// substitution followed by L (encryption) and of L⁻¹ alone (decryption),
// so a round is 16 table lookups XORed together.
type kuzTables struct {
	piInv [256]byte
	ls    [16][256][2]uint64 // ls[i][b] = L(π(b) at position i)
	lInv  [16][256][2]uint64 // lInv[i][b] = L⁻¹(b at position i)
	c     [32][16]byte       // key schedule constants C_1…C_32
}

// A block is handled as two little-endian 64-bit words: bytes 0–7 and
// 8–15. Byte order does not matter to XOR; the tables use the same one.
func kuzLoad(b []byte) [2]uint64 {
	return [2]uint64{binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])}
}

func kuzStore(dst []byte, x [2]uint64) {
	binary.LittleEndian.PutUint64(dst[0:], x[0])
	binary.LittleEndian.PutUint64(dst[8:], x[1])
}

var kuz = newKuzTables()

// gfMul multiplies in GF(2^8) modulo x^8+x^7+x^6+x+1.
func gfMul(a, b byte) byte {
	var p byte
	for b != 0 {
		if b&1 != 0 {
			p ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0xC3
		}
		b >>= 1
	}
	return p
}

// kuzR is one step of R: the block shifts one byte right and ℓ of the old
// block enters at byte 0.
func kuzR(a *[16]byte) {
	var x byte
	for i, v := range a {
		x ^= gfMul(v, kuzL[i])
	}
	copy(a[1:], a[:15])
	a[0] = x
}

// kuzRInv undoes kuzR.
func kuzRInv(a *[16]byte) {
	x := a[0]
	copy(a[:15], a[1:])
	a[15] = 0
	for i := range 15 {
		x ^= gfMul(a[i], kuzL[i])
	}
	a[15] = x // kuzL[15] is 1
}

func kuzLinear(a *[16]byte) {
	for range 16 {
		kuzR(a)
	}
}

func kuzLinearInv(a *[16]byte) {
	for range 16 {
		kuzRInv(a)
	}
}

func newKuzTables() *kuzTables {
	t := &kuzTables{}
	for i, v := range kuzPi {
		t.piInv[v] = byte(i)
	}
	for i := range 16 {
		for b := range 256 {
			var a [16]byte
			a[i] = kuzPi[b]
			kuzLinear(&a)
			t.ls[i][b] = kuzLoad(a[:])
			a = [16]byte{}
			a[i] = byte(b)
			kuzLinearInv(&a)
			t.lInv[i][b] = kuzLoad(a[:])
		}
	}
	for i := range t.c {
		var a [16]byte
		a[15] = byte(i + 1)
		kuzLinear(&a)
		t.c[i] = a
	}
	return t
}

// lsx returns L(S(x)) for x already XORed with the round key.
func (t *kuzTables) lsx(x [2]uint64) [2]uint64 {
	return kuzApply(&t.ls, x)
}

// kuzApply sums the table rows the 16 bytes of x select.
func kuzApply(tab *[16][256][2]uint64, x [2]uint64) [2]uint64 {
	var y0, y1 uint64
	for i := range 8 {
		e := &tab[i][byte(x[0]>>(8*i))]
		y0 ^= e[0]
		y1 ^= e[1]
	}
	for i := range 8 {
		e := &tab[8+i][byte(x[1]>>(8*i))]
		y0 ^= e[0]
		y1 ^= e[1]
	}
	return [2]uint64{y0, y1}
}

// Kuznyechik is the GOST R 34.12-2015 128-bit block cipher (RFC 7801), a
// crypto/cipher.Block. Bytes are in the order of the RFC's examples: the
// first byte of a block or key is the most significant of the standard's
// numbers. It is safe for concurrent use. Like crypto/aes without
// hardware support, it uses table lookups indexed by secret bytes.
type Kuznyechik struct {
	k [10][2]uint64
}

var _ cipher.Block = (*Kuznyechik)(nil)

// NewKuznyechik returns Kuznyechik with the 32-byte key.
func NewKuznyechik(key []byte) (*Kuznyechik, error) {
	if len(key) != KuznyechikKeySize {
		return nil, fmt.Errorf("gost: Kuznyechik key is %d bytes, want %d", len(key), KuznyechikKeySize)
	}
	c := &Kuznyechik{}
	k1, k2 := kuzLoad(key[:16]), kuzLoad(key[16:])
	c.k[0], c.k[1] = k1, k2
	for i := range 4 {
		for j := range 8 {
			// F[C](k1, k2) = (LSX[C](k1) ⊕ k2, k1)
			cc := kuzLoad(kuz.c[8*i+j][:])
			t := kuz.lsx([2]uint64{k1[0] ^ cc[0], k1[1] ^ cc[1]})
			t[0] ^= k2[0]
			t[1] ^= k2[1]
			k1, k2 = t, k1
		}
		c.k[2*i+2], c.k[2*i+3] = k1, k2
	}
	return c, nil
}

// BlockSize returns 16.
func (c *Kuznyechik) BlockSize() int { return KuznyechikBlockSize }

// Encrypt encrypts one block; dst and src may overlap exactly.
func (c *Kuznyechik) Encrypt(dst, src []byte) {
	if len(src) < KuznyechikBlockSize || len(dst) < KuznyechikBlockSize {
		panic("gost: Kuznyechik Encrypt with less than one block")
	}
	x := kuzLoad(src)
	for i := range 9 {
		x = kuz.lsx([2]uint64{x[0] ^ c.k[i][0], x[1] ^ c.k[i][1]})
	}
	kuzStore(dst, [2]uint64{x[0] ^ c.k[9][0], x[1] ^ c.k[9][1]})
}

// Decrypt decrypts one block; dst and src may overlap exactly.
func (c *Kuznyechik) Decrypt(dst, src []byte) {
	if len(src) < KuznyechikBlockSize || len(dst) < KuznyechikBlockSize {
		panic("gost: Kuznyechik Decrypt with less than one block")
	}
	x := kuzLoad(src)
	x[0] ^= c.k[9][0]
	x[1] ^= c.k[9][1]
	for i := 8; i >= 0; i-- {
		x = kuzApply(&kuz.lInv, x)
		var b [16]byte
		kuzStore(b[:], x)
		for j := range b {
			b[j] = kuz.piInv[b[j]]
		}
		x = kuzLoad(b[:])
		x[0] ^= c.k[i][0]
		x[1] ^= c.k[i][1]
	}
	kuzStore(dst, x)
}
