package gost

import (
	"errors"
	"fmt"
	"io"
	"math/big"
)

// SignatureSize is the size of an encoded GOST R 34.10-2001 signature on
// a 256-bit curve: s‖r, 32 bytes each, big-endian.
const SignatureSize = 2 * coordSize

// PublicKeySize is the size of an encoded public key: x‖y, 32 bytes
// each, little-endian.
const PublicKeySize = 2 * coordSize

// ErrSignature is returned (wrapped, with what is wrong) when a
// signature is malformed or does not verify.
var ErrSignature = errors.New("gost: invalid signature")

// ErrPublicKey is returned (wrapped) for a malformed public key or one
// that is not a point of its curve.
var ErrPublicKey = errors.New("gost: invalid public key")

// ErrPrivateKey is returned (wrapped) for a private key out of range.
var ErrPrivateKey = errors.New("gost: invalid private key")

// PublicKey is a GOST R 34.10-2001 verification key: the point Q = d·P.
type PublicKey struct {
	Curve *Curve
	X, Y  *big.Int
}

// PrivateKey is a GOST R 34.10-2001 signing key d, 0 < d < q.
type PrivateKey struct {
	PublicKey
	D *big.Int
}

// NewPublicKey returns the public key (x, y) on c after checking that it
// is a point of c (cofactor 1: that is also the subgroup check).
func NewPublicKey(c *Curve, x, y *big.Int) (*PublicKey, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if x == nil || y == nil {
		return nil, fmt.Errorf("%w: missing coordinate", ErrPublicKey)
	}
	if !c.IsOnCurve(x, y) {
		return nil, fmt.Errorf("%w: point is not on %s", ErrPublicKey, c.Name)
	}
	return &PublicKey{Curve: c, X: new(big.Int).Set(x), Y: new(big.Int).Set(y)}, nil
}

// ParsePublicKey decodes the 64-byte x‖y little-endian encoding of a
// public key on c (the content of the OCTET STRING in a GOST
// SubjectPublicKeyInfo, RFC 4491 §2.3.2).
func ParsePublicKey(c *Curve, raw []byte) (*PublicKey, error) {
	if len(raw) != PublicKeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrPublicKey, len(raw), PublicKeySize)
	}
	return NewPublicKey(c, leInt(raw[:coordSize]), leInt(raw[coordSize:]))
}

// Bytes returns the 64-byte x‖y little-endian encoding of pub.
func (pub *PublicKey) Bytes() []byte {
	out := make([]byte, PublicKeySize)
	putLE(out[:coordSize], pub.X)
	putLE(out[coordSize:], pub.Y)
	return out
}

// NewPrivateKey returns the key d on c with its public key d·P.
func NewPrivateKey(c *Curve, d *big.Int) (*PrivateKey, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if d == nil || d.Sign() <= 0 || d.Cmp(c.Q) >= 0 {
		return nil, fmt.Errorf("%w: d is not in (0, q)", ErrPrivateKey)
	}
	x, y, ok := c.affine(c.scalarMult(c.X, c.Y, d))
	if !ok {
		return nil, fmt.Errorf("%w: d·P is infinity (bad curve)", ErrPrivateKey)
	}
	return &PrivateKey{PublicKey: PublicKey{Curve: c, X: x, Y: y}, D: new(big.Int).Set(d)}, nil
}

// GenerateKey returns a new key on c with d drawn from rand.
func GenerateKey(c *Curve, rand io.Reader) (*PrivateKey, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	d, err := randScalar(c.Q, rand)
	if err != nil {
		return nil, err
	}
	return NewPrivateKey(c, d)
}

// maxRandTries bounds the rejection sampling of randScalar; each try
// fails with probability < 1/2 for the package's curves.
const maxRandTries = 64

// randScalar returns k uniformly in (0, q) by rejection sampling.
func randScalar(q *big.Int, rand io.Reader) (*big.Int, error) {
	if rand == nil {
		return nil, errors.New("gost: no random source")
	}
	buf := make([]byte, (q.BitLen()+7)/8)
	extra := uint(len(buf)*8 - q.BitLen())
	for range maxRandTries {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("gost: reading random: %w", err)
		}
		buf[0] &= 0xFF >> extra
		k := new(big.Int).SetBytes(buf)
		if k.Sign() > 0 && k.Cmp(q) < 0 {
			return k, nil
		}
	}
	return nil, errors.New("gost: random source gave no scalar below q")
}

// digestToE is e = (digest read little-endian) mod q, with 0 replaced by
// 1 (RFC 5832 §6.1 step 2 and the CryptoPro byte order, RFC 4491 §2.2.2).
func digestToE(c *Curve, digest []byte) (*big.Int, error) {
	if len(digest) != Size94 {
		return nil, fmt.Errorf("gost: digest is %d bytes, want %d", len(digest), Size94)
	}
	e := leInt(digest)
	e.Mod(e, c.Q)
	if e.Sign() == 0 {
		e.SetInt64(1)
	}
	return e, nil
}

// Sign signs a 32-byte GOST R 34.11-94 digest with priv and returns
// s‖r (32 bytes each, big-endian), the encoding E-IMZO and CryptoPro use.
// It is NOT constant time (see docs/gost.md): it exists for
// tests and for keys the person holds on their own machine.
func Sign(rand io.Reader, priv *PrivateKey, digest []byte) ([]byte, error) {
	if priv == nil || priv.D == nil {
		return nil, fmt.Errorf("%w: nil key", ErrPrivateKey)
	}
	c := priv.Curve
	if err := c.check(); err != nil {
		return nil, err
	}
	e, err := digestToE(c, digest)
	if err != nil {
		return nil, err
	}
	for range maxRandTries {
		k, err := randScalar(c.Q, rand)
		if err != nil {
			return nil, err
		}
		if r, s, ok := signWithK(priv, e, k); ok {
			return encodeSig(r, s), nil
		}
	}
	return nil, errors.New("gost: no usable nonce from the random source")
}

// signWithK is RFC 5832 §6.1 steps 4–5 with the nonce k: r = x(k·P) mod
// q, s = (r·d + k·e) mod q. ok is false when r or s is zero (try another
// k).
func signWithK(priv *PrivateKey, e, k *big.Int) (r, s *big.Int, ok bool) {
	c := priv.Curve
	x, _, notInf := c.affine(c.scalarMult(c.X, c.Y, k))
	if !notInf {
		return nil, nil, false
	}
	r = x.Mod(x, c.Q)
	if r.Sign() == 0 {
		return nil, nil, false
	}
	s = new(big.Int).Mul(r, priv.D)
	ke := new(big.Int).Mul(k, e)
	s.Add(s, ke).Mod(s, c.Q)
	if s.Sign() == 0 {
		return nil, nil, false
	}
	return r, s, true
}

// Verify checks sig (s‖r, 32 bytes each, big-endian) over the 32-byte
// digest with pub. It returns nil for a valid signature and an error
// wrapping ErrSignature that says what is wrong otherwise. Verification
// handles only public data, so its timing does not matter.
func Verify(pub *PublicKey, digest, sig []byte) error {
	if pub == nil || pub.X == nil || pub.Y == nil {
		return fmt.Errorf("%w: nil key", ErrPublicKey)
	}
	c := pub.Curve
	if err := c.check(); err != nil {
		return err
	}
	if len(sig) != SignatureSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrSignature, len(sig), SignatureSize)
	}
	s := new(big.Int).SetBytes(sig[:coordSize])
	r := new(big.Int).SetBytes(sig[coordSize:])
	e, err := digestToE(c, digest)
	if err != nil {
		return err
	}
	return verify(pub, e, r, s)
}

// verify is RFC 5832 §6.2: with v = e⁻¹ mod q, z1 = s·v, z2 = −r·v,
// the signature is valid when x(z1·P + z2·Q) mod q = r.
func verify(pub *PublicKey, e, r, s *big.Int) error {
	c := pub.Curve
	if r.Sign() <= 0 || r.Cmp(c.Q) >= 0 {
		return fmt.Errorf("%w: r is not in (0, q)", ErrSignature)
	}
	if s.Sign() <= 0 || s.Cmp(c.Q) >= 0 {
		return fmt.Errorf("%w: s is not in (0, q)", ErrSignature)
	}
	if !c.IsOnCurve(pub.X, pub.Y) {
		return fmt.Errorf("%w: point is not on %s", ErrPublicKey, c.Name)
	}
	v := new(big.Int).ModInverse(e, c.Q)
	if v == nil {
		return fmt.Errorf("%w: e has no inverse mod q (bad curve)", ErrSignature)
	}
	z1 := new(big.Int).Mul(s, v)
	z1.Mod(z1, c.Q)
	z2 := new(big.Int).Mul(r, v)
	z2.Neg(z2).Mod(z2, c.Q)
	x, _, ok := c.affine(c.combinedMult(c.X, c.Y, z1, pub.X, pub.Y, z2))
	if !ok {
		return fmt.Errorf("%w: z1·P + z2·Q is infinity", ErrSignature)
	}
	if x.Mod(x, c.Q).Cmp(r) != 0 {
		return fmt.Errorf("%w: does not match the digest and key", ErrSignature)
	}
	return nil
}

// encodeSig is s‖r, 32 bytes each, big-endian.
func encodeSig(r, s *big.Int) []byte {
	out := make([]byte, SignatureSize)
	s.FillBytes(out[:coordSize])
	r.FillBytes(out[coordSize:])
	return out
}

// leInt reads b as a little-endian unsigned integer.
func leInt(b []byte) *big.Int {
	be := make([]byte, len(b))
	for i, v := range b {
		be[len(b)-1-i] = v
	}
	return new(big.Int).SetBytes(be)
}

// putLE writes n little-endian into out (n must fit).
func putLE(out []byte, n *big.Int) {
	n.FillBytes(out)
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
}
