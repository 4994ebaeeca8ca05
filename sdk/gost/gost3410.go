package gost

import (
	"crypto"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// SignatureSize is the size of an encoded GOST R 34.10 signature on a
// 256-bit curve: s‖r, 32 bytes each, big-endian. On a 512-bit curve it
// is twice that (2·Curve.Size()).
const SignatureSize = 2 * coordSize

// PublicKeySize is the size of an encoded public key on a 256-bit curve:
// x‖y, 32 bytes each, little-endian (2·Curve.Size() in general).
const PublicKeySize = 2 * coordSize

// ErrSignature is returned (wrapped, with what is wrong) when a
// signature is malformed or does not verify.
var ErrSignature = errors.New("gost: invalid signature")

// ErrPublicKey is returned (wrapped) for a malformed public key or one
// that is not a point of its curve's prime-order subgroup.
var ErrPublicKey = errors.New("gost: invalid public key")

// ErrPrivateKey is returned (wrapped) for a private key out of range.
var ErrPrivateKey = errors.New("gost: invalid private key")

// PublicKey is a GOST R 34.10 verification key: the point Q = d·P.
// Type says which algorithm (and so which hash and OIDs) it belongs to;
// ParamSet, when set, is the parameter-set OID it was read with (one
// curve has several), kept so that it encodes back the same way.
type PublicKey struct {
	Curve    *Curve
	X, Y     *big.Int
	Type     KeyType
	ParamSet string
}

// PrivateKey is a GOST R 34.10 signing key d, 0 < d < q. It implements
// crypto.Signer: Sign takes a digest of Curve.Size() bytes made with
// Type.NewHash and returns s‖r.
type PrivateKey struct {
	PublicKey
	D *big.Int

	d []byte // D as Curve.Size() big-endian bytes, for constant-time use
}

// NewPublicKey returns the GOST R 34.10-2001 public key (x, y) on c after
// checking that it is a point of c's prime-order subgroup.
func NewPublicKey(c *Curve, x, y *big.Int) (*PublicKey, error) {
	return NewPublicKeyOf(defaultType(c), c, x, y)
}

// NewPublicKeyOf is NewPublicKey for a key of type t.
func NewPublicKeyOf(t KeyType, c *Curve, x, y *big.Int) (*PublicKey, error) {
	if err := t.fits(c); err != nil {
		return nil, err
	}
	if x == nil || y == nil {
		return nil, fmt.Errorf("%w: missing coordinate", ErrPublicKey)
	}
	pub := &PublicKey{Curve: c, X: new(big.Int).Set(x), Y: new(big.Int).Set(y), Type: t}
	if err := pub.validate(); err != nil {
		return nil, err
	}
	return pub, nil
}

// validate checks that pub is a point of its curve's subgroup of order q
// (for cofactor 1 every point of the curve is).
func (pub *PublicKey) validate() error {
	c := pub.Curve
	if err := c.check(); err != nil {
		return err
	}
	if !c.IsOnCurve(pub.X, pub.Y) {
		return fmt.Errorf("%w: point is not on %s", ErrPublicKey, c.Name)
	}
	if c.Cofactor > 1 {
		ca := c.arith
		p := ca.fromAffine(feFromBig(pub.X), feFromBig(pub.Y))
		qp := ca.scalarMult(&p, c.Q.FillBytes(make([]byte, ca.size)))
		if ca.fp.isZero(&qp.z) != 1 || ca.fp.isZero(&qp.y) == 1 {
			return fmt.Errorf("%w: point is not in the subgroup of order q of %s", ErrPublicKey, c.Name)
		}
	}
	return nil
}

// ParsePublicKey decodes the 64-byte x‖y little-endian encoding of a
// GOST R 34.10-2001 public key on c (the content of the OCTET STRING in a
// GOST SubjectPublicKeyInfo, RFC 4491 §2.3.2).
func ParsePublicKey(c *Curve, raw []byte) (*PublicKey, error) {
	return ParsePublicKeyOf(defaultType(c), c, raw)
}

// ParsePublicKeyOf decodes the x‖y little-endian encoding (2·c.Size()
// bytes) of a public key of type t on c.
func ParsePublicKeyOf(t KeyType, c *Curve, raw []byte) (*PublicKey, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	n := c.Size()
	if len(raw) != 2*n {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrPublicKey, len(raw), 2*n)
	}
	return NewPublicKeyOf(t, c, leInt(raw[:n]), leInt(raw[n:]))
}

// Bytes returns the x‖y little-endian encoding of pub (2·Curve.Size()
// bytes).
func (pub *PublicKey) Bytes() []byte {
	n := pub.Curve.Size()
	out := make([]byte, 2*n)
	putLE(out[:n], pub.X)
	putLE(out[n:], pub.Y)
	return out
}

// Equal reports whether x is a *PublicKey with the same curve and point.
// The type is not compared: one key read from a token (which cannot tell
// 2001 from 2012 or O'zDSt) and from its certificate is the same key.
func (pub *PublicKey) Equal(x crypto.PublicKey) bool {
	o, ok := x.(*PublicKey)
	return ok && o.Curve == pub.Curve && o.X.Cmp(pub.X) == 0 && o.Y.Cmp(pub.Y) == 0
}

// NewPrivateKey returns the GOST R 34.10-2001 key d on c (2012-512 on a
// 512-bit curve) with its public key d·P.
func NewPrivateKey(c *Curve, d *big.Int) (*PrivateKey, error) {
	return NewPrivateKeyOf(defaultType(c), c, d)
}

// NewPrivateKeyOf returns the key d of type t on c with its public key
// d·P, computed in constant time.
func NewPrivateKeyOf(t KeyType, c *Curve, d *big.Int) (*PrivateKey, error) {
	if err := t.fits(c); err != nil {
		return nil, err
	}
	if d == nil || d.Sign() <= 0 || d.Cmp(c.Q) >= 0 {
		return nil, fmt.Errorf("%w: d is not in (0, q)", ErrPrivateKey)
	}
	return newPrivateKey(t, c, d.FillBytes(make([]byte, c.Size())))
}

// newPrivateKey builds the key from d, big-endian, c.Size() bytes, 0 < d < q.
func newPrivateKey(t KeyType, c *Curve, d []byte) (*PrivateKey, error) {
	ca := c.arith
	x, y, ok := ca.affine(ptr(ca.scalarBaseMult(d)))
	if ok != 1 {
		return nil, fmt.Errorf("%w: d·P is infinity (bad curve)", ErrPrivateKey)
	}
	return &PrivateKey{
		PublicKey: PublicKey{Curve: c, X: x.big(), Y: y.big(), Type: t},
		D:         new(big.Int).SetBytes(d),
		d:         d,
	}, nil
}

func ptr(p point) *point { return &p }

// GenerateKey returns a new GOST R 34.10-2001 key on c (2012-512 on a
// 512-bit curve) with d drawn from rand.
func GenerateKey(c *Curve, rand io.Reader) (*PrivateKey, error) {
	return GenerateKeyOf(defaultType(c), c, rand)
}

// GenerateKeyOf returns a new key of type t on c with d drawn from rand
// (crypto/rand.Reader for real keys).
func GenerateKeyOf(t KeyType, c *Curve, rand io.Reader) (*PrivateKey, error) {
	if err := t.fits(c); err != nil {
		return nil, err
	}
	d, err := randScalar(c, rand)
	if err != nil {
		return nil, err
	}
	return newPrivateKey(t, c, d)
}

// Public returns the public key (crypto.Signer).
func (priv *PrivateKey) Public() crypto.PublicKey { return &priv.PublicKey }

// Equal reports whether x is a *PrivateKey with the same public key and d.
func (priv *PrivateKey) Equal(x crypto.PrivateKey) bool {
	o, ok := x.(*PrivateKey)
	return ok && priv.PublicKey.Equal(&o.PublicKey) &&
		subtle.ConstantTimeCompare(priv.scalar(), o.scalar()) == 1
}

// scalar is d as Curve.Size() big-endian bytes.
func (priv *PrivateKey) scalar() []byte {
	if len(priv.d) == priv.Curve.Size() {
		return priv.d
	}
	return priv.D.FillBytes(make([]byte, priv.Curve.Size()))
}

// Sign signs digest (Curve.Size() bytes of Type.NewHash output) and
// returns s‖r, each Curve.Size() bytes big-endian (crypto.Signer). opts
// is not used: the standard library has no identifier for the GOST
// hashes.
func (priv *PrivateKey) Sign(rand io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	return Sign(rand, priv, digest)
}

// maxRandTries bounds the rejection sampling of randScalar; each try
// fails with probability < 3/4 for the package's curves.
const maxRandTries = 64

// randScalar returns k uniformly in (0, q) as c.Size() big-endian bytes
// by rejection sampling; the comparison with q is constant time, so a
// nonce's bits do not show in the timing.
func randScalar(c *Curve, rand io.Reader) ([]byte, error) {
	if rand == nil {
		return nil, errors.New("gost: no random source")
	}
	fq := c.arith.fq
	n := c.Size()
	extra := uint(8*n - c.Q.BitLen())
	buf := make([]byte, n)
	for range maxRandTries {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("gost: reading random: %w", err)
		}
		buf[0] &= 0xFF >> extra
		k := feFromBytes(buf)
		if fq.less(&k)&(1-fq.isZero(&k)) == 1 {
			return buf, nil
		}
	}
	return nil, errors.New("gost: random source gave no scalar below q")
}

// digestToE is e = (digest read little-endian) mod q, with 0 replaced by
// 1 (RFC 7091 §6.1 step 2 and the CryptoPro byte order, RFC 4491 §2.2.2).
func digestToE(c *Curve, digest []byte) (*big.Int, error) {
	if len(digest) != c.Size() {
		return nil, fmt.Errorf("gost: digest is %d bytes, want %d for %s", len(digest), c.Size(), c.Name)
	}
	e := leInt(digest)
	e.Mod(e, c.Q)
	if e.Sign() == 0 {
		e.SetInt64(1)
	}
	return e, nil
}

// Sign signs a digest of Curve.Size() bytes (GOST R 34.11-94 for 2001
// and O'zDSt keys, Streebog-256/512 for 2012 keys) with priv and returns
// s‖r, each Curve.Size() bytes big-endian, the encoding CryptoPro,
// OpenSSL and E-IMZO use. The secret scalar and the nonce are handled in
// constant time (see docs/gost.md).
func Sign(rand io.Reader, priv *PrivateKey, digest []byte) ([]byte, error) {
	if priv == nil || priv.D == nil {
		return nil, fmt.Errorf("%w: nil key", ErrPrivateKey)
	}
	c := priv.Curve
	if err := c.check(); err != nil {
		return nil, err
	}
	if priv.D.Sign() <= 0 || priv.D.Cmp(c.Q) >= 0 {
		return nil, fmt.Errorf("%w: d is not in (0, q)", ErrPrivateKey)
	}
	e, err := digestToE(c, digest)
	if err != nil {
		return nil, err
	}
	d := priv.scalar()
	for range maxRandTries {
		k, err := randScalar(c, rand)
		if err != nil {
			return nil, err
		}
		if r, s, ok := signWithK(c, d, e, k); ok {
			return encodeSig(c, r, s), nil
		}
	}
	return nil, errors.New("gost: no usable nonce from the random source")
}

// signWithK is RFC 7091 §6.1 steps 4–5 with the nonce k: r = x(k·P) mod
// q, s = (r·d + k·e) mod q, with d and k as big-endian bytes. ok is false
// when r or s is zero (try another k). r and s are public (they are the
// signature), so they may be big.Ints; d and k never are.
func signWithK(c *Curve, d []byte, e *big.Int, k []byte) (r, s *big.Int, ok bool) {
	ca := c.arith
	x, _, notInf := ca.affine(ptr(ca.scalarBaseMult(k)))
	if notInf != 1 {
		return nil, nil, false
	}
	r = x.big()
	r.Mod(r, c.Q)
	if r.Sign() == 0 {
		return nil, nil, false
	}
	fq := ca.fq
	rf, ef := feFromBig(r), feFromBig(e)
	df, kf := feFromBytes(d), feFromBytes(k)
	var rd, ke, sf fe
	fq.toMont(&rf, &rf) // r·R; mul by d gives r·d
	fq.toMont(&ef, &ef)
	fq.mul(&rd, &rf, &df)
	fq.mul(&ke, &ef, &kf)
	fq.add(&sf, &rd, &ke)
	s = sf.big()
	if s.Sign() == 0 {
		return nil, nil, false
	}
	return r, s, true
}

// Verify checks sig (s‖r, each Curve.Size() bytes big-endian) over
// digest (Curve.Size() bytes) with pub. It returns nil for a valid
// signature and an error wrapping ErrSignature that says what is wrong
// otherwise. Verification handles only public data, so its timing does
// not matter.
func Verify(pub *PublicKey, digest, sig []byte) error {
	if pub == nil || pub.X == nil || pub.Y == nil {
		return fmt.Errorf("%w: nil key", ErrPublicKey)
	}
	c := pub.Curve
	if err := c.check(); err != nil {
		return err
	}
	n := c.Size()
	if len(sig) != 2*n {
		return fmt.Errorf("%w: %d bytes, want %d", ErrSignature, len(sig), 2*n)
	}
	s := new(big.Int).SetBytes(sig[:n])
	r := new(big.Int).SetBytes(sig[n:])
	e, err := digestToE(c, digest)
	if err != nil {
		return err
	}
	return verify(pub, e, r, s)
}

// verify is RFC 7091 §6.2: with v = e⁻¹ mod q, z1 = s·v, z2 = −r·v,
// the signature is valid when x(z1·P + z2·Q) mod q = r.
func verify(pub *PublicKey, e, r, s *big.Int) error {
	c := pub.Curve
	if r.Sign() <= 0 || r.Cmp(c.Q) >= 0 {
		return fmt.Errorf("%w: r is not in (0, q)", ErrSignature)
	}
	if s.Sign() <= 0 || s.Cmp(c.Q) >= 0 {
		return fmt.Errorf("%w: s is not in (0, q)", ErrSignature)
	}
	// The subgroup check of the cofactor-4 curves is done when a key is
	// made or parsed (NewPublicKeyOf, ParsePublicKeyOf, ParsePKIXPublicKey),
	// not on every verification; a key built as a struct literal is only
	// checked to be on the curve here, which is enough for verifying (a
	// key outside the subgroup cannot make another key's signature valid).
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
	ca := c.arith
	n := ca.size
	q := ca.fromAffine(feFromBig(pub.X), feFromBig(pub.Y))
	x, _, ok := ca.affinePublic(ptr(ca.combinedMult(z1.FillBytes(make([]byte, n)), &q, z2.FillBytes(make([]byte, n)))))
	if ok != 1 {
		return fmt.Errorf("%w: z1·P + z2·Q is infinity", ErrSignature)
	}
	xr := x.big()
	if xr.Mod(xr, c.Q).Cmp(r) != 0 {
		return fmt.Errorf("%w: does not match the digest and key", ErrSignature)
	}
	return nil
}

// encodeSig is s‖r, each c.Size() bytes, big-endian.
func encodeSig(c *Curve, r, s *big.Int) []byte {
	n := c.Size()
	out := make([]byte, 2*n)
	s.FillBytes(out[:n])
	r.FillBytes(out[n:])
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
