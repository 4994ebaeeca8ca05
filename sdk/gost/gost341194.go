package gost

import (
	"errors"
	"hash"
)

// Size94 and BlockSize94 are the GOST R 34.11-94 digest and block sizes
// in bytes.
const (
	Size94      = 32
	BlockSize94 = 32
)

// digest94 is GOST R 34.11-94 (RFC 5831) with a zero starting vector.
// The 256-bit quantities h (chaining value), sum (Σ of the message
// blocks mod 2^256) and the bit length are little-endian byte strings, as
// in the standard's examples and in BouncyCastle's GOST3411Digest; the
// digest is h as is.
type digest94 struct {
	t   *sboxTable
	h   [32]byte
	sum [32]byte
	n   uint64 // bytes written
	buf [BlockSize94]byte
	nb  int // bytes in buf
}

// New94 returns a GOST R 34.11-94 hash.Hash whose GOST 28147-89 steps use
// sbox (with a zero starting vector). Use New94CryptoPro for E-IMZO.
func New94(sbox *SBox) (hash.Hash, error) {
	if sbox == nil {
		return nil, errors.New("gost: no S-box")
	}
	t, err := sbox.expand()
	if err != nil {
		return nil, err
	}
	return &digest94{t: t}, nil
}

// cryptoProTable is SBoxCryptoProHash expanded once.
var cryptoProTable = mustExpand(SBoxCryptoProHash)

func mustExpand(s *SBox) *sboxTable {
	t, err := s.expand()
	if err != nil {
		panic(err)
	}
	return t
}

// New94CryptoPro returns GOST R 34.11-94 with the CryptoPro hash
// parameter set (SBoxCryptoProHash): O'zDSt 1106:2009 as E-IMZO uses it,
// OID 1.2.860.3.15.1.3.2.1.1 there and 1.2.643.2.2.9 in RFC 4357.
func New94CryptoPro() hash.Hash { return &digest94{t: cryptoProTable} }

// Sum94CryptoPro returns the New94CryptoPro digest of data.
func Sum94CryptoPro(data []byte) [Size94]byte {
	d := digest94{t: cryptoProTable}
	d.Write(data)
	var out [Size94]byte
	d.checkSum(out[:0])
	return out
}

func (d *digest94) Size() int      { return Size94 }
func (d *digest94) BlockSize() int { return BlockSize94 }

func (d *digest94) Reset() {
	d.h, d.sum, d.buf = [32]byte{}, [32]byte{}, [BlockSize94]byte{}
	d.n, d.nb = 0, 0
}

// Write never fails.
func (d *digest94) Write(p []byte) (int, error) {
	written := len(p)
	d.n += uint64(len(p))
	if d.nb > 0 {
		c := copy(d.buf[d.nb:], p)
		d.nb += c
		p = p[c:]
		if d.nb < BlockSize94 {
			return written, nil
		}
		d.block(&d.buf)
		d.nb = 0
	}
	for len(p) >= BlockSize94 {
		d.block((*[BlockSize94]byte)(p))
		p = p[BlockSize94:]
	}
	d.nb = copy(d.buf[:], p)
	return written, nil
}

// block absorbs one message block: Σ += m, h = f(h, m).
func (d *digest94) block(m *[BlockSize94]byte) {
	addLE(&d.sum, m)
	d.compress(m)
}

// Sum appends the digest to b without changing the hash's state.
func (d *digest94) Sum(b []byte) []byte {
	c := *d
	return c.checkSum(b)
}

// checkSum finishes d: the last partial block padded with zeros (none
// when the length is a multiple of 32, including the empty message),
// then h = f(h, L) with L the length in bits and h = f(h, Σ). The length
// is kept in 64 bits: messages of 2^61 bytes or more are out of scope.
func (d *digest94) checkSum(b []byte) []byte {
	bitLen := d.n * 8
	if d.nb > 0 {
		clear(d.buf[d.nb:])
		d.block(&d.buf)
		d.nb = 0
	}
	var l [32]byte
	for i := range 8 {
		l[i] = byte(bitLen >> (8 * i))
	}
	d.compress(&l)
	d.compress(&d.sum)
	return append(b, d.h[:]...)
}

// addLE sets a = a + m mod 2^256, both little-endian.
func addLE(a *[32]byte, m *[32]byte) {
	carry := 0
	for i := range a {
		s := int(a[i]) + int(m[i]) + carry
		a[i] = byte(s)
		carry = s >> 8
	}
}

// c3 is the constant C3 of the key generation (C2 and C4 are zero).
var c3 = [32]byte{
	0x00, 0xFF, 0x00, 0xFF, 0x00, 0xFF, 0x00, 0xFF,
	0xFF, 0x00, 0xFF, 0x00, 0xFF, 0x00, 0xFF, 0x00,
	0x00, 0xFF, 0xFF, 0x00, 0xFF, 0x00, 0x00, 0xFF,
	0xFF, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0xFF,
}

// compress is the step function h = f(h, m) of RFC 5831 §6: key
// generation, encryption of the four 64-bit parts of h, and the mixing
// transformation ψ^61(h ⊕ ψ(m ⊕ ψ^12(s))).
func (d *digest94) compress(m *[32]byte) {
	var u, v, w, key, s [32]byte
	u, v = d.h, *m
	var c Cipher
	c.t = d.t
	for i := range 4 {
		if i > 0 {
			u = a(u)
			if i == 2 {
				for j := range u {
					u[j] ^= c3[j]
				}
			}
			v = a(a(v))
		}
		for j := range w {
			w[j] = u[j] ^ v[j]
		}
		key = p(w)
		c.setKey(key[:])
		c.Encrypt(s[8*i:], d.h[8*i:])
	}
	// ψ^61(h ⊕ ψ(m ⊕ ψ^12(s)))
	var y [16]uint16
	toWords(&y, &s)
	psiN(&y, 12)
	xorWords(&y, m)
	psiN(&y, 1)
	xorWords(&y, &d.h)
	psiN(&y, 61)
	for i, v := range y {
		s[2*i], s[2*i+1] = byte(v), byte(v>>8)
	}
	d.h = s
}

// a is A(y4‖y3‖y2‖y1) = (y1⊕y2)‖y4‖y3‖y2 on 64-bit parts, y1 being the
// lowest (first) 8 bytes.
func a(y [32]byte) [32]byte {
	var out [32]byte
	copy(out[:24], y[8:])
	for i := range 8 {
		out[24+i] = y[i] ^ y[8+i]
	}
	return out
}

// p is the byte permutation P: output byte 4k+i is input byte 8i+k
// (i = 0…3, k = 0…7).
func p(y [32]byte) [32]byte {
	var out [32]byte
	for k := range 8 {
		for i := range 4 {
			out[4*k+i] = y[8*i+k]
		}
	}
	return out
}

// psiN applies the linear shift ψ n times (n ≤ 61) to the 16-bit parts
// η1…η16 (η1 lowest): one ψ moves the parts down by one, the new top part
// being η1⊕η2⊕η3⊕η4⊕η13⊕η16. So ψ^n is a window of the sequence
// w[k+16] = w[k]⊕w[k+1]⊕w[k+2]⊕w[k+3]⊕w[k+12]⊕w[k+15].
func psiN(y *[16]uint16, n int) {
	var w [16 + 61]uint16
	copy(w[:16], y[:])
	for k := range n {
		w[k+16] = w[k] ^ w[k+1] ^ w[k+2] ^ w[k+3] ^ w[k+12] ^ w[k+15]
	}
	copy(y[:], w[n:n+16])
}

// toWords reads b as sixteen little-endian 16-bit parts.
func toWords(y *[16]uint16, b *[32]byte) {
	for i := range y {
		y[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
}

// xorWords XORs the little-endian 16-bit parts of b into y.
func xorWords(y *[16]uint16, b *[32]byte) {
	for i := range y {
		y[i] ^= uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
}
