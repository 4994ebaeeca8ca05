package gost

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"math/big"
)

// KeyType is the signature algorithm a key belongs to. It fixes the hash
// (and its size), the OIDs and the national name; the math is the same
// for all of them.
type KeyType int

const (
	// KeyGOST2001 is GOST R 34.10-2001 with GOST R 34.11-94 (CryptoPro
	// parameters), RFC 4491.
	KeyGOST2001 KeyType = iota
	// KeyGOST2012_256 is GOST R 34.10-2012 with a 256-bit key and
	// Streebog-256, RFC 9215.
	KeyGOST2012_256
	// KeyGOST2012_512 is GOST R 34.10-2012 with a 512-bit key and
	// Streebog-512, RFC 9215.
	KeyGOST2012_512
	// KeyOzDSt1092 is O'zDSt 1092:2009 with O'zDSt 1106:2009: GOST R
	// 34.10-2001 and GOST R 34.11-94 (CryptoPro parameters) under
	// Uzbekistan's OIDs.
	KeyOzDSt1092
)

// String is the algorithm's national name.
func (t KeyType) String() string {
	switch t {
	case KeyGOST2001:
		return "GOST R 34.10-2001"
	case KeyGOST2012_256:
		return "GOST R 34.10-2012 (256)"
	case KeyGOST2012_512:
		return "GOST R 34.10-2012 (512)"
	case KeyOzDSt1092:
		return "O'zDSt 1092:2009"
	}
	return fmt.Sprintf("gost.KeyType(%d)", int(t))
}

// NewHash returns the hash a key of type t signs: GOST R 34.11-94 with
// the CryptoPro S-box (O'zDSt 1106:2009) for 2001 and O'zDSt keys,
// Streebog-256 or -512 for 2012 keys.
func (t KeyType) NewHash() hash.Hash {
	switch t {
	case KeyGOST2012_256:
		return NewStreebog256()
	case KeyGOST2012_512:
		return NewStreebog512()
	}
	return New94CryptoPro()
}

// OIDs of the key, digest and signature algorithms (RFC 4491, RFC 9215,
// and for O'zDSt the identifiers E-IMZO's certificates and CMS use).
var (
	OIDPublicKey2001     = asn1.ObjectIdentifier{1, 2, 643, 2, 2, 19}
	OIDPublicKey2012_256 = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 1, 1}
	OIDPublicKey2012_512 = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 1, 2}
	OIDPublicKeyOzDSt    = asn1.ObjectIdentifier{1, 2, 860, 3, 15, 1, 1, 2, 1}

	OIDDigest94          = asn1.ObjectIdentifier{1, 2, 643, 2, 2, 9}
	OIDDigestStreebog256 = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 2, 2}
	OIDDigestStreebog512 = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 2, 3}
	OIDDigestOzDSt1106   = asn1.ObjectIdentifier{1, 2, 860, 3, 15, 1, 3, 2, 1, 1}

	OIDSignature2001     = asn1.ObjectIdentifier{1, 2, 643, 2, 2, 3}
	OIDSignature2012_256 = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 3, 2}
	OIDSignature2012_512 = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 3, 3}
	OIDSignatureOzDSt    = asn1.ObjectIdentifier{1, 2, 860, 3, 15, 1, 1, 2, 2, 2, 2}

	// oidHash94CryptoProParams is id-GostR3411-94-CryptoProParamSet, the
	// digest parameter of a 2001 key.
	oidHash94CryptoProParams = asn1.ObjectIdentifier{1, 2, 643, 2, 2, 30, 1}
)

// KeyOID, DigestOID and SignatureOID are the algorithm identifiers of t
// in a SubjectPublicKeyInfo, in CMS digestAlgorithm and in
// signatureAlgorithm.
func (t KeyType) KeyOID() asn1.ObjectIdentifier {
	return [...]asn1.ObjectIdentifier{OIDPublicKey2001, OIDPublicKey2012_256, OIDPublicKey2012_512, OIDPublicKeyOzDSt}[t.index()]
}

// DigestOID is the OID of t's hash.
func (t KeyType) DigestOID() asn1.ObjectIdentifier {
	return [...]asn1.ObjectIdentifier{OIDDigest94, OIDDigestStreebog256, OIDDigestStreebog512, OIDDigestOzDSt1106}[t.index()]
}

// SignatureOID is the OID of t's signature-with-digest algorithm.
func (t KeyType) SignatureOID() asn1.ObjectIdentifier {
	return [...]asn1.ObjectIdentifier{OIDSignature2001, OIDSignature2012_256, OIDSignature2012_512, OIDSignatureOzDSt}[t.index()]
}

func (t KeyType) index() int {
	if t < KeyGOST2001 || t > KeyOzDSt1092 {
		panic(fmt.Sprintf("gost: unknown key type %d", int(t)))
	}
	return int(t)
}

// KeyTypeByOID returns the key type of a SubjectPublicKeyInfo algorithm
// OID; ok is false for an OID that is none of them.
func KeyTypeByOID(oid asn1.ObjectIdentifier) (t KeyType, ok bool) {
	for t := KeyGOST2001; t <= KeyOzDSt1092; t++ {
		if oid.Equal(t.KeyOID()) {
			return t, true
		}
	}
	return 0, false
}

// fits checks that a key of type t can live on c (512-bit curves for
// 2012-512, 256-bit ones for the rest) and prepares c.
func (t KeyType) fits(c *Curve) error {
	if t < KeyGOST2001 || t > KeyOzDSt1092 {
		return fmt.Errorf("gost: unknown key type %d", int(t))
	}
	if c == nil {
		return errors.New("gost: nil curve")
	}
	if err := c.check(); err != nil {
		return err
	}
	if want := map[bool]int{true: 2 * coordSize, false: coordSize}[t == KeyGOST2012_512]; c.Size() != want {
		return fmt.Errorf("gost: %s needs a %d-bit curve, %s is %d-bit", t, 8*want, c.Name, 8*c.Size())
	}
	return nil
}

// defaultType is the type a key on c had before key types existed: 2001
// on 256-bit curves, 2012-512 on 512-bit ones.
func defaultType(c *Curve) KeyType {
	if c != nil && c.P != nil && c.Size() > coordSize {
		return KeyGOST2012_512
	}
	return KeyGOST2001
}

// maxKeyDER bounds the encodings the parsers accept; a GOST key is a few
// hundred bytes.
const maxKeyDER = 4096

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type spki struct {
	Algorithm algorithmIdentifier
	PublicKey asn1.BitString
}

// paramSetOID is the parameter-set OID pub encodes with: the one it was
// read with, else its curve's main OID.
func (pub *PublicKey) paramSetOID() (asn1.ObjectIdentifier, error) {
	s := pub.ParamSet
	if s == "" {
		s = pub.Curve.OID
	}
	return parseOID(s)
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	var n int
	digits := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 {
				return nil, fmt.Errorf("gost: bad OID %q", s)
			}
			oid = append(oid, n)
			n, digits = 0, 0
			continue
		}
		if s[i] < '0' || s[i] > '9' || digits > 9 {
			return nil, fmt.Errorf("gost: bad OID %q", s)
		}
		n = 10*n + int(s[i]-'0')
		digits++
	}
	return oid, nil
}

// algorithmID is the AlgorithmIdentifier of pub's SubjectPublicKeyInfo
// and PKCS#8 key, written the way OpenSSL's GOST engine writes it: the
// digest parameter set follows the curve for 2001 keys (the CryptoPro
// hash parameters) and for 2012 keys on the sets that predate RFC 7836
// (the CryptoPro curves under their old OIDs and 512-bit A and B), and is
// left out for the RFC 7836 sets; O'zDSt keys carry the curve alone.
func (pub *PublicKey) algorithmID() (algorithmIdentifier, error) {
	ps, err := pub.paramSetOID()
	if err != nil {
		return algorithmIdentifier{}, err
	}
	params := []asn1.ObjectIdentifier{ps}
	switch pub.Type {
	case KeyGOST2001:
		params = append(params, oidHash94CryptoProParams)
	case KeyGOST2012_256:
		if len(ps) > 4 && ps[:4].Equal(asn1.ObjectIdentifier{1, 2, 643, 2}) {
			params = append(params, OIDDigestStreebog256)
		}
	case KeyGOST2012_512:
		if ps.Equal(asn1.ObjectIdentifier{1, 2, 643, 7, 1, 2, 1, 2, 1}) || ps.Equal(asn1.ObjectIdentifier{1, 2, 643, 7, 1, 2, 1, 2, 2}) {
			params = append(params, OIDDigestStreebog512)
		}
	}
	der, err := asn1.Marshal(params)
	if err != nil {
		return algorithmIdentifier{}, fmt.Errorf("gost: encoding key parameters: %w", err)
	}
	return algorithmIdentifier{Algorithm: pub.Type.KeyOID(), Parameters: asn1.RawValue{FullBytes: der}}, nil
}

// MarshalPKIXPublicKey encodes pub as a DER SubjectPublicKeyInfo (RFC
// 9215 §4 / RFC 4491 §2.3): the key OID of its type, the parameters, and
// the point x‖y little-endian in an OCTET STRING inside the BIT STRING.
func MarshalPKIXPublicKey(pub *PublicKey) ([]byte, error) {
	if pub == nil || pub.Curve == nil || pub.X == nil || pub.Y == nil {
		return nil, fmt.Errorf("%w: nil key", ErrPublicKey)
	}
	if err := pub.Type.fits(pub.Curve); err != nil {
		return nil, err
	}
	alg, err := pub.algorithmID()
	if err != nil {
		return nil, err
	}
	point, err := asn1.Marshal(pub.Bytes())
	if err != nil {
		return nil, fmt.Errorf("gost: encoding public key: %w", err)
	}
	der, err := asn1.Marshal(spki{Algorithm: alg, PublicKey: asn1.BitString{Bytes: point, BitLength: 8 * len(point)}})
	if err != nil {
		return nil, fmt.Errorf("gost: encoding public key: %w", err)
	}
	return der, nil
}

// ParsePKIXPublicKey decodes a DER SubjectPublicKeyInfo holding a GOST R
// 34.10-2001, -2012 (256 or 512) or O'zDSt 1092 key (for instance an
// x509.Certificate's RawSubjectPublicKeyInfo, which crypto/x509 leaves
// unparsed for these algorithms). Errors wrap ErrPublicKey and name what
// is wrong.
func ParsePKIXPublicKey(der []byte) (*PublicKey, error) {
	if len(der) > maxKeyDER {
		return nil, fmt.Errorf("%w: SubjectPublicKeyInfo is %d bytes, more than %d", ErrPublicKey, len(der), maxKeyDER)
	}
	var info spki
	rest, err := asn1.Unmarshal(der, &info)
	if err != nil {
		return nil, fmt.Errorf("%w: SubjectPublicKeyInfo: %v", ErrPublicKey, err)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the SubjectPublicKeyInfo", ErrPublicKey, len(rest))
	}
	t, c, ps, err := parseAlgorithm(info.Algorithm)
	if err != nil {
		return nil, err
	}
	if info.PublicKey.BitLength%8 != 0 {
		return nil, fmt.Errorf("%w: public key BIT STRING is not whole bytes", ErrPublicKey)
	}
	var point []byte
	rest, err = asn1.Unmarshal(info.PublicKey.Bytes, &point)
	if err != nil {
		return nil, fmt.Errorf("%w: public key is not an OCTET STRING: %v", ErrPublicKey, err)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the public key OCTET STRING", ErrPublicKey, len(rest))
	}
	pub, err := ParsePublicKeyOf(t, c, point)
	if err != nil {
		return nil, err
	}
	pub.ParamSet = ps
	return pub, nil
}

// parseAlgorithm reads the key type and curve from a key's
// AlgorithmIdentifier; ps is the parameter-set OID as written.
func parseAlgorithm(alg algorithmIdentifier) (t KeyType, c *Curve, ps string, err error) {
	t, ok := KeyTypeByOID(alg.Algorithm)
	if !ok {
		return 0, nil, "", fmt.Errorf("%w: algorithm %v is not a GOST or O'zDSt key", ErrPublicKey, alg.Algorithm)
	}
	var params []asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &params)
	if err != nil {
		return 0, nil, "", fmt.Errorf("%w: %s key parameters: %v", ErrPublicKey, t, err)
	}
	if len(rest) > 0 || len(params) == 0 || len(params) > 3 {
		return 0, nil, "", fmt.Errorf("%w: %s key parameters are not a sequence of 1 to 3 OIDs", ErrPublicKey, t)
	}
	c, err = CurveByOID(params[0])
	if err != nil {
		return 0, nil, "", err
	}
	if err := t.fits(c); err != nil {
		return 0, nil, "", fmt.Errorf("%w: %v", ErrPublicKey, err)
	}
	if len(params) > 1 {
		if d := params[1]; !d.Equal(oidHash94CryptoProParams) && !d.Equal(OIDDigestStreebog256) &&
			!d.Equal(OIDDigestStreebog512) && !d.Equal(OIDDigestOzDSt1106) && !d.Equal(OIDDigest94) {
			return 0, nil, "", fmt.Errorf("%w: %s key has unknown digest parameters %v", ErrPublicKey, t, d)
		}
	}
	return t, c, params[0].String(), nil
}

// pkcs8 is a PrivateKeyInfo (RFC 5208) without attributes.
type pkcs8 struct {
	Version    int
	Algorithm  algorithmIdentifier
	PrivateKey []byte
	Attributes asn1.RawValue `asn1:"optional,tag:0"`
}

// MarshalPKCS8PrivateKey encodes priv as a DER PKCS#8 PrivateKeyInfo as
// RFC 9215 §4.2 and OpenSSL's GOST engine write it: the same
// AlgorithmIdentifier as the public key and d little-endian, Curve.Size()
// bytes, as the privateKey OCTET STRING's content.
func MarshalPKCS8PrivateKey(priv *PrivateKey) ([]byte, error) {
	if priv == nil || priv.D == nil {
		return nil, fmt.Errorf("%w: nil key", ErrPrivateKey)
	}
	if err := priv.Type.fits(priv.Curve); err != nil {
		return nil, err
	}
	alg, err := priv.algorithmID()
	if err != nil {
		return nil, err
	}
	d := reverse(priv.scalar())
	der, err := asn1.Marshal(pkcs8{Algorithm: alg, PrivateKey: d})
	if err != nil {
		return nil, fmt.Errorf("gost: encoding private key: %w", err)
	}
	return der, nil
}

// parsePrivateKeyInfo decodes a PKCS#8 PrivateKeyInfo (version 0 or 1) of
// at most maxKeyDER bytes, with nothing after it. Errors wrap
// ErrPrivateKey.
func parsePrivateKeyInfo(der []byte) (pkcs8, error) {
	var info pkcs8
	if len(der) > maxKeyDER {
		return info, fmt.Errorf("%w: PrivateKeyInfo is %d bytes, more than %d", ErrPrivateKey, len(der), maxKeyDER)
	}
	rest, err := asn1.Unmarshal(der, &info)
	if err != nil {
		return info, fmt.Errorf("%w: PrivateKeyInfo: %v", ErrPrivateKey, err)
	}
	if len(rest) > 0 {
		return info, fmt.Errorf("%w: %d bytes after the PrivateKeyInfo", ErrPrivateKey, len(rest))
	}
	if info.Version != 0 && info.Version != 1 {
		return info, fmt.Errorf("%w: PrivateKeyInfo version %d", ErrPrivateKey, info.Version)
	}
	return info, nil
}

// ParsePKCS8PrivateKey decodes a DER PKCS#8 PrivateKeyInfo holding a
// GOST or O'zDSt private key. The privateKey content may be d
// little-endian (RFC 9215, OpenSSL), an OCTET STRING of it, an INTEGER
// (older writers), or d followed by multiplicative masks (d·m1·…·mk mod
// q, each little-endian, as CryptoPro exports). Errors wrap ErrPrivateKey.
func ParsePKCS8PrivateKey(der []byte) (*PrivateKey, error) {
	info, err := parsePrivateKeyInfo(der)
	if err != nil {
		return nil, err
	}
	t, c, ps, err := parseAlgorithm(info.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPrivateKey, err)
	}
	d, err := privateScalar(c, info.PrivateKey)
	if err != nil {
		return nil, err
	}
	priv, err := NewPrivateKeyOf(t, c, d)
	if err != nil {
		return nil, err
	}
	priv.ParamSet = ps
	return priv, nil
}

// privateScalar reads d from the content of a PKCS#8 privateKey.
func privateScalar(c *Curve, raw []byte) (*big.Int, error) {
	n := c.Size()
	if len(raw)%n != 0 { // not raw little-endian bytes: an OCTET STRING or INTEGER around d
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(raw, &v)
		if err != nil || len(rest) > 0 || v.Class != asn1.ClassUniversal {
			return nil, fmt.Errorf("%w: private key is %d bytes, neither a multiple of %d nor one DER value", ErrPrivateKey, len(raw), n)
		}
		switch v.Tag {
		case asn1.TagOctetString:
			raw = v.Bytes
		case asn1.TagInteger:
			var d *big.Int
			if _, err := asn1.Unmarshal(raw, &d); err != nil {
				return nil, fmt.Errorf("%w: bad INTEGER private key: %v", ErrPrivateKey, err)
			}
			return d, nil
		default:
			return nil, fmt.Errorf("%w: private key is a DER value with tag %d, want OCTET STRING or INTEGER", ErrPrivateKey, v.Tag)
		}
	}
	if len(raw) == 0 || len(raw)%n != 0 || len(raw)/n > 8 {
		return nil, fmt.Errorf("%w: private key is %d bytes, want a multiple of %d", ErrPrivateKey, len(raw), n)
	}
	// d·m1·…·mk mod q; with no mask this is d itself.
	fq := c.arith.fq
	acc := feFromBytes(reverse(raw[:n]))
	if fq.less(&acc) != 1 {
		return nil, fmt.Errorf("%w: d is not below q", ErrPrivateKey)
	}
	if len(raw) > n {
		fq.toMont(&acc, &acc)
		for i := n; i < len(raw); i += n {
			m := feFromBytes(reverse(raw[i : i+n]))
			if fq.less(&m) != 1 {
				return nil, fmt.Errorf("%w: mask %d is not below q", ErrPrivateKey, i/n)
			}
			fq.mul(&acc, &acc, &m) // Montgomery·plain = plain product; re-enter Montgomery form
			fq.toMont(&acc, &acc)
		}
		fq.fromMont(&acc, &acc)
	}
	return new(big.Int).SetBytes(acc.bytes(n)), nil
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i, v := range b {
		out[len(b)-1-i] = v
	}
	return out
}
