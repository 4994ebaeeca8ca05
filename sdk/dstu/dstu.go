package dstu

import (
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/signet-agent/signet/sdk/gost"
)

// Errors callers act on; every rejection wraps one of them.
var (
	ErrParameters = errors.New("dstu: bad curve parameters")
	ErrPublicKey  = errors.New("dstu: bad public key")
	ErrPrivateKey = errors.New("dstu: bad private key")
	ErrSignature  = errors.New("dstu: signature does not verify")
)

// PublicKey is a DSTU 4145 public key Q = −d·P.
type PublicKey struct {
	Curve *Curve
	// SBox is the hash S-box the key's parameters name; nil means SBoxDKE.
	SBox *gost.SBox
	q    point
}

// PrivateKey is a DSTU 4145 private key d, 0 < d < N. It implements
// crypto.Signer: Sign takes a GOST 34.311-95 digest (any opts) and returns
// the little-endian r‖s encoding of [PrivateKey.SignDigest].
type PrivateKey struct {
	PublicKey
	D *big.Int
}

// Public returns the public key.
func (k *PrivateKey) Public() crypto.PublicKey { return &k.PublicKey }

// Equal reports whether x is the same public key on the same curve.
func (k *PublicKey) Equal(x crypto.PublicKey) bool {
	o, ok := x.(*PublicKey)
	return ok && o != nil && k.Curve.same(o.Curve) && equal(&k.q.x, &o.q.x) && equal(&k.q.y, &o.q.y)
}

// same reports whether two curves have the same parameters.
func (c *Curve) same(o *Curve) bool {
	if c == o {
		return true
	}
	if c.M != o.M || c.A != o.A || len(c.Poly) != len(o.Poly) || c.N.Cmp(o.N) != 0 ||
		!equal(&c.b, &o.b) || !equal(&c.gx, &o.gx) || !equal(&c.gy, &o.gy) {
		return false
	}
	for i := range c.Poly {
		if c.Poly[i] != o.Poly[i] {
			return false
		}
	}
	return true
}

// GenerateKey makes a key on c with randomness from rand (nil:
// crypto/rand).
func GenerateKey(c *Curve, rnd io.Reader) (*PrivateKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	d, err := randScalar(c, rnd)
	if err != nil {
		return nil, err
	}
	return NewPrivateKey(c, new(big.Int).SetBytes(d))
}

// randScalar returns a uniform integer in [1, N-1], big-endian in
// ceil(bitlen(N)/8) bytes. The range check is made on fixed-width limbs
// (the rejected values are independent of the one returned).
func randScalar(c *Curve, rnd io.Reader) ([]byte, error) {
	buf := make([]byte, (c.nBits+7)/8)
	excess := uint(8*len(buf) - c.nBits)
	for range 100 {
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return nil, fmt.Errorf("dstu: random: %w", err)
		}
		buf[0] &= 0xFF >> excess
		if k := scalarFromBytes(buf); c.sf.inRange(&k) {
			return buf, nil
		}
	}
	return nil, errors.New("dstu: random source keeps giving out-of-range values")
}

// NewPrivateKey returns the key with scalar d (0 < d < N) and computes its
// public key.
func NewPrivateKey(c *Curve, d *big.Int) (*PrivateKey, error) {
	if d.Sign() <= 0 || d.Cmp(c.N) >= 0 {
		return nil, fmt.Errorf("%w: scalar outside 1…N-1 of %s", ErrPrivateKey, c.Name)
	}
	g := point{x: c.gx, y: c.gy}
	dp := c.scalarMult(&g, d.FillBytes(make([]byte, (c.nBits+7)/8)))
	if dp.inf {
		return nil, fmt.Errorf("%w: d·P is the point at infinity", ErrPrivateKey)
	}
	q := point{x: dp.x, y: add(&dp.x, &dp.y)} // Q = −d·P
	return &PrivateKey{PublicKey: PublicKey{Curve: c, q: q}, D: new(big.Int).Set(d)}, nil
}

// newPublicKey checks q (on the curve, not O, N·q = O) and wraps it.
func newPublicKey(c *Curve, q point) (*PublicKey, error) {
	if q.inf || isZero(&q.x) || !c.onCurve(&q) {
		return nil, fmt.Errorf("%w: not a point of %s", ErrPublicKey, c.Name)
	}
	if nq := c.scalarMult(&q, c.N.Bytes()); !nq.inf {
		return nil, fmt.Errorf("%w: not in the subgroup of order N of %s", ErrPublicKey, c.Name)
	}
	return &PublicKey{Curve: c, q: q}, nil
}

// ParseCompressed reads a public key in the standard's compressed form as
// certificates carry it: x with Tr(y/x) in its lowest bit, ceil(m/8) bytes,
// little-endian (the content of the OCTET STRING inside subjectPublicKey).
func ParseCompressed(c *Curve, b []byte) (*PublicKey, error) {
	if len(b) != c.f.byteLen() {
		return nil, fmt.Errorf("%w: compressed key is %d bytes, want %d for %s", ErrPublicKey, len(b), c.f.byteLen(), c.Name)
	}
	x, ok := c.f.setBytes(reverse(b))
	if !ok {
		return nil, fmt.Errorf("%w: compressed key has bits at or above m = %d", ErrPublicKey, c.M)
	}
	p, err := c.decompress(&x)
	if err != nil {
		return nil, err
	}
	return newPublicKey(c, p)
}

// Compressed returns the key in the form ParseCompressed reads.
func (k *PublicKey) Compressed() []byte {
	x := k.Curve.compress(&k.q)
	return reverse(k.Curve.f.bytes(&x))
}

// XY returns the affine coordinates of Q as big-endian integers.
func (k *PublicKey) XY() (x, y *big.Int) {
	return new(big.Int).SetBytes(k.Curve.f.bytes(&k.q.x)), new(big.Int).SetBytes(k.Curve.f.bytes(&k.q.y))
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[len(b)-1-i] = c
	}
	return out
}

// hashElement turns a digest into the field element h: the digest read
// as a little-endian polynomial (GOST 34.311-95's byte order) and reduced
// modulo the field polynomial, as Ukrainian implementations do; zero
// becomes one.
func (c *Curve) hashElement(digest []byte) fe {
	var acc [2 * maxWords]uint64
	for i, b := range digest {
		acc[i/8] |= uint64(b) << (8 * (i % 8)) // len(digest) ≤ maxDigest
	}
	h := c.f.reduce(&acc)
	if isZero(&h) {
		h[0] = 1
	}
	return h
}

// truncate returns the integer of the lowest nBits−1 bits of x.
func (c *Curve) truncate(x *fe) *big.Int {
	v := new(big.Int).SetBytes(c.f.bytes(x))
	keep := uint(c.nBits - 1)
	mask := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), keep), big.NewInt(1))
	return v.And(v, mask)
}

// maxDigest is the longest digest c takes: one that reduce can fold,
// 40 bytes for m ≤ 191 and more for larger fields (a GOST 34.311-95
// digest is 32).
func (c *Curve) maxDigest() int { return 8 * (2*c.f.n - 1) }

// SignDigest signs digest (a GOST 34.311-95 hash; 1…40 bytes on every curve) per
// DSTU 4145-2002: e random, F = x(e·P), r = trunc(h·F), s = e + d·r mod N.
// It returns r and s.
func (k *PrivateKey) SignDigest(rnd io.Reader, digest []byte) (r, s *big.Int, err error) {
	c := k.Curve
	if len(digest) == 0 || len(digest) > c.maxDigest() {
		return nil, nil, fmt.Errorf("dstu: digest of %d bytes, want 1…%d", len(digest), c.maxDigest())
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	h := c.hashElement(digest)
	g := point{x: c.gx, y: c.gy}
	for range 100 {
		e, err := randScalar(c, rnd)
		if err != nil {
			return nil, nil, err
		}
		rp := c.scalarMult(&g, e)
		if rp.inf || isZero(&rp.x) {
			continue
		}
		y := c.f.mul(&h, &rp.x)
		r = c.truncate(&y)
		if r.Sign() == 0 {
			continue
		}
		// s = e + d·r mod N in constant time (r is public).
		d, rs, es := scalarFromInt(k.D), scalarFromInt(r), scalarFromBytes(e)
		sv := c.sf.mulAdd(&d, &rs, &es)
		clear(d[:])
		clear(es[:])
		clear(e)
		s = sv.int()
		if s.Sign() == 0 {
			continue
		}
		return r, s, nil
	}
	return nil, nil, errors.New("dstu: could not sign: random source keeps giving unusable values")
}

// VerifyDigest checks (r, s) over digest: R = s·P + r·Q, and r must equal
// trunc(h·x(R)).
func (k *PublicKey) VerifyDigest(digest []byte, r, s *big.Int) error {
	c := k.Curve
	if len(digest) == 0 || len(digest) > c.maxDigest() {
		return fmt.Errorf("%w: digest of %d bytes, want 1…%d", ErrSignature, len(digest), c.maxDigest())
	}
	if r.Sign() <= 0 || r.Cmp(c.N) >= 0 || s.Sign() <= 0 || s.Cmp(c.N) >= 0 {
		return fmt.Errorf("%w: r or s outside 1…N-1", ErrSignature)
	}
	g := point{x: c.gx, y: c.gy}
	sp := c.scalarMult(&g, s.Bytes())
	rq := c.scalarMult(&k.q, r.Bytes())
	R := c.addPoints(&sp, &rq)
	if R.inf {
		return fmt.Errorf("%w: s·P + r·Q is the point at infinity", ErrSignature)
	}
	h := c.hashElement(digest)
	y := c.f.mul(&h, &R.x)
	if c.truncate(&y).Cmp(r) != 0 {
		return ErrSignature
	}
	return nil
}

// SignatureSize is the length of the little-endian r‖s encoding on c:
// twice ceil(bitlen(N)/8).
func (c *Curve) SignatureSize() int { return 2 * ((c.nBits + 7) / 8) }

// Sign implements crypto.Signer: digest is a GOST 34.311-95 hash, opts is
// ignored, and the result is r‖s, each half little-endian in
// ceil(bitlen(N)/8) bytes, as Ukrainian CAs write it into CMS SignerInfos
// (certificates wrap the same bytes in an OCTET STRING).
func (k *PrivateKey) Sign(rnd io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	r, s, err := k.SignDigest(rnd, digest)
	if err != nil {
		return nil, err
	}
	return k.Curve.EncodeSignature(r, s), nil
}

// EncodeSignature writes r‖s, each little-endian in half of SignatureSize.
func (c *Curve) EncodeSignature(r, s *big.Int) []byte {
	half := c.SignatureSize() / 2
	out := make([]byte, 2*half)
	copy(out, reverse(r.FillBytes(make([]byte, half))))
	copy(out[half:], reverse(s.FillBytes(make([]byte, half))))
	return out
}

// DecodeSignature reads r‖s (little-endian halves). Both halves must have
// the length SignatureSize/2.
func (c *Curve) DecodeSignature(sig []byte) (r, s *big.Int, err error) {
	if len(sig) != c.SignatureSize() {
		return nil, nil, fmt.Errorf("%w: signature is %d bytes, want %d for %s", ErrSignature, len(sig), c.SignatureSize(), c.Name)
	}
	half := len(sig) / 2
	return new(big.Int).SetBytes(reverse(sig[:half])), new(big.Int).SetBytes(reverse(sig[half:])), nil
}

// Verify checks a little-endian r‖s signature over digest.
func (k *PublicKey) Verify(digest, sig []byte) error {
	r, s, err := k.Curve.DecodeSignature(sig)
	if err != nil {
		return err
	}
	return k.VerifyDigest(digest, r, s)
}
