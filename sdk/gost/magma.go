package gost

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// MagmaBlockSize and MagmaKeySize are the GOST R 34.12-2015 "Magma" block
// and key sizes in bytes.
const (
	MagmaBlockSize = 8
	MagmaKeySize   = 32
)

// SBoxTC26Z is id-tc26-gost-28147-param-Z (OID 1.2.643.7.1.2.5.1.1), the
// fixed S-box of Magma (GOST R 34.12-2015 §5.1.1, RFC 8891 §4.1). It is
// also the S-box OpenSSL's GOST engine uses for GOST 28147-89 in
// PKCS#12 files.
var SBoxTC26Z = &SBox{
	{0xC, 0x4, 0x6, 0x2, 0xA, 0x5, 0xB, 0x9, 0xE, 0x8, 0xD, 0x7, 0x0, 0x3, 0xF, 0x1},
	{0x6, 0x8, 0x2, 0x3, 0x9, 0xA, 0x5, 0xC, 0x1, 0xE, 0x4, 0x7, 0xB, 0xD, 0x0, 0xF},
	{0xB, 0x3, 0x5, 0x8, 0x2, 0xF, 0xA, 0xD, 0xE, 0x1, 0x7, 0x4, 0xC, 0x9, 0x6, 0x0},
	{0xC, 0x8, 0x2, 0x1, 0xD, 0x4, 0xF, 0x6, 0x7, 0x0, 0xA, 0x5, 0x3, 0xE, 0x9, 0xB},
	{0x7, 0xF, 0x5, 0xA, 0x8, 0x1, 0x6, 0xD, 0x0, 0x9, 0x3, 0xE, 0xB, 0x4, 0x2, 0xC},
	{0x5, 0xD, 0xF, 0x6, 0x9, 0x2, 0xC, 0xA, 0xB, 0x7, 0x8, 0x1, 0x4, 0x3, 0xE, 0x0},
	{0x8, 0xE, 0x2, 0x5, 0x6, 0x9, 0x1, 0xC, 0xF, 0x4, 0xB, 0x0, 0xD, 0xA, 0x3, 0x7},
	{0x1, 0x7, 0xE, 0xD, 0x0, 0x5, 0x8, 0x3, 0x4, 0xF, 0xA, 0x6, 0x9, 0xC, 0xB, 0x2},
}

var tc26ZTable = mustExpand(SBoxTC26Z)

// Magma is the GOST R 34.12-2015 64-bit block cipher (RFC 8891), a
// crypto/cipher.Block: GOST 28147-89 with the S-box SBoxTC26Z and
// big-endian byte order (the first byte of a block or key is the most
// significant). It is safe for concurrent use; like Cipher it uses table
// lookups indexed by secret data.
type Magma struct {
	c Cipher
}

var _ cipher.Block = (*Magma)(nil)

// NewMagma returns Magma with the 32-byte key.
func NewMagma(key []byte) (*Magma, error) {
	if len(key) != MagmaKeySize {
		return nil, fmt.Errorf("gost: Magma key is %d bytes, want %d", len(key), MagmaKeySize)
	}
	m := &Magma{c: Cipher{t: tc26ZTable}}
	for i := range m.c.k {
		m.c.k[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	return m, nil
}

// BlockSize returns 8.
func (m *Magma) BlockSize() int { return MagmaBlockSize }

// Encrypt encrypts one block; dst and src may overlap exactly.
func (m *Magma) Encrypt(dst, src []byte) {
	if len(src) < MagmaBlockSize || len(dst) < MagmaBlockSize {
		panic("gost: Magma Encrypt with less than one block")
	}
	lo, hi := m.c.encrypt(binary.BigEndian.Uint32(src[4:]), binary.BigEndian.Uint32(src[0:]))
	binary.BigEndian.PutUint32(dst[0:], hi)
	binary.BigEndian.PutUint32(dst[4:], lo)
}

// Decrypt decrypts one block; dst and src may overlap exactly.
func (m *Magma) Decrypt(dst, src []byte) {
	if len(src) < MagmaBlockSize || len(dst) < MagmaBlockSize {
		panic("gost: Magma Decrypt with less than one block")
	}
	lo, hi := m.c.decrypt(binary.BigEndian.Uint32(src[4:]), binary.BigEndian.Uint32(src[0:]))
	binary.BigEndian.PutUint32(dst[0:], hi)
	binary.BigEndian.PutUint32(dst[4:], lo)
}
