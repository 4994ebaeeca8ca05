package pfx

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
)

// EncodeIterations is the PBKDF2 iteration count EncodeTC26 uses for the
// key and the MAC (OpenSSL's default).
const EncodeIterations = 2048

// EncodeTC26 writes a PKCS#12 file the way the TC26 profile does (RFC
// 9548, what OpenSSL's GOST engine writes with -keypbe
// kuznyechik-ctr-acpkm -macalg md_gost12_512): the PKCS#8 key (for a GOST
// key, gost.MarshalPKCS8PrivateKey) in a shrouded key bag under PBES2
// with PBKDF2-HMAC-Streebog-512 and Kuznyechik CTR-ACPKM, the
// certificates (leaf first) in plain certificate bags so that the file
// lists without the password, and a MAC with HMAC-Streebog-512 keyed by
// PBKDF2 (RFC 9548 §3). The leaf's SHA-1 is the localKeyId; name, if not
// empty, is the friendlyName of key and leaf. rnd nil means crypto/rand.
func EncodeTC26(rnd io.Reader, pkcs8 []byte, certs []*x509.Certificate, name string, password []byte) ([]byte, error) {
	return encodeTC26(rnd, pkcs8, certs, name, password, EncodeIterations)
}

// encodeTC26 is EncodeTC26 with iter iterations (fewer for fuzz seeds).
func encodeTC26(rnd io.Reader, pkcs8 []byte, certs []*x509.Certificate, name string, password []byte, iter int) ([]byte, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if len(pkcs8) == 0 {
		return nil, errors.New("pfx: no private key to encode")
	}
	if len(certs) == 0 || certs[0] == nil {
		return nil, errors.New("pfx: no certificate to encode")
	}
	id := sha1.Sum(certs[0].Raw)
	attrs, err := bagAttrs(name, id[:])
	if err != nil {
		return nil, err
	}
	var certBags []safeBag
	for i, c := range certs {
		if c == nil {
			return nil, fmt.Errorf("pfx: certificate %d is nil", i)
		}
		cb, err := asn1.Marshal(certBag{ID: oidX509Cert, Data: c.Raw})
		if err != nil {
			return nil, fmt.Errorf("pfx: encoding certificate %d: %w", i, err)
		}
		bag := safeBag{ID: oidCertBag, Value: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: cb}}
		if i == 0 {
			bag.Attributes = attrs
		}
		certBags = append(certBags, bag)
	}
	alg, enc, err := pbes2EncryptKuznyechik(rnd, password, pkcs8, iter)
	if err != nil {
		return nil, fmt.Errorf("pfx: encrypting the key: %w", err)
	}
	epki, err := asn1.Marshal(encryptedPrivateKeyInfo{Algorithm: alg, Data: enc})
	if err != nil {
		return nil, fmt.Errorf("pfx: encoding the key: %w", err)
	}
	keyBags := []safeBag{{ID: oidShroudedKeyBag, Value: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: epki}, Attributes: attrs}}

	var cis []contentInfo
	for _, bags := range [][]safeBag{certBags, keyBags} {
		ci, err := dataContentInfo(bags)
		if err != nil {
			return nil, err
		}
		cis = append(cis, ci)
	}
	authSafe, err := asn1.Marshal(cis)
	if err != nil {
		return nil, fmt.Errorf("pfx: encoding the auth safe: %w", err)
	}
	salt := make([]byte, 8)
	if _, err := io.ReadFull(rnd, salt); err != nil {
		return nil, fmt.Errorf("pfx: random MAC salt: %w", err)
	}
	mac, err := computeMAC(oidStreebog512, password, salt, iter, authSafe)
	if err != nil {
		return nil, fmt.Errorf("pfx: MAC: %w", err)
	}
	authSafeCI, err := octetContentInfo(authSafe)
	if err != nil {
		return nil, err
	}
	var md macData
	md.Mac.Algorithm = pkix.AlgorithmIdentifier{Algorithm: oidStreebog512, Parameters: asn1NULL}
	md.Mac.Digest = mac
	md.MacSalt = salt
	md.Iterations = iter
	out, err := asn1.Marshal(pfxPDU{Version: 3, AuthSafe: authSafeCI, MacData: md})
	if err != nil {
		return nil, fmt.Errorf("pfx: encoding the file: %w", err)
	}
	return out, nil
}

// bagAttrs are the localKeyId and, if name is set, friendlyName attributes.
func bagAttrs(name string, id []byte) ([]attribute, error) {
	idDER, err := asn1.Marshal(id)
	if err != nil {
		return nil, err
	}
	attrs := []attribute{{ID: oidLocalKeyID, Value: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: idDER}}}
	if name != "" {
		var bmp []byte
		for _, c := range utf16.Encode([]rune(name)) {
			bmp = append(bmp, byte(c>>8), byte(c))
		}
		nameDER, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagBMPString, Bytes: bmp})
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, attribute{ID: oidFriendlyName, Value: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: nameDER}})
	}
	return attrs, nil
}

// dataContentInfo wraps SafeContents in a data ContentInfo.
func dataContentInfo(bags []safeBag) (contentInfo, error) {
	der, err := asn1.Marshal(bags)
	if err != nil {
		return contentInfo{}, fmt.Errorf("pfx: encoding safe contents: %w", err)
	}
	return octetContentInfo(der)
}

// octetContentInfo is a data ContentInfo holding der as its OCTET STRING.
func octetContentInfo(der []byte) (contentInfo, error) {
	os, err := asn1.Marshal(der)
	if err != nil {
		return contentInfo{}, fmt.Errorf("pfx: encoding content: %w", err)
	}
	return contentInfo{ContentType: oidData, Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: os}}, nil
}
