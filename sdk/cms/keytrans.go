package cms

// Key transport recipients (KeyTransRecipientInfo, RFC 5652 §6.2.1): RSA
// PKCS#1 v1.5 and RSAES-OAEP, in both directions.

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// envKeyTransRecipient builds a KeyTransRecipientInfo.
func envKeyTransRecipient(rnd io.Reader, cert *x509.Certificate, pub *rsa.PublicKey, cek []byte, opts EncryptOptions) ([]byte, int64, error) {
	if err := envCheckSKI(cert, opts); err != nil {
		return nil, 0, err
	}
	var encKey []byte
	var err error
	var addAlg func(b *cryptobyte.Builder)
	switch opts.RSAKeyTransport {
	case RSAPKCS1v15:
		//lint:ignore SA1019 CMS key transport and PKCS#11 CKM_RSA_PKCS are RSA PKCS #1 v1.5 by definition; portals still send it
		encKey, err = rsa.EncryptPKCS1v15(rnd, pub, cek)
		addAlg = func(b *cryptobyte.Builder) {
			b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(OIDPublicKeyRSA)
				b.AddASN1NULL()
			})
		}
	case RSAOAEPSHA1:
		encKey, err = rsa.EncryptOAEP(crypto.SHA1.New(), rnd, pub, cek, nil)
		addAlg = func(b *cryptobyte.Builder) {
			b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(envOIDRSAESOAEP)
				b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {}) // all defaults: SHA-1, MGF1-SHA-1, empty label
			})
		}
	case RSAOAEPSHA256:
		encKey, err = rsa.EncryptOAEP(crypto.SHA256.New(), rnd, pub, cek, nil)
		addAlg = func(b *cryptobyte.Builder) {
			b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(envOIDRSAESOAEP)
				b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { // RSAES-OAEP-params
					b.AddASN1(envTagCtx0Cons, func(b *cryptobyte.Builder) {
						envAddHashAlgID(b, OIDDigestSHA256)
					})
					b.AddASN1(envTagCtx1Cons, func(b *cryptobyte.Builder) {
						b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(OIDMGF1)
							envAddHashAlgID(b, OIDDigestSHA256)
						})
					})
				})
			})
		}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("RSA key transport: %w", err)
	}
	version := int64(0)
	if opts.UseSubjectKeyID {
		version = 2
	}
	var b cryptobyte.Builder
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(version)
		envAddRecipientID(b, cert, opts.UseSubjectKeyID, false)
		addAlg(b)
		b.AddASN1OctetString(encKey)
	})
	ri, err := b.Bytes()
	return ri, version, err
}

// envAddHashAlgID writes a hash AlgorithmIdentifier with NULL parameters, as in
// the RFC 4055 module (readers accept absent or NULL).
func envAddHashAlgID(b *cryptobyte.Builder, oid asn1.ObjectIdentifier) {
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddASN1NULL()
	})
}

// envKeyTrans is a parsed KeyTransRecipientInfo.
type envKeyTrans struct {
	rid       envRecipientID
	alg       asn1.ObjectIdentifier
	algParams cryptobyte.String // full parameters element, or nil
	encKey    []byte
}

func envParseKeyTrans(s cryptobyte.String) (*envKeyTrans, error) {
	kt := &envKeyTrans{}
	var version int64
	if !s.ReadASN1Int64WithTag(&version, casn1.INTEGER) {
		return nil, envMalformed("KeyTransRecipientInfo version")
	}
	switch {
	case s.PeekASN1Tag(casn1.SEQUENCE):
		rid, ok := envParseIssuerAndSerial(&s)
		if !ok {
			return nil, envMalformed("KeyTransRecipientInfo issuerAndSerialNumber")
		}
		kt.rid = rid
	case s.PeekASN1Tag(envTagCtx0Prim):
		var ski cryptobyte.String
		if !s.ReadASN1(&ski, envTagCtx0Prim) {
			return nil, envMalformed("KeyTransRecipientInfo subjectKeyIdentifier")
		}
		kt.rid.ski = append([]byte{}, ski...)
	default:
		return nil, envMalformed("KeyTransRecipientInfo recipient identifier")
	}
	var alg cryptobyte.String
	if !s.ReadASN1(&alg, casn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&kt.alg) {
		return nil, envMalformed("KeyTransRecipientInfo key encryption algorithm")
	}
	if !alg.Empty() {
		if !alg.ReadAnyASN1Element(&kt.algParams, nil) || !alg.Empty() {
			return nil, envMalformed("KeyTransRecipientInfo key encryption parameters")
		}
	}
	var ek cryptobyte.String
	if !s.ReadASN1(&ek, casn1.OCTET_STRING) || !s.Empty() {
		return nil, envMalformed("KeyTransRecipientInfo encrypted key")
	}
	if len(ek) == 0 || len(ek) > envMaxEncryptedKey {
		return nil, fmt.Errorf("KeyTransRecipientInfo encrypted key of %d bytes is out of range", len(ek))
	}
	kt.encKey = ek
	return kt, nil
}

// decryptKey recovers the content key with an RSA crypto.Decrypter.
func (kt *envKeyTrans) decryptKey(cert *x509.Certificate, key crypto.PrivateKey, cekLen int) ([]byte, error) {
	certPub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("cms: decrypt: key transport recipient but certificate key is %T, not RSA", cert.PublicKey)
	}
	dec, ok := key.(crypto.Decrypter)
	if !ok {
		return nil, fmt.Errorf("cms: decrypt: RSA key transport needs a crypto.Decrypter, got %T", key)
	}
	if pub, ok := dec.Public().(*rsa.PublicKey); ok && !pub.Equal(certPub) {
		return nil, errors.New("cms: decrypt: the private key does not match the recipient certificate")
	}
	encKey := kt.encKey
	switch k := certPub.Size(); {
	case len(encKey) > k:
		return nil, ErrDecryptionFailed
	case len(encKey) < k:
		// Some producers drop leading zero octets of the RSA output;
		// decrypters (and tokens) want exactly k octets.
		encKey = append(make([]byte, k-len(encKey), k), encKey...)
	}
	var opts crypto.DecrypterOpts
	switch {
	case kt.alg.Equal(OIDPublicKeyRSA):
		if _, inMemory := key.(*rsa.PrivateKey); inMemory {
			// Random key on bad padding, so the failure shows only at
			// the content padding (Bleichenbacher countermeasure).
			//lint:ignore SA1019 CMS key transport and PKCS#11 CKM_RSA_PKCS are RSA PKCS #1 v1.5 by definition; portals still send it
			opts = &rsa.PKCS1v15DecryptOptions{SessionKeyLen: cekLen}
		}
	case kt.alg.Equal(envOIDRSAESOAEP):
		o, err := envParseOAEPParams(kt.algParams)
		if err != nil {
			return nil, fmt.Errorf("cms: decrypt: %w", err)
		}
		opts = o
	default:
		return nil, fmt.Errorf("cms: decrypt: unsupported key encryption algorithm %s", kt.alg)
	}
	cek, err := dec.Decrypt(rand.Reader, encKey, opts)
	if err != nil {
		if isKeyStoreError(err) {
			return nil, fmt.Errorf("cms: decrypt content key with the recipient key: %w", err)
		}
		// rsa.ErrDecryption, or a token's own refusal (SoftHSM answers a
		// bad OAEP block with CKR_GENERAL_ERROR): no detail.
		return nil, ErrDecryptionFailed
	}
	return cek, nil
}

// envHashFromOID maps a hash AlgorithmIdentifier OID to crypto.Hash.
func envHashFromOID(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	switch {
	case oid.Equal(OIDDigestSHA1):
		return crypto.SHA1, true
	case oid.Equal(OIDDigestSHA224):
		return crypto.SHA224, true
	case oid.Equal(OIDDigestSHA256):
		return crypto.SHA256, true
	case oid.Equal(OIDDigestSHA384):
		return crypto.SHA384, true
	case oid.Equal(OIDDigestSHA512):
		return crypto.SHA512, true
	}
	return 0, false
}

// envParseHashAlgID reads a hash AlgorithmIdentifier (parameters absent or NULL).
func envParseHashAlgID(s *cryptobyte.String) (crypto.Hash, asn1.ObjectIdentifier, bool) {
	var alg cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&alg, casn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
		return 0, nil, false
	}
	if alg.PeekASN1Tag(casn1.NULL) {
		var null cryptobyte.String
		alg.ReadASN1(&null, casn1.NULL)
	}
	if !alg.Empty() {
		return 0, oid, false
	}
	h, ok := envHashFromOID(oid)
	return h, oid, ok
}

// envParseOAEPParams reads RSAES-OAEP-params (RFC 4055 §4.1). Absent
// parameters mean all defaults (SHA-1, MGF1-SHA-1, empty label).
func envParseOAEPParams(params cryptobyte.String) (*rsa.OAEPOptions, error) {
	opts := &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}
	if params == nil {
		return opts, nil
	}
	var seq cryptobyte.String
	if !params.ReadASN1(&seq, casn1.SEQUENCE) || !params.Empty() {
		return nil, envMalformed("RSAES-OAEP parameters")
	}
	if seq.PeekASN1Tag(envTagCtx0Cons) {
		var e cryptobyte.String
		seq.ReadASN1(&e, envTagCtx0Cons)
		h, oid, ok := envParseHashAlgID(&e)
		if !ok || !e.Empty() {
			return nil, fmt.Errorf("unsupported or malformed RSAES-OAEP hash algorithm %s", oid)
		}
		opts.Hash = h
	}
	if seq.PeekASN1Tag(envTagCtx1Cons) {
		var e, mgf cryptobyte.String
		var mgfOID asn1.ObjectIdentifier
		seq.ReadASN1(&e, envTagCtx1Cons)
		if !e.ReadASN1(&mgf, casn1.SEQUENCE) || !e.Empty() || !mgf.ReadASN1ObjectIdentifier(&mgfOID) {
			return nil, envMalformed("RSAES-OAEP mask generation function")
		}
		if !mgfOID.Equal(OIDMGF1) {
			return nil, fmt.Errorf("unsupported RSAES-OAEP mask generation function %s", mgfOID)
		}
		h, oid, ok := envParseHashAlgID(&mgf)
		if !ok || !mgf.Empty() {
			return nil, fmt.Errorf("unsupported or malformed RSAES-OAEP MGF1 hash %s", oid)
		}
		opts.MGFHash = h
	}
	if seq.PeekASN1Tag(envTagCtx2Cons) {
		var e, ps cryptobyte.String
		var psOID asn1.ObjectIdentifier
		seq.ReadASN1(&e, envTagCtx2Cons)
		if !e.ReadASN1(&ps, casn1.SEQUENCE) || !e.Empty() || !ps.ReadASN1ObjectIdentifier(&psOID) {
			return nil, envMalformed("RSAES-OAEP pSourceAlgorithm")
		}
		if !psOID.Equal(envOIDPSpecified) {
			return nil, fmt.Errorf("unsupported RSAES-OAEP pSourceAlgorithm %s", psOID)
		}
		if !ps.Empty() {
			var label cryptobyte.String
			if !ps.ReadASN1(&label, casn1.OCTET_STRING) || !ps.Empty() {
				return nil, envMalformed("RSAES-OAEP label")
			}
			if len(label) > 0 {
				opts.Label = append([]byte{}, label...)
			}
		}
	}
	if !seq.Empty() {
		return nil, envMalformed("RSAES-OAEP parameters (trailing data)")
	}
	return opts, nil
}
