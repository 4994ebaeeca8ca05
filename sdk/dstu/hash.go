package dstu

import (
	"fmt"
	"hash"

	"github.com/signet-agent/signet/sdk/gost"
)

// SBoxDKE is the S-box DSTU 4145-2002 and GOST 34.311-95 use by default
// (the "DKE" of Ukrainian certificates, [PackedDKE] packed): GOST 28147-89
// substitution rows K1…K8, row i replacing the i-th nibble counting from
// the least significant (the layout of [gost.SBox]).
var SBoxDKE = &gost.SBox{
	{0xA, 0x9, 0xD, 0x6, 0xE, 0xB, 0x4, 0x5, 0xF, 0x1, 0x3, 0xC, 0x7, 0x0, 0x8, 0x2},
	{0x8, 0x0, 0xC, 0x4, 0x9, 0x6, 0x7, 0xB, 0x2, 0x3, 0x1, 0xF, 0x5, 0xE, 0xA, 0xD},
	{0xF, 0x6, 0x5, 0x8, 0xE, 0xB, 0xA, 0x4, 0xC, 0x0, 0x3, 0x7, 0x2, 0x9, 0x1, 0xD},
	{0x3, 0x8, 0xD, 0x9, 0x6, 0xB, 0xF, 0x0, 0x2, 0x5, 0xC, 0xA, 0x4, 0xE, 0x1, 0x7},
	{0xF, 0x8, 0xE, 0x9, 0x7, 0x2, 0x0, 0xD, 0xC, 0x6, 0x1, 0x5, 0xB, 0x4, 0x3, 0xA},
	{0x2, 0x8, 0x9, 0x7, 0x5, 0xF, 0x0, 0xB, 0xC, 0x1, 0xD, 0xE, 0xA, 0x3, 0x6, 0x4},
	{0x3, 0x8, 0xB, 0x5, 0x6, 0x4, 0xE, 0xA, 0x2, 0xC, 0x1, 0x7, 0x9, 0xF, 0xD, 0x0},
	{0x1, 0x2, 0x3, 0xE, 0x6, 0xD, 0xB, 0x8, 0xF, 0xA, 0xC, 0x5, 0x7, 0x9, 0x0, 0x4},
}

// PackedDKE is SBoxDKE in the 64-byte form certificates and key
// containers carry (see [UnpackSBox]).
var PackedDKE = PackSBox(SBoxDKE)

// PackSBox writes s as Ukrainian ASN.1 structures carry an S-box: 64
// bytes, row K1 first, each byte two consecutive entries of a row (the
// first in the high nibble).
func PackSBox(s *gost.SBox) []byte {
	out := make([]byte, 64)
	for i := range 8 {
		for j := 0; j < 16; j += 2 {
			out[8*i+j/2] = s[i][j]<<4 | s[i][j+1]
		}
	}
	return out
}

// UnpackSBox reads the 64-byte form of PackSBox. Every row must be a
// permutation of 0…15.
func UnpackSBox(b []byte) (*gost.SBox, error) {
	if len(b) != 64 {
		return nil, fmt.Errorf("%w: S-box of %d bytes, want 64", ErrParameters, len(b))
	}
	var s gost.SBox
	for i := range 8 {
		var seen uint16
		for j := 0; j < 16; j += 2 {
			c := b[8*i+j/2]
			s[i][j], s[i][j+1] = c>>4, c&0xF
			seen |= 1<<(c>>4) | 1<<(c&0xF)
		}
		if seen != 0xFFFF {
			return nil, fmt.Errorf("%w: S-box row %d is not a permutation", ErrParameters, i+1)
		}
	}
	return &s, nil
}

// Size34311 is the GOST 34.311-95 digest size in bytes.
const Size34311 = gost.Size94

// New34311 returns GOST 34.311-95: the GOST R 34.11-94 algorithm with the
// DKE S-box and a zero starting vector (OID 1.2.804.2.1.1.1.1.2.1).
func New34311() hash.Hash {
	h, err := gost.New94(SBoxDKE)
	if err != nil {
		panic(err) // SBoxDKE is a valid constant
	}
	return h
}

// New34311WithSBox returns GOST 34.311-95 with another S-box, as a
// certificate's parameters may name one.
func New34311WithSBox(s *gost.SBox) (hash.Hash, error) { return gost.New94(s) }

// Sum34311 returns the GOST 34.311-95 digest of data.
func Sum34311(data []byte) [Size34311]byte {
	h := New34311()
	h.Write(data)
	var out [Size34311]byte
	h.Sum(out[:0])
	return out
}
