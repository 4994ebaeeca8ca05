package dstu

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
)

// PKCS#12 as Ukrainian CAs issue DSTU keys: the key in a shrouded key bag
// under the GOST PBES2 scheme (see ParseEncryptedPrivateKey), certificates
// in certificate bags, plain or in EncryptedData under the same scheme.

var (
	oidPKCS7Data          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidPKCS7EncryptedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidKeyBag             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKeyBag     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidCertBag            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidX509Certificate    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
)

// maxPKCS12Items bounds the content infos and bags read from one file.
const maxPKCS12Items = 64

type pfxPDU struct {
	Version  int
	AuthSafe contentInfo
	MacData  asn1.RawValue `asn1:"optional"`
}

// contentInfo's and safeBag's [0] EXPLICIT RawValues hold the whole
// tagged element: Bytes is the inner element's DER.
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type encryptedData struct {
	Version int
	Info    struct {
		ContentType asn1.ObjectIdentifier
		Algorithm   pkix.AlgorithmIdentifier
		Content     []byte `asn1:"tag:0,optional"`
	}
}

type safeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue `asn1:"tag:0,explicit"`
	Attributes asn1.RawValue `asn1:"optional"`
}

type certBag struct {
	ID   asn1.ObjectIdentifier
	Data []byte `asn1:"tag:0,explicit"`
}

// PKCS12 is what a DSTU PKCS#12 file holds.
type PKCS12 struct {
	// Key is the signing key (the first DSTU key of the file).
	Key *PrivateKey
	// Certificate is the certificate of Key when the file has it; Others
	// are the file's other certificates.
	Certificate *x509.Certificate
	Others      []*x509.Certificate
}

// isDSTUPKCS12 reports whether data is a PFX whose key bags are encrypted
// under the GOST PBES2 scheme (without a password).
func isDSTUPKCS12(data []byte) bool {
	safes, err := authSafes(data)
	if err != nil {
		return false
	}
	for _, ci := range safes {
		if !ci.ContentType.Equal(oidPKCS7Data) {
			continue
		}
		bags, err := safeContents(ci)
		if err != nil {
			continue
		}
		for _, b := range bags {
			if b.ID.Equal(oidShroudedKeyBag) && IsEncryptedPrivateKey(b.Value.Bytes) {
				return true
			}
		}
	}
	return false
}

// IsPKCS12 reports whether data is a PKCS#12 file holding a DSTU key
// encrypted under the GOST PBES2 scheme (checked without a password).
func IsPKCS12(data []byte) bool { return isDSTUPKCS12(data) }

func authSafes(data []byte) ([]contentInfo, error) {
	if len(data) > MaxContainer {
		return nil, fmt.Errorf("dstu: PKCS#12 file of %d bytes, at most %d", len(data), MaxContainer)
	}
	var p pfxPDU
	if rest, err := asn1.Unmarshal(data, &p); err != nil || len(rest) > 0 {
		return nil, errors.New("dstu: not a DER PKCS#12 PFX")
	}
	if p.Version != 3 || !p.AuthSafe.ContentType.Equal(oidPKCS7Data) {
		return nil, fmt.Errorf("dstu: PKCS#12 version %d with content %v, want 3 and data", p.Version, p.AuthSafe.ContentType)
	}
	var octets []byte
	if rest, err := asn1.Unmarshal(p.AuthSafe.Content.Bytes, &octets); err != nil || len(rest) > 0 {
		return nil, errors.New("dstu: PKCS#12 authSafe is not an OCTET STRING")
	}
	var safes []contentInfo
	if rest, err := asn1.Unmarshal(octets, &safes); err != nil || len(rest) > 0 {
		return nil, errors.New("dstu: PKCS#12 AuthenticatedSafe is malformed")
	}
	if len(safes) > maxPKCS12Items {
		return nil, fmt.Errorf("dstu: PKCS#12 with %d content infos, at most %d", len(safes), maxPKCS12Items)
	}
	return safes, nil
}

// safeContents reads the bags of a data content info.
func safeContents(ci contentInfo) ([]safeBag, error) {
	var octets []byte
	if rest, err := asn1.Unmarshal(ci.Content.Bytes, &octets); err != nil || len(rest) > 0 {
		return nil, errors.New("dstu: PKCS#12 data is not an OCTET STRING")
	}
	return parseBags(octets)
}

func parseBags(der []byte) ([]safeBag, error) {
	var bags []safeBag
	if rest, err := asn1.Unmarshal(der, &bags); err != nil || len(rest) > 0 {
		return nil, errors.New("dstu: PKCS#12 SafeContents is malformed")
	}
	if len(bags) > maxPKCS12Items {
		return nil, fmt.Errorf("dstu: PKCS#12 with %d bags, at most %d", len(bags), maxPKCS12Items)
	}
	return bags, nil
}

// ParsePKCS12 decrypts a PKCS#12 file holding a DSTU key with password.
// The file's MAC is not checked (its algorithm in Ukrainian files is not
// established from public material); a wrong password shows as ErrPassword
// when the key does not decrypt, and the certificate is the one whose
// public key matches the decrypted key.
func ParsePKCS12(data, password []byte) (*PKCS12, error) {
	safes, err := authSafes(data)
	if err != nil {
		return nil, err
	}
	var out PKCS12
	var certs []*x509.Certificate
	for _, ci := range safes {
		var bags []safeBag
		switch {
		case ci.ContentType.Equal(oidPKCS7Data):
			if bags, err = safeContents(ci); err != nil {
				return nil, err
			}
		case ci.ContentType.Equal(oidPKCS7EncryptedData):
			var ed encryptedData
			if rest, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil || len(rest) > 0 {
				return nil, errors.New("dstu: PKCS#12 EncryptedData is malformed")
			}
			plain, err := DecryptPBES2Data(ed.Info.Algorithm, ed.Info.Content, password)
			if err != nil {
				return nil, err
			}
			if bags, err = parseBags(plain); err != nil {
				return nil, fmt.Errorf("%w (%v)", ErrPassword, err)
			}
		default:
			continue // enveloped data and the like: not what a key file needs
		}
		for _, b := range bags {
			switch {
			case b.ID.Equal(oidShroudedKeyBag) && out.Key == nil:
				k, err := ParseEncryptedPrivateKey(b.Value.Bytes, password)
				if errors.Is(err, ErrNotDSTU) {
					continue
				}
				if err != nil {
					return nil, err
				}
				out.Key = k
			case b.ID.Equal(oidKeyBag) && out.Key == nil:
				k, err := ParsePrivateKey(b.Value.Bytes)
				if errors.Is(err, ErrNotDSTU) {
					continue
				}
				if err != nil {
					return nil, err
				}
				out.Key = k
			case b.ID.Equal(oidCertBag):
				var cb certBag
				if rest, err := asn1.Unmarshal(b.Value.Bytes, &cb); err != nil || len(rest) > 0 || !cb.ID.Equal(oidX509Certificate) {
					continue
				}
				if c, err := x509.ParseCertificate(cb.Data); err == nil {
					certs = append(certs, c)
				}
			}
		}
	}
	if out.Key == nil {
		return nil, errors.New("dstu: PKCS#12 file holds no DSTU 4145 key")
	}
	for _, c := range certs {
		if pub, err := ParsePKIXPublicKey(c.RawSubjectPublicKeyInfo); err == nil && out.Certificate == nil && pub.Equal(&out.Key.PublicKey) {
			out.Certificate = c
			continue
		}
		out.Others = append(out.Others, c)
	}
	return &out, nil
}
