package gost

import (
	"encoding/asn1"
	"fmt"
	"math/big"
)

// ecPrivateKey is SEC 1's ECPrivateKey (RFC 5915 §3).
type ecPrivateKey struct {
	Version    int
	PrivateKey []byte
	Parameters asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey  asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

// ParseOzDStPKCS8PrivateKey decodes an O'zDSt 1092 private key in the
// PKCS#8 form that the E-IMZO clean-room client openimzo reports E-IMZO
// writing in its key files (a third party's finding, not checked
// against an E-IMZO file here): the algorithm 1.2.860.3.15.1.1.2.1 whose
// parameters are the bare parameter-set OID rather than a SEQUENCE, and a
// privateKey that is a SEC 1 ECPrivateKey with d big-endian; a SEC 1 key
// that names its curve itself; or a bare INTEGER (curve A). The GOST form
// (SEQUENCE of OIDs, d little-endian) is ParsePKCS8PrivateKey's. When the
// SEC 1 key carries its public key, it must be d·P. Errors wrap
// ErrPrivateKey.
func ParseOzDStPKCS8PrivateKey(der []byte) (*PrivateKey, error) {
	info, err := parsePrivateKeyInfo(der)
	if err != nil {
		return nil, err
	}
	if !info.Algorithm.Algorithm.Equal(OIDPublicKeyOzDSt) {
		return nil, fmt.Errorf("%w: algorithm %v is not O'zDSt 1092", ErrPrivateKey, info.Algorithm.Algorithm)
	}
	var curveOID asn1.ObjectIdentifier // from the AlgorithmIdentifier, if it names one
	if p := info.Algorithm.Parameters.FullBytes; len(p) > 0 {
		if _, err := asn1.Unmarshal(p, &curveOID); err != nil {
			var null asn1.RawValue
			if _, nerr := asn1.Unmarshal(p, &null); nerr != nil || null.Tag != asn1.TagNull {
				return nil, fmt.Errorf("%w: O'zDSt key parameters are neither a parameter-set OID nor NULL (the SEQUENCE form is ParsePKCS8PrivateKey's)", ErrPrivateKey)
			}
			curveOID = nil
		}
	}
	var ec ecPrivateKey
	if rest, err := asn1.Unmarshal(info.PrivateKey, &ec); err == nil && len(rest) == 0 {
		if ec.Version != 1 {
			return nil, fmt.Errorf("%w: ECPrivateKey version %d, want 1", ErrPrivateKey, ec.Version)
		}
		if named := ec.Parameters; len(named) > 0 {
			if curveOID == nil {
				curveOID = named
			} else if !named.Equal(curveOID) {
				return nil, fmt.Errorf("%w: ECPrivateKey names curve %v, the algorithm %v", ErrPrivateKey, named, curveOID)
			}
		}
		if curveOID == nil {
			return nil, fmt.Errorf("%w: O'zDSt key names no parameter set", ErrPrivateKey)
		}
		c, err := CurveByOID(curveOID)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrPrivateKey, err)
		}
		if len(ec.PrivateKey) == 0 || len(ec.PrivateKey) > c.Size() {
			return nil, fmt.Errorf("%w: ECPrivateKey d is %d bytes, want 1 to %d", ErrPrivateKey, len(ec.PrivateKey), c.Size())
		}
		priv, err := NewPrivateKeyOf(KeyOzDSt1092, c, new(big.Int).SetBytes(ec.PrivateKey))
		if err != nil {
			return nil, err
		}
		priv.ParamSet = curveOID.String()
		if ec.PublicKey.BitLength > 0 {
			var point []byte
			if rest, err := asn1.Unmarshal(ec.PublicKey.Bytes, &point); err != nil || len(rest) > 0 {
				return nil, fmt.Errorf("%w: ECPrivateKey public key is not an OCTET STRING", ErrPrivateKey)
			}
			pub, err := ParsePublicKeyOf(KeyOzDSt1092, c, point)
			if err != nil || !pub.Equal(&priv.PublicKey) {
				return nil, fmt.Errorf("%w: ECPrivateKey public key is not d·P", ErrPrivateKey)
			}
		}
		return priv, nil
	}
	// A bare INTEGER d on the curve the parameters name, else curve A.
	var d *big.Int
	if rest, err := asn1.Unmarshal(info.PrivateKey, &d); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: O'zDSt privateKey is neither a SEC 1 ECPrivateKey nor an INTEGER", ErrPrivateKey)
	}
	c := CurveCryptoProA
	if curveOID != nil {
		if c, err = CurveByOID(curveOID); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrPrivateKey, err)
		}
	}
	priv, err := NewPrivateKeyOf(KeyOzDSt1092, c, d)
	if err != nil {
		return nil, err
	}
	if curveOID != nil {
		priv.ParamSet = curveOID.String()
	}
	return priv, nil
}

// MarshalOzDStPKCS8PrivateKey encodes an O'zDSt 1092 key in the form
// ParseOzDStPKCS8PrivateKey reads first (bare parameter-set OID, SEC 1
// ECPrivateKey with d big-endian, the curve and the public key), for
// tests and for key files meant for E-IMZO-compatible readers.
func MarshalOzDStPKCS8PrivateKey(priv *PrivateKey) ([]byte, error) {
	if priv == nil || priv.D == nil || priv.Type != KeyOzDSt1092 {
		return nil, fmt.Errorf("%w: not an O'zDSt 1092 key", ErrPrivateKey)
	}
	ps, err := priv.paramSetOID()
	if err != nil {
		return nil, err
	}
	psDER, err := asn1.Marshal(ps)
	if err != nil {
		return nil, err
	}
	point, err := asn1.Marshal(priv.PublicKey.Bytes())
	if err != nil {
		return nil, err
	}
	ec, err := asn1.Marshal(ecPrivateKey{
		Version:    1,
		PrivateKey: priv.scalar(),
		Parameters: ps,
		PublicKey:  asn1.BitString{Bytes: point, BitLength: 8 * len(point)},
	})
	if err != nil {
		return nil, fmt.Errorf("gost: encoding ECPrivateKey: %w", err)
	}
	der, err := asn1.Marshal(pkcs8{
		Algorithm:  algorithmIdentifier{Algorithm: OIDPublicKeyOzDSt, Parameters: asn1.RawValue{FullBytes: psDER}},
		PrivateKey: ec,
	})
	clear(ec)
	if err != nil {
		return nil, fmt.Errorf("gost: encoding private key: %w", err)
	}
	return der, nil
}
