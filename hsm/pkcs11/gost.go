package pkcs11

import (
	"crypto"
	"encoding/asn1"
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk/gost"
)

// GOST keys on tokens (Rutoken, JaCarta, …). A token files a GOST key
// under CKK_GOSTR3410 (256-bit, GOST R 34.10-2001 or -2012) or the TC26
// CKK_GOSTR3410_512, with the curve's OID in CKA_GOSTR3410_PARAMS, the
// hash's in CKA_GOSTR3411_PARAMS (which tells 2001 from 2012-256), and the
// public point x‖y little-endian in CKA_VALUE. The key's certificate, when
// there is one, is the authority on the algorithm (2001, 2012 or
// O'zDSt). Keys sign a digest with CKM_GOSTR3410 / CKM_GOSTR3410_512; the
// signature is s‖r, as CMS carries it.

func isGOSTKeyType(t uint) bool { return t == p11.CKK_GOSTR3410 || t == ckkGOSTR3410_512 }

var (
	oidHash94Params   = asn1.ObjectIdentifier{1, 2, 643, 2, 2, 30, 1}
	errNoGOSTParams   = errors.New("GOST key without CKA_GOSTR3410_PARAMS")
	errGOSTBadPoint   = errors.New("GOST public key CKA_VALUE")
	errGOSTWrongCurve = errors.New("GOST key type does not match its curve's size")
)

// gostCurve reads CKA_GOSTR3410_PARAMS (a DER OID) and checks it fits the
// key type.
func gostCurve(keyType uint, params []byte) (*gost.Curve, error) {
	if len(params) == 0 {
		return nil, errNoGOSTParams
	}
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(params, &oid); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("CKA_GOSTR3410_PARAMS is not an OID")
	}
	c, err := gost.CurveByOID(oid)
	if err != nil {
		return nil, err
	}
	if (keyType == ckkGOSTR3410_512) != (c.Size() == 64) {
		return nil, fmt.Errorf("%w: key type 0x%x, curve %s", errGOSTWrongCurve, keyType, c.Name)
	}
	return c, nil
}

// gostKeyType is the algorithm of a token key without a certificate: the
// 512-bit type, or for 256-bit keys the hash parameters (the 94 hash's
// mean 2001, anything else 2012).
func gostKeyType(keyType uint, hashParams []byte) gost.KeyType {
	if keyType == ckkGOSTR3410_512 {
		return gost.KeyGOST2012_512
	}
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(hashParams, &oid); err == nil && len(rest) == 0 && oid.Equal(oidHash94Params) {
		return gost.KeyGOST2001
	}
	return gost.KeyGOST2012_256
}

// gostPublic decodes a GOST public key object. CKA_VALUE is the raw x‖y,
// or (some modules) a DER OCTET STRING around it.
func gostPublic(keyType uint, params, hashParams, value []byte) (*gost.PublicKey, error) {
	c, err := gostCurve(keyType, params)
	if err != nil {
		return nil, err
	}
	raw := value
	if len(value) != 2*c.Size() {
		var os []byte
		if rest, err := asn1.Unmarshal(value, &os); err == nil && len(rest) == 0 {
			raw = os
		}
	}
	pub, err := gost.ParsePublicKeyOf(gostKeyType(keyType, hashParams), c, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errGOSTBadPoint, err)
	}
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(params, &oid); err == nil {
		pub.ParamSet = oid.String()
	}
	return pub, nil
}

// gostAlgorithm names a GOST key's algorithm; without the public key, the
// token's key type alone (256-bit keys are taken for 2012).
func gostAlgorithm(keyType uint, pub *gost.PublicKey) hsm.KeyAlgorithm {
	t := gost.KeyGOST2012_256
	switch {
	case pub != nil:
		t = pub.Type
	case keyType == ckkGOSTR3410_512:
		t = gost.KeyGOST2012_512
	}
	return map[gost.KeyType]hsm.KeyAlgorithm{
		gost.KeyGOST2001: hsm.GOST2001, gost.KeyGOST2012_256: hsm.GOST2012_256,
		gost.KeyGOST2012_512: hsm.GOST2012_512, gost.KeyOzDSt1092: hsm.OzDSt1092,
	}[t]
}

// gostSignMechanism is CKM_GOSTR3410 for a 32-byte digest on a 256-bit key
// and CKM_GOSTR3410_512 for a 64-byte digest on a 512-bit one. The GOST
// hashes have no crypto.Hash, so the options must say none.
func gostSignMechanism(ref *keyRef, digest []byte, hf crypto.Hash, hasHash bool) (*p11.Mechanism, []byte, error) {
	if hasHash {
		return nil, nil, fmt.Errorf("a GOST key signs a GOST digest with crypto.Hash(0) as the options, not %v: %w", hf, hsm.ErrInvalidRequest)
	}
	mech, size := uint(p11.CKM_GOSTR3410), 32
	if ref.keyType == ckkGOSTR3410_512 {
		mech, size = ckmGOSTR3410_512, 64
	}
	if len(digest) != size {
		return nil, nil, fmt.Errorf("GOST digest is %d bytes, a %d-bit key needs %d: %w", len(digest), 8*size, size, hsm.ErrInvalidRequest)
	}
	return p11.NewMechanism(mech, nil), digest, nil
}
