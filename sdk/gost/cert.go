package gost

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
)

// ErrNotGOST is returned (wrapped) when a certificate's key or signature
// is not a GOST or O'zDSt one, so a caller can fall back to crypto/x509.
var ErrNotGOST = errors.New("gost: not a GOST algorithm")

// CertificatePublicKey returns the GOST or O'zDSt public key of cert,
// which crypto/x509 leaves unparsed (cert.PublicKey is nil for these
// algorithms). It wraps ErrNotGOST for other keys and ErrPublicKey for a
// malformed GOST key.
func CertificatePublicKey(cert *x509.Certificate) (*PublicKey, error) {
	if cert == nil {
		return nil, fmt.Errorf("%w: nil certificate", ErrNotGOST)
	}
	var info spki
	if _, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &info); err != nil {
		return nil, fmt.Errorf("%w: certificate key: %v", ErrPublicKey, err)
	}
	if _, ok := KeyTypeByOID(info.Algorithm.Algorithm); !ok {
		return nil, fmt.Errorf("%w: certificate key algorithm %v", ErrNotGOST, info.Algorithm.Algorithm)
	}
	return ParsePKIXPublicKey(cert.RawSubjectPublicKeyInfo)
}

// KeyTypeBySignatureOID returns the key type whose signature OID (or, as
// OpenSSL writes in CMS, whose key OID) is oid.
func KeyTypeBySignatureOID(oid asn1.ObjectIdentifier) (KeyType, bool) {
	for t := KeyGOST2001; t <= KeyOzDSt1092; t++ {
		if oid.Equal(t.SignatureOID()) || oid.Equal(t.KeyOID()) {
			return t, true
		}
	}
	return 0, false
}

// certificate is the outer structure of an X.509 certificate.
type certificate struct {
	TBS       asn1.RawValue
	Algorithm algorithmIdentifier
	Signature asn1.BitString
}

// CheckCertificateSignature verifies that parent's GOST or O'zDSt key
// signed cert: the signature (s‖r in the BIT STRING, RFC 4491 §2.2.2 /
// RFC 9215) over the hash of the TBSCertificate that the signature
// algorithm names. It wraps ErrNotGOST when cert is not signed with a
// GOST algorithm, ErrPublicKey when parent has no usable GOST key, and
// ErrSignature when the signature does not verify.
func CheckCertificateSignature(cert, parent *x509.Certificate) error {
	if cert == nil || parent == nil {
		return fmt.Errorf("%w: nil certificate", ErrNotGOST)
	}
	var c certificate
	if _, err := asn1.Unmarshal(cert.Raw, &c); err != nil {
		return fmt.Errorf("%w: certificate: %v", ErrSignature, err)
	}
	t, ok := KeyTypeBySignatureOID(c.Algorithm.Algorithm)
	if !ok {
		return fmt.Errorf("%w: certificate signature algorithm %v", ErrNotGOST, c.Algorithm.Algorithm)
	}
	pub, err := CertificatePublicKey(parent)
	if err != nil {
		return err
	}
	if pub.Curve.Size() != map[bool]int{true: 64, false: 32}[t == KeyGOST2012_512] {
		return fmt.Errorf("%w: a %s signature but the issuer has a %s key", ErrPublicKey, t, pub.Type)
	}
	if c.Signature.BitLength%8 != 0 {
		return fmt.Errorf("%w: signature BIT STRING is not whole bytes", ErrSignature)
	}
	h := t.NewHash()
	h.Write(c.TBS.FullBytes)
	return Verify(pub, h.Sum(nil), c.Signature.Bytes)
}
