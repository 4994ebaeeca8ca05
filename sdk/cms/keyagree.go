package cms

// Key agreement recipients (KeyAgreeRecipientInfo, RFC 5652 §6.2.2,
// RFC 5753): ephemeral-static ECDH, in both directions; the KDF and curves
// are in ecdh.go.

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// envKeyAgreeRecipient builds a KeyAgreeRecipientInfo with a fresh ephemeral
// key on the recipient's curve.
func envKeyAgreeRecipient(rnd io.Reader, cert *x509.Certificate, pub *ecdsa.PublicKey, cek []byte, opts EncryptOptions) ([]byte, int64, error) {
	if err := envCheckSKI(cert, opts); err != nil {
		return nil, 0, err
	}
	curve, _, err := envECDHCurve(pub)
	if err != nil {
		return nil, 0, err
	}
	peer, err := pub.ECDH()
	if err != nil {
		return nil, 0, fmt.Errorf("recipient EC key: %w", err)
	}
	eph, err := curve.GenerateKey(rnd)
	if err != nil {
		return nil, 0, fmt.Errorf("generate ephemeral EC key: %w", err)
	}
	z, err := eph.ECDH(peer)
	if err != nil {
		return nil, 0, fmt.Errorf("ECDH: %w", err)
	}
	defer clear(z)
	kek, err := envDeriveKEK(crypto.SHA256, z, envAES256WrapAlg, opts.ukm, 32)
	if err != nil {
		return nil, 0, err
	}
	defer clear(kek)
	wrapped, err := keyWrap(kek, cek)
	if err != nil {
		return nil, 0, err
	}

	var b cryptobyte.Builder
	b.AddASN1(envTagCtx1Cons, func(b *cryptobyte.Builder) { // [1] KeyAgreeRecipientInfo
		b.AddASN1Int64(3)
		b.AddASN1(envTagCtx0Cons, func(b *cryptobyte.Builder) { // originator [0] EXPLICIT
			b.AddASN1(envTagCtx1Cons, func(b *cryptobyte.Builder) { // originatorKey [1] IMPLICIT OriginatorPublicKey
				b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(OIDPublicKeyECDSA)
					b.AddASN1NULL() // RFC 5753 §3.1.1: NULL parameters
				})
				b.AddASN1BitString(eph.PublicKey().Bytes())
			})
		})
		if opts.ukm != nil {
			b.AddASN1(envTagCtx1Cons, func(b *cryptobyte.Builder) { // ukm [1] EXPLICIT
				b.AddASN1OctetString(opts.ukm)
			})
		}
		b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { // keyEncryptionAlgorithm
			b.AddASN1ObjectIdentifier(envOIDStdDHSHA256KDF)
			b.AddBytes(envAES256WrapAlg) // KeyWrapAlgorithm, as fed to the KDF
		})
		b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { // RecipientEncryptedKeys
			b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
				envAddRecipientID(b, cert, opts.UseSubjectKeyID, true)
				b.AddASN1OctetString(wrapped)
			})
		})
	})
	ri, err := b.Bytes()
	return ri, 3, err
}

// envKeyAgree is a parsed KeyAgreeRecipientInfo.
type envKeyAgree struct {
	ephemeralPoint []byte
	ephemeralCurve asn1.ObjectIdentifier // from the algorithm parameters, if named
	ukm            []byte
	kdfOID         asn1.ObjectIdentifier
	wrapOID        asn1.ObjectIdentifier
	wrapAlg        []byte // the key wrap AlgorithmIdentifier as encoded, for the KDF's SharedInfo
	originatorAlg  asn1.ObjectIdentifier
	keys           []envRecipientEncryptedKey
}

type envRecipientEncryptedKey struct {
	rid    envRecipientID
	encKey []byte
}

func envParseKeyAgree(s cryptobyte.String) (*envKeyAgree, error) {
	ka := &envKeyAgree{}
	var version int64
	if !s.ReadASN1Int64WithTag(&version, casn1.INTEGER) {
		return nil, envMalformed("KeyAgreeRecipientInfo version")
	}
	var orig cryptobyte.String
	if !s.ReadASN1(&orig, envTagCtx0Cons) {
		return nil, envMalformed("KeyAgreeRecipientInfo originator")
	}
	var opk cryptobyte.String
	if !orig.ReadASN1(&opk, envTagCtx1Cons) || !orig.Empty() {
		return nil, errors.New("KeyAgreeRecipientInfo originator is not an originatorKey (static-static ECDH is not supported)")
	}
	var alg cryptobyte.String
	var algOID asn1.ObjectIdentifier
	if !opk.ReadASN1(&alg, casn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&algOID) {
		return nil, envMalformed("originator public key algorithm")
	}
	ka.originatorAlg = algOID
	switch {
	case alg.Empty():
	case alg.PeekASN1Tag(casn1.NULL):
		var null cryptobyte.String
		alg.ReadASN1(&null, casn1.NULL)
	case alg.PeekASN1Tag(casn1.OBJECT_IDENTIFIER):
		if !alg.ReadASN1ObjectIdentifier(&ka.ephemeralCurve) {
			return nil, envMalformed("originator public key curve")
		}
	}
	if !alg.Empty() {
		return nil, errors.New("unsupported originator public key parameters (explicit curves are not supported)")
	}
	var point asn1.BitString
	if !opk.ReadASN1BitString(&point) || !opk.Empty() || point.BitLength%8 != 0 {
		return nil, envMalformed("originator public key")
	}
	ka.ephemeralPoint = point.Bytes

	if s.PeekASN1Tag(envTagCtx1Cons) {
		var e, ukm cryptobyte.String
		if !s.ReadASN1(&e, envTagCtx1Cons) || !e.ReadASN1(&ukm, casn1.OCTET_STRING) || !e.Empty() {
			return nil, envMalformed("KeyAgreeRecipientInfo ukm")
		}
		ka.ukm = append([]byte{}, ukm...)
	}

	var kea, wrap cryptobyte.String
	if !s.ReadASN1(&kea, casn1.SEQUENCE) || !kea.ReadASN1ObjectIdentifier(&ka.kdfOID) {
		return nil, envMalformed("KeyAgreeRecipientInfo key encryption algorithm")
	}
	var wrapAlg cryptobyte.String
	if !kea.ReadASN1Element(&wrapAlg, casn1.SEQUENCE) {
		return nil, envMalformed("key wrap algorithm")
	}
	ka.wrapAlg = wrapAlg
	if !wrapAlg.ReadASN1(&wrap, casn1.SEQUENCE) || !wrap.ReadASN1ObjectIdentifier(&ka.wrapOID) {
		return nil, envMalformed("key wrap algorithm")
	}
	// Parameters of AES wrap must be absent, of 3DES wrap NULL; accept
	// either for both.
	if wrap.PeekASN1Tag(casn1.NULL) {
		var null cryptobyte.String
		wrap.ReadASN1(&null, casn1.NULL)
	}
	if !wrap.Empty() || !kea.Empty() {
		return nil, envMalformed("key wrap algorithm parameters")
	}

	var reks cryptobyte.String
	if !s.ReadASN1(&reks, casn1.SEQUENCE) || !s.Empty() {
		return nil, envMalformed("RecipientEncryptedKeys")
	}
	for !reks.Empty() {
		var rek cryptobyte.String
		if !reks.ReadASN1(&rek, casn1.SEQUENCE) {
			return nil, envMalformed("RecipientEncryptedKey")
		}
		if len(ka.keys) == envMaxRecipients {
			return nil, fmt.Errorf("more than %d RecipientEncryptedKeys", envMaxRecipients)
		}
		var k envRecipientEncryptedKey
		switch {
		case rek.PeekASN1Tag(casn1.SEQUENCE):
			rid, ok := envParseIssuerAndSerial(&rek)
			if !ok {
				return nil, envMalformed("RecipientEncryptedKey issuerAndSerialNumber")
			}
			k.rid = rid
		case rek.PeekASN1Tag(envTagCtx0Cons):
			var rkid, ski cryptobyte.String
			if !rek.ReadASN1(&rkid, envTagCtx0Cons) || !rkid.ReadASN1(&ski, casn1.OCTET_STRING) {
				return nil, envMalformed("RecipientKeyIdentifier")
			}
			// date and other are ignored.
			k.rid.ski = append([]byte{}, ski...)
		default:
			return nil, envMalformed("KeyAgreeRecipientIdentifier")
		}
		var ek cryptobyte.String
		if !rek.ReadASN1(&ek, casn1.OCTET_STRING) || !rek.Empty() {
			return nil, envMalformed("RecipientEncryptedKey encrypted key")
		}
		if len(ek) == 0 || len(ek) > envMaxEncryptedKey {
			return nil, fmt.Errorf("RecipientEncryptedKey of %d bytes is out of range", len(ek))
		}
		k.encKey = ek
		ka.keys = append(ka.keys, k)
	}
	return ka, nil
}

// decryptKey recovers the content key: ECDH with the originator's ephemeral
// key, X9.63 KDF, AES (or CMS Triple-DES) key unwrap.
func (ka *envKeyAgree) decryptKey(cert *x509.Certificate, key crypto.PrivateKey, rek *envRecipientEncryptedKey) ([]byte, error) {
	if !ka.originatorAlg.Equal(OIDPublicKeyECDSA) {
		return nil, fmt.Errorf("cms: decrypt: unsupported originator public key algorithm %s", ka.originatorAlg)
	}
	kdfHash, ok := envECDHKDFHash(ka.kdfOID)
	if !ok {
		return nil, fmt.Errorf("cms: decrypt: unsupported key encryption algorithm %s", ka.kdfOID)
	}
	kekLen, ok := envKeyWrapKEKLen(ka.wrapOID)
	if !ok {
		return nil, fmt.Errorf("cms: decrypt: unsupported key wrap algorithm %s", ka.wrapOID)
	}
	certPub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("cms: decrypt: key agreement recipient but certificate key is %T, not EC", cert.PublicKey)
	}
	curve, curveOID, err := envECDHCurve(certPub)
	if err != nil {
		return nil, fmt.Errorf("cms: decrypt: %w", err)
	}
	if ka.ephemeralCurve != nil && !ka.ephemeralCurve.Equal(curveOID) {
		return nil, fmt.Errorf("cms: decrypt: originator key is on curve %s, recipient on %s", ka.ephemeralCurve, curveOID)
	}
	agreer, err := NewKeyAgreer(key)
	if err != nil {
		return nil, err
	}
	certECDH, err := certPub.ECDH()
	if err != nil {
		return nil, fmt.Errorf("cms: decrypt: recipient certificate key: %w", err)
	}
	switch pub := agreer.Public().(type) {
	case *ecdh.PublicKey:
		if !pub.Equal(certECDH) {
			return nil, errors.New("cms: decrypt: the private key does not match the recipient certificate")
		}
	case *ecdsa.PublicKey:
		if !pub.Equal(certPub) {
			return nil, errors.New("cms: decrypt: the private key does not match the recipient certificate")
		}
	}
	peer, err := curve.NewPublicKey(ka.ephemeralPoint)
	if err != nil {
		return nil, fmt.Errorf("cms: decrypt: invalid originator public key: %w", err)
	}
	z, err := agreer.ECDH(peer)
	if err != nil {
		return nil, fmt.Errorf("cms: decrypt: ECDH with the recipient key: %w", err)
	}
	defer clear(z)
	switch size := (certPub.Curve.Params().BitSize + 7) / 8; {
	case len(z) > size:
		return nil, fmt.Errorf("cms: decrypt: ECDH secret is %d bytes, want %d", len(z), size)
	case len(z) < size: // a key store that dropped leading zero octets
		z = append(make([]byte, size-len(z), size), z...)
		defer clear(z)
	}
	kek, err := envDeriveKEK(kdfHash, z, ka.wrapAlg, ka.ukm, kekLen)
	if err != nil {
		return nil, fmt.Errorf("cms: decrypt: %w", err)
	}
	defer clear(kek)
	var cek []byte
	if ka.wrapOID.Equal(envOIDCMS3DESWrap) {
		cek, err = des3KeyUnwrap(kek, rek.encKey)
	} else {
		cek, err = keyUnwrap(kek, rek.encKey)
	}
	if err != nil {
		return nil, ErrDecryptionFailed
	}
	return cek, nil
}
