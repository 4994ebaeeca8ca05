package dstu

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/signet-agent/signet/sdk/gost"
)

// Object identifiers of the Ukrainian algorithms (the 1.2.804.2.1.1.1
// arc of the State Service of Special Communications).
var (
	// OIDDSTU4145 is DSTU 4145-2002 with GOST 34.311-95, little-endian
	// encodings: the public-key algorithm of Ukrainian certificates and the
	// signature algorithm of their CMS SignerInfos.
	OIDDSTU4145 = asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 1, 3, 1, 1}
	// OIDGOST34311 is the GOST 34.311-95 digest.
	OIDGOST34311 = asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 1, 2, 1}
)

// maxParams bounds the DER of a parameter set (the largest explicit set,
// m = 431 with a DKE, is about 330 bytes).
const maxParams = 1024

// params is DSTU 4145's algorithm parameters: a named or explicit curve
// and the S-box (DKE) of the hash, absent meaning SBoxDKE.
type params struct {
	Curve asn1.RawValue
	DKE   []byte `asn1:"optional"`
}

// ecBinary is an explicit curve; b and the compressed base point are
// little-endian, as in the rest of the standard's encodings.
type ecBinary struct {
	Version int `asn1:"optional,explicit,default:0,tag:0"`
	Field   struct {
		M    int
		Poly asn1.RawValue // INTEGER k (trinomial) or SEQUENCE {k1, k2, k3}
	}
	A  int
	B  []byte
	N  *big.Int
	BP []byte
}

// ParseParameters reads DSTU 4145 algorithm parameters (the parameters of
// an AlgorithmIdentifier with OIDDSTU4145): a curve by OID or by explicit
// parameters, which must be one of the standard's curves, and the
// optional 64-byte DKE S-box (nil result: the default, SBoxDKE).
func ParseParameters(der []byte) (*Curve, *gost.SBox, error) {
	if len(der) > maxParams {
		return nil, nil, fmt.Errorf("%w: %d bytes of parameters, at most %d", ErrParameters, len(der), maxParams)
	}
	var p params
	rest, err := asn1.Unmarshal(der, &p)
	if err != nil || len(rest) > 0 {
		return nil, nil, fmt.Errorf("%w: parameters are not a DER SEQUENCE {curve, DKE}", ErrParameters)
	}
	c, err := parseCurve(p.Curve)
	if err != nil {
		return nil, nil, err
	}
	if p.DKE == nil || bytes.Equal(p.DKE, PackedDKE) {
		return c, nil, nil
	}
	s, err := UnpackSBox(p.DKE)
	if err != nil {
		return nil, nil, err
	}
	return c, s, nil
}

func parseCurve(raw asn1.RawValue) (*Curve, error) {
	switch {
	case raw.Class == asn1.ClassUniversal && raw.Tag == asn1.TagOID:
		var oid asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(raw.FullBytes, &oid); err != nil {
			return nil, fmt.Errorf("%w: curve OID: %v", ErrParameters, err)
		}
		return CurveByOID(oid)
	case raw.Class == asn1.ClassUniversal && raw.Tag == asn1.TagSequence:
		return parseExplicit(raw.FullBytes)
	}
	return nil, fmt.Errorf("%w: curve is neither an OID nor explicit parameters", ErrParameters)
}

// parseExplicit matches explicit parameters to the standard curve they
// describe. Curves outside the standard are refused: their order is not
// known to be prime and their size not known to be safe.
func parseExplicit(der []byte) (*Curve, error) {
	var e ecBinary
	if rest, err := asn1.Unmarshal(der, &e); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: explicit curve parameters are malformed", ErrParameters)
	}
	var poly []int
	switch e.Field.Poly.Tag {
	case asn1.TagInteger:
		var k int
		if _, err := asn1.Unmarshal(e.Field.Poly.FullBytes, &k); err != nil {
			return nil, fmt.Errorf("%w: trinomial exponent: %v", ErrParameters, err)
		}
		poly = []int{k}
	case asn1.TagSequence:
		var ks struct{ K1, K2, K3 int }
		if rest, err := asn1.Unmarshal(e.Field.Poly.FullBytes, &ks); err != nil || len(rest) > 0 {
			return nil, fmt.Errorf("%w: pentanomial exponents are malformed", ErrParameters)
		}
		poly = []int{ks.K1, ks.K2, ks.K3}
	default:
		return nil, fmt.Errorf("%w: reduction polynomial is neither INTEGER nor SEQUENCE", ErrParameters)
	}
	for _, c := range Curves() {
		if c.M != e.Field.M {
			continue
		}
		if len(poly) != len(c.Poly) || e.A != c.A || e.N == nil || e.N.Cmp(c.N) != 0 {
			break
		}
		for i := range poly {
			if poly[i] != c.Poly[i] {
				return nil, fmt.Errorf("%w: explicit m = %d curve with another polynomial", ErrParameters, c.M)
			}
		}
		b, ok := c.f.setBytes(reverse(e.B))
		if !ok || !equal(&b, &c.b) {
			break
		}
		if len(e.BP) != c.f.byteLen() {
			break
		}
		bp, ok := c.f.setBytes(reverse(e.BP))
		if !ok {
			break
		}
		g, err := c.decompress(&bp)
		if err != nil || !equal(&g.x, &c.gx) || !equal(&g.y, &c.gy) {
			break
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: explicit m = %d parameters are not one of DSTU 4145's curves", ErrParameters, e.Field.M)
}

// MarshalParameters writes c's parameters by OID, with the default DKE.
func MarshalParameters(c *Curve) ([]byte, error) {
	if c.OID == nil {
		return nil, fmt.Errorf("%w: %s has no OID", ErrParameters, c.Name)
	}
	oid, err := asn1.Marshal(c.OID)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(params{Curve: asn1.RawValue{FullBytes: oid}, DKE: PackedDKE})
}

// maxSPKI bounds a SubjectPublicKeyInfo.
const maxSPKI = 2048

type spki struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

// ErrNotDSTU is returned (wrapped) by ParsePKIXPublicKey for a key of
// another algorithm.
var ErrNotDSTU = errors.New("dstu: not a DSTU 4145 key")

// ParsePKIXPublicKey reads a certificate's SubjectPublicKeyInfo with
// OIDDSTU4145: the parameters (see ParseParameters) and the compressed key
// in an OCTET STRING inside the BIT STRING, little-endian.
func ParsePKIXPublicKey(der []byte) (*PublicKey, error) {
	if len(der) > maxSPKI {
		return nil, fmt.Errorf("%w: SubjectPublicKeyInfo of %d bytes, at most %d", ErrPublicKey, len(der), maxSPKI)
	}
	var s spki
	if rest, err := asn1.Unmarshal(der, &s); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: SubjectPublicKeyInfo is not DER", ErrPublicKey)
	}
	if !s.Algorithm.Algorithm.Equal(OIDDSTU4145) {
		return nil, fmt.Errorf("%w: algorithm %v", ErrNotDSTU, s.Algorithm.Algorithm)
	}
	c, sbox, err := ParseParameters(s.Algorithm.Parameters.FullBytes)
	if err != nil {
		return nil, err
	}
	var key []byte
	if rest, err := asn1.Unmarshal(s.PublicKey.RightAlign(), &key); err != nil || len(rest) > 0 || s.PublicKey.BitLength%8 != 0 {
		return nil, fmt.Errorf("%w: public key is not an OCTET STRING", ErrPublicKey)
	}
	pub, err := ParseCompressed(c, key)
	if err != nil {
		return nil, err
	}
	pub.SBox = sbox
	return pub, nil
}

// MarshalPKIXPublicKey writes pub as ParsePKIXPublicKey reads it (curve by
// OID, default DKE).
func MarshalPKIXPublicKey(pub *PublicKey) ([]byte, error) {
	p, err := MarshalParameters(pub.Curve)
	if err != nil {
		return nil, err
	}
	key, err := asn1.Marshal(pub.Compressed())
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(spki{
		Algorithm: pkix.AlgorithmIdentifier{Algorithm: OIDDSTU4145, Parameters: asn1.RawValue{FullBytes: p}},
		PublicKey: asn1.BitString{Bytes: key, BitLength: 8 * len(key)},
	})
}

// privateKeyInfo is PKCS#8 PrivateKeyInfo as Ukrainian containers hold a
// DSTU key: the scalar d as a little-endian OCTET STRING, the attributes
// (IIT's second, key-agreement key among them) as they are.
type privateKeyInfo struct {
	Version    int
	Algorithm  pkix.AlgorithmIdentifier
	PrivateKey []byte
	Attributes asn1.RawValue `asn1:"optional,tag:0"`
}

// maxPrivateKeyInfo bounds a decrypted key.
const maxPrivateKeyInfo = 16 << 10

// ParsePrivateKey reads a PKCS#8 PrivateKeyInfo holding a DSTU 4145 key (the
// plaintext of a Key-6.dat or of a PKCS#12 key bag). Trailing bytes after
// the DER (block padding) are ignored.
func ParsePrivateKey(der []byte) (*PrivateKey, error) {
	if len(der) > maxPrivateKeyInfo {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrPrivateKey, len(der), maxPrivateKeyInfo)
	}
	var p privateKeyInfo
	if _, err := asn1.Unmarshal(der, &p); err != nil {
		return nil, fmt.Errorf("%w: not a DER PrivateKeyInfo", ErrPrivateKey)
	}
	if !p.Algorithm.Algorithm.Equal(OIDDSTU4145) {
		return nil, fmt.Errorf("%w: algorithm %v", ErrNotDSTU, p.Algorithm.Algorithm)
	}
	c, sbox, err := ParseParameters(p.Algorithm.Parameters.FullBytes)
	if err != nil {
		return nil, err
	}
	if len(p.PrivateKey) == 0 || len(p.PrivateKey) > 2*c.f.byteLen() {
		return nil, fmt.Errorf("%w: scalar of %d bytes for %s", ErrPrivateKey, len(p.PrivateKey), c.Name)
	}
	d := new(big.Int).SetBytes(reverse(p.PrivateKey))
	k, err := NewPrivateKey(c, d)
	if err != nil {
		return nil, err
	}
	k.SBox = sbox
	return k, nil
}

// MarshalPrivateKey writes k as ParsePrivateKey reads it (no attributes).
func MarshalPrivateKey(k *PrivateKey) ([]byte, error) {
	p, err := MarshalParameters(k.Curve)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(privateKeyInfo{
		Algorithm:  pkix.AlgorithmIdentifier{Algorithm: OIDDSTU4145, Parameters: asn1.RawValue{FullBytes: p}},
		PrivateKey: reverse(k.D.FillBytes(make([]byte, (k.Curve.nBits+7)/8))),
	})
}
