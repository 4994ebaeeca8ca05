package pfx

// The PKCS#12 path beside go-pkcs12, for files it refuses: GOST and
// O'zDSt keys (in any protection: PBES2, or the PKCS#12 PBE ciphers of
// JDK and BouncyCastle key stores), GOST ciphers and PRFs in PBES2, and
// GOST MACs.

import (
	"crypto"
	"crypto/hmac"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/signet-agent/signet/sdk/gost"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// decodePBES2File decrypts a PKCS#12 file whose MAC and encryptions this
// package implements itself (pbe.go). A wrong password is
// pkcs12.ErrIncorrectPassword: a MAC mismatch or, in a file without MAC,
// a decryption that yields garbage. Everything is bounded like
// parseListing: file size, bag count, iteration counts.
func decodePBES2File(data, password []byte) (*decoded, error) {
	if len(data) > MaxFileSize {
		return nil, ErrTooLarge
	}
	var pfx pfxPDU
	if err := unmarshal(data, &pfx); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if pfx.Version != 3 || !pfx.AuthSafe.ContentType.Equal(oidData) {
		return nil, fmt.Errorf("%w: not a password-protected PKCS#12 version 3 file", ErrMalformed)
	}
	var authSafe []byte
	if err := unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		return nil, fmt.Errorf("%w: auth safe: %v", ErrMalformed, err)
	}
	hasMAC := len(pfx.MacData.Mac.Algorithm.Algorithm) > 0
	if hasMAC {
		mac, err := computeMAC(pfx.MacData.Mac.Algorithm.Algorithm, password, pfx.MacData.MacSalt, pfx.MacData.Iterations, authSafe)
		if err != nil {
			return nil, err
		}
		if !hmac.Equal(mac, pfx.MacData.Mac.Digest) {
			return nil, pkcs12.ErrIncorrectPassword
		}
	}
	var cis []contentInfo
	if err := unmarshal(authSafe, &cis); err != nil {
		return nil, fmt.Errorf("%w: auth safe: %v", ErrMalformed, err)
	}
	// Without a MAC only garbage out of a decryption says the password is
	// wrong.
	wrongPassword := func(err error) error {
		if !hasMAC {
			return pkcs12.ErrIncorrectPassword
		}
		return err
	}
	d := &decoded{}
	nbags := 0
	for _, ci := range cis {
		var bagsDER []byte
		switch {
		case ci.ContentType.Equal(oidData):
			if err := unmarshal(ci.Content.Bytes, &bagsDER); err != nil {
				return nil, fmt.Errorf("%w: safe contents: %v", ErrMalformed, err)
			}
		case ci.ContentType.Equal(oidEncryptedData):
			var ed encryptedData
			if err := unmarshal(ci.Content.Bytes, &ed); err != nil {
				return nil, fmt.Errorf("%w: encrypted data: %v", ErrMalformed, err)
			}
			pt, err := pbeDecrypt(ed.EncryptedContentInfo.Algorithm, password, ed.EncryptedContentInfo.Content)
			if errors.Is(err, errDecrypt) {
				return nil, wrongPassword(fmt.Errorf("%w: encrypted data: %v", ErrMalformed, err))
			}
			if err != nil {
				return nil, err
			}
			bagsDER = pt
		default:
			return nil, fmt.Errorf("%w: content type %v", ErrMalformed, ci.ContentType)
		}
		var bags []safeBag
		if err := unmarshal(bagsDER, &bags); err != nil {
			return nil, wrongPassword(fmt.Errorf("%w: safe contents: %v", ErrMalformed, err))
		}
		for _, bag := range bags {
			if nbags++; nbags > maxBags {
				return nil, fmt.Errorf("%w: more than %d bags", ErrMalformed, maxBags)
			}
			if err := d.addBag(bag, password, wrongPassword); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

func (d *decoded) addBag(bag safeBag, password []byte, wrongPassword func(error) error) error {
	name, id := bagAttributes(bag.Attributes)
	switch {
	case bag.ID.Equal(oidShroudedKeyBag):
		var epki encryptedPrivateKeyInfo
		if err := unmarshal(bag.Value.Bytes, &epki); err != nil {
			return fmt.Errorf("%w: key bag: %v", ErrMalformed, err)
		}
		der, err := pbeDecrypt(epki.Algorithm, password, epki.Data)
		if errors.Is(err, errDecrypt) {
			return wrongPassword(fmt.Errorf("%w: key bag: %v", ErrMalformed, err))
		}
		if err != nil {
			return err
		}
		k, err := parsePrivateKey(der)
		clear(der)
		if err != nil {
			return wrongPassword(err)
		}
		d.keys = append(d.keys, decodedKey{friendlyName: name, localKeyID: id, key: k})
	case bag.ID.Equal(oidKeyBag):
		k, err := parsePrivateKey(bag.Value.Bytes)
		if err != nil {
			return err
		}
		d.keys = append(d.keys, decodedKey{friendlyName: name, localKeyID: id, key: k})
	case bag.ID.Equal(oidCertBag):
		var cb certBag
		if err := unmarshal(bag.Value.Bytes, &cb); err != nil {
			return fmt.Errorf("%w: certificate bag: %v", ErrMalformed, err)
		}
		if !cb.ID.Equal(oidX509Cert) {
			return nil
		}
		c, err := parseCertificate(cb.Data)
		if err != nil {
			return err
		}
		d.certs = append(d.certs, c)
	}
	return nil
}

// parsePrivateKey reads a PKCS#8 PrivateKeyInfo: RSA, ECDSA, Ed25519, or a
// GOST R 34.10-2001/2012 or O'zDSt 1092 key (gost.ParsePKCS8PrivateKey,
// and for O'zDSt also gost.ParseOzDStPKCS8PrivateKey), chosen by the key's
// algorithm OID.
func parsePrivateKey(der []byte) (crypto.Signer, error) {
	var info struct {
		Version   int
		Algorithm pkix.AlgorithmIdentifier
	}
	if _, err := asn1.Unmarshal(der, &info); err == nil {
		if t, isGOST := gost.KeyTypeByOID(info.Algorithm.Algorithm); isGOST {
			k, err := gost.ParsePKCS8PrivateKey(der)
			if err != nil && t == gost.KeyOzDSt1092 {
				// E-IMZO's own layout (SEC 1 inside, d big-endian).
				if ok, oerr := gost.ParseOzDStPKCS8PrivateKey(der); oerr == nil {
					return ok, nil
				}
			}
			if err != nil {
				return nil, fmt.Errorf("%w: private key: %v", ErrMalformed, err)
			}
			return k, nil
		}
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: private key: %v", ErrMalformed, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported private key type %T", ErrMalformed, k)
	}
	return s, nil
}

// parseCertificate parses a certificate bag's certificate. crypto/x509
// leaves the public key of GOST and O'zDSt certificates unparsed; it is
// filled in here as a *gost.PublicKey, so that keys pair with their
// certificates.
func parseCertificate(der []byte) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %v", ErrMalformed, err)
	}
	if c.PublicKey == nil {
		if pub, err := gost.CertificatePublicKey(c); err == nil {
			c.PublicKey = pub
		}
	}
	return c, nil
}
