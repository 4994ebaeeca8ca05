package gost

import (
	"crypto/cipher"
	"crypto/subtle"
	"fmt"
	"hash"
)

// acpkmD is D of ACPKM re-keying (R 1323565.1.017-2018 §4.1, RFC 8645
// §6.2.1): the bytes 0x80…0x9F.
var acpkmD = func() (d [32]byte) {
	for i := range d {
		d[i] = 0x80 + byte(i)
	}
	return d
}()

// Section sizes of CTR-ACPKM in CMS and PBES2 (R 1323565.1.024-2019,
// RFC 9337): the key changes after every 256 KiB with Kuznyechik and every
// 8 KiB with Magma.
const (
	KuznyechikCMSSection = 256 << 10
	MagmaCMSSection      = 8 << 10
)

// ctrACPKM is CTR mode of GOST R 34.13-2015 §4.4 with ACPKM re-keying:
// the counter block starts as IV‖0…0 and is incremented as one big-endian
// number; after every section of N bytes the key becomes
// E_K(D_1)‖…‖E_K(D_J), the ECB encryption of D under the current key.
type ctrACPKM struct {
	newBlock func([]byte) (cipher.Block, error)
	b        cipher.Block
	section  int
	ctr      []byte
	gamma    []byte
	used     int // bytes of gamma consumed
	n        int // bytes of key stream made under the current key
}

func newCTRACPKM(newBlock func([]byte) (cipher.Block, error), key, iv []byte, section int) (cipher.Stream, error) {
	b, err := newBlock(key)
	if err != nil {
		return nil, err
	}
	bs := b.BlockSize()
	if len(iv) != bs/2 {
		return nil, fmt.Errorf("gost: CTR-ACPKM IV is %d bytes, want %d", len(iv), bs/2)
	}
	if section < 0 || section%bs != 0 {
		return nil, fmt.Errorf("gost: CTR-ACPKM section %d is not a multiple of the block size %d", section, bs)
	}
	s := &ctrACPKM{newBlock: newBlock, b: b, section: section, ctr: make([]byte, bs), gamma: make([]byte, bs), used: bs}
	copy(s.ctr, iv)
	return s, nil
}

// NewKuznyechikCTRACPKM returns Kuznyechik in CTR-ACPKM mode with the
// 32-byte key, an 8-byte IV and a section of section bytes (a multiple of
// 16; 0 means plain CTR). XORKeyStream encrypts and decrypts.
func NewKuznyechikCTRACPKM(key, iv []byte, section int) (cipher.Stream, error) {
	return newCTRACPKM(func(k []byte) (cipher.Block, error) { return NewKuznyechik(k) }, key, iv, section)
}

// NewMagmaCTRACPKM is NewKuznyechikCTRACPKM for Magma: a 4-byte IV and a
// section that is a multiple of 8.
func NewMagmaCTRACPKM(key, iv []byte, section int) (cipher.Stream, error) {
	return newCTRACPKM(func(k []byte) (cipher.Block, error) { return NewMagma(k) }, key, iv, section)
}

func (s *ctrACPKM) rekey() {
	var k [32]byte
	bs := s.b.BlockSize()
	for i := 0; i < len(k); i += bs {
		s.b.Encrypt(k[i:], acpkmD[i:])
	}
	b, err := s.newBlock(k[:])
	clear(k[:])
	if err != nil {
		panic("gost: ACPKM: " + err.Error()) // a 32-byte key is always valid
	}
	s.b = b
}

// XORKeyStream implements cipher.Stream.
func (s *ctrACPKM) XORKeyStream(dst, src []byte) {
	if len(dst) < len(src) {
		panic("gost: output smaller than input")
	}
	bs := len(s.ctr)
	for i, v := range src {
		if s.used == bs {
			if s.section > 0 && s.n == s.section {
				s.rekey()
				s.n = 0
			}
			s.b.Encrypt(s.gamma, s.ctr)
			for j := bs - 1; j >= 0; j-- {
				s.ctr[j]++
				if s.ctr[j] != 0 {
					break
				}
			}
			s.used = 0
			s.n += bs
		}
		dst[i] = v ^ s.gamma[s.used]
		s.used++
	}
}

// cmac is the MAC of GOST R 34.13-2015 §4.6 (OMAC1/CMAC) over any block
// cipher; Sum returns a whole block, callers truncate.
type cmac struct {
	b      cipher.Block
	k1, k2 []byte
	x      []byte // chaining value
	buf    []byte // the last, possibly full, block not yet processed
	nb     int
}

// NewCMAC returns the GOST R 34.13-2015 MAC (the CMAC construction with
// R_64 = 0x1B and R_128 = 0x87) over b, for 8- and 16-byte blocks. Sum
// appends the whole last block; GOST and CMS use its first s bytes (for
// example 8 for Kuznyechik, 4 for Magma in GOST R 34.13's examples).
func NewCMAC(b cipher.Block) (hash.Hash, error) {
	bs := b.BlockSize()
	var r byte
	switch bs {
	case 8:
		r = 0x1B
	case 16:
		r = 0x87
	default:
		return nil, fmt.Errorf("gost: MAC over a %d-byte block cipher", bs)
	}
	m := &cmac{b: b, k1: make([]byte, bs), k2: make([]byte, bs), x: make([]byte, bs), buf: make([]byte, bs)}
	l := make([]byte, bs)
	b.Encrypt(l, l)
	shift1(m.k1, l, r)
	shift1(m.k2, m.k1, r)
	return m, nil
}

// shift1 sets dst to src·x in GF(2^n): a left shift, XORed with r when
// the top bit falls off.
func shift1(dst, src []byte, r byte) {
	carry := src[0] >> 7
	for i := 0; i < len(src)-1; i++ {
		dst[i] = src[i]<<1 | src[i+1]>>7
	}
	dst[len(src)-1] = src[len(src)-1] << 1
	dst[len(src)-1] ^= byte(subtle.ConstantTimeByteEq(carry, 1)) * r
}

func (m *cmac) Write(p []byte) (int, error) {
	n := len(p)
	bs := len(m.x)
	for len(p) > 0 {
		if m.nb == bs { // a full block is followed by more data: process it
			subtle.XORBytes(m.x, m.x, m.buf)
			m.b.Encrypt(m.x, m.x)
			m.nb = 0
		}
		c := copy(m.buf[m.nb:], p)
		m.nb += c
		p = p[c:]
	}
	return n, nil
}

func (m *cmac) Sum(in []byte) []byte {
	bs := len(m.x)
	last := make([]byte, bs)
	copy(last, m.buf[:m.nb])
	k := m.k1
	if m.nb < bs {
		last[m.nb] = 0x80
		k = m.k2
	}
	subtle.XORBytes(last, last, k)
	subtle.XORBytes(last, last, m.x)
	m.b.Encrypt(last, last)
	return append(in, last...)
}

func (m *cmac) Reset() {
	clear(m.x)
	clear(m.buf)
	m.nb = 0
}

func (m *cmac) Size() int      { return len(m.x) }
func (m *cmac) BlockSize() int { return len(m.x) }
