package cms

// EnvelopedData (RFC 5652 §6) and AuthEnvelopedData (RFC 5083): encryption
// to recipient certificates.
//
// Encrypt builds a ContentInfo holding EnvelopedData with one RecipientInfo
// per certificate:
//   - RSA certificates get a KeyTransRecipientInfo: RSAES-PKCS1-v1_5
//     (rsaEncryption, the default, what every reader accepts) or RSAES-OAEP
//     with SHA-1 or SHA-256 (RFC 3560 / RFC 4055 parameters).
//   - EC certificates (P-256, P-384, P-521) get a KeyAgreeRecipientInfo:
//     ephemeral-static ECDH, dhSinglePass-stdDH-sha256kdf-scheme with the
//     X9.63 KDF over ECC-CMS-SharedInfo, and id-aes256-wrap (RFC 5753,
//     RFC 3565, RFC 3394). A fresh ephemeral key is made per recipient.
//
// The content is encrypted with AES-256-CBC (default) or AES-128-CBC. GCM
// inside EnvelopedData is not standard and OpenSSL cannot read it, so it is
// never written there: asking for AES-256-GCM or AES-128-GCM produces
// AuthEnvelopedData (RFC 5083, RFC 5084) instead, with the same
// RecipientInfos. EnvelopedData (CBC) has no integrity protection: a
// changed ciphertext usually fails the padding check but may decrypt to
// other content. Sign the content, or use AES-GCM, when that matters.
//
// Decrypt finds the RecipientInfo for a certificate (by issuer and serial
// number, or by subject key identifier) and recovers the content key with a
// private key that never has to leave its token: RSA through
// crypto.Decrypter.Decrypt only (with *rsa.OAEPOptions for OAEP), EC through
// the KeyAgreer interface. It reads everything OpenSSL writes for these
// recipient types (all X9.63 KDF hashes, AES-128/192/256 wrap; AES-128/192/
// 256-CBC and DES-EDE3-CBC content in EnvelopedData, AES-GCM in
// AuthEnvelopedData), DER or BER.
//
// All options are per call; nothing in this file has package-level state
// that changes behaviour. Decryption failures that could serve as a padding
// oracle (RSA padding, key unwrap, CBC padding, GCM tag) all return the
// same ErrDecryptionFailed, without detail.

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Errors returned by Decrypt, to be tested with errors.Is.
var (
	// ErrNoRecipient means no RecipientInfo in the message names the
	// certificate given to Decrypt.
	ErrNoRecipient = errors.New("cms: no recipient matches the certificate")
	// ErrDecryptionFailed is the one error for every cryptographic failure
	// while recovering the content: wrong RSA padding (or any RSA key
	// failure that is not a key-store error), key unwrap integrity failure,
	// wrong content-encryption key length, bad CBC padding, GCM tag
	// mismatch. It carries no detail on purpose (no padding oracle).
	ErrDecryptionFailed = errors.New("cms: decryption failed")
	// ErrNotEnveloped means the ContentInfo holds another content type
	// (SignedData, say) than EnvelopedData or AuthEnvelopedData.
	ErrNotEnveloped = errors.New("cms: not EnvelopedData or AuthEnvelopedData")
)

// Size limits applied by Decrypt. Inputs beyond them are rejected before
// any allocation proportional to them.
const (
	// MaxEnvelopeSize is the largest EnvelopedData Decrypt accepts.
	MaxEnvelopeSize = 1 << 30
	// envMaxRecipients bounds the number of RecipientInfos examined.
	envMaxRecipients = 1024
	// envMaxEncryptedKey bounds an encrypted content-encryption key
	// (a 16384-bit RSA modulus is 2048 bytes).
	envMaxEncryptedKey = 2048
	// envMaxOctetNesting bounds the depth of nested constructed OCTET STRINGs
	// in BER-encoded encrypted content.
	envMaxOctetNesting = 8
)

// ContentEncryption selects the content-encryption algorithm. The zero
// value is AES-256-CBC.
type ContentEncryption int

// Content-encryption algorithms offered by Encrypt.
const (
	AES256CBC ContentEncryption = iota // id-aes256-CBC, the default
	AES128CBC                          // id-aes128-CBC
	// AES-GCM is authenticated encryption, so it is written as
	// AuthEnvelopedData (RFC 5083, RFC 5084: 12-byte nonce, 16-byte tag),
	// never inside EnvelopedData. OpenSSL 3.0 and later read it; older
	// readers may not.
	AES256GCM // id-aes256-GCM in AuthEnvelopedData
	AES128GCM // id-aes128-GCM in AuthEnvelopedData
)

// KeyTransport selects how the content key is encrypted to RSA recipients.
// The zero value is RSAES-PKCS1-v1_5.
type KeyTransport int

// RSA key transport schemes offered by Encrypt.
const (
	RSAPKCS1v15   KeyTransport = iota // rsaEncryption, the default
	RSAOAEPSHA1                       // id-RSAES-OAEP, SHA-1, MGF1-SHA-1 (all parameters default)
	RSAOAEPSHA256                     // id-RSAES-OAEP, SHA-256, MGF1-SHA-256
)

// EncryptOptions are the per-call choices of Encrypt. The zero value gives
// AES-256-CBC, RSA PKCS#1 v1.5, recipients named by issuer and serial number.
type EncryptOptions struct {
	ContentEncryption ContentEncryption
	// RSAKeyTransport applies to every RSA recipient. EC recipients always
	// use ECDH with the SHA-256 X9.63 KDF and AES-256 key wrap.
	RSAKeyTransport KeyTransport
	// UseSubjectKeyID names recipients by their certificate's subject key
	// identifier instead of issuer and serial number. Every recipient
	// certificate must then carry one.
	UseSubjectKeyID bool
	// Rand is the source of the content key, IV and RSA padding; nil means
	// crypto/rand. (Since Go 1.26 ephemeral ECDH keys always come from a
	// secure source, whatever Rand is.)
	Rand io.Reader

	// ukm is user keying material for key agreement recipients (RFC 5753
	// ukm, entityUInfo in the KDF). Not offered (the ephemeral key already
	// makes each KEK unique); set by tests to check the decrypt side.
	ukm []byte
}

// OIDs specific to EnvelopedData; the shared ones (OIDData,
// OIDEnvelopedData, OIDPublicKeyRSA, OIDMGF1, OIDDigest*) are in oids.go.
var (
	envOIDRSAESOAEP  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 7}
	envOIDPSpecified = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 9}

	envOIDAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	envOIDAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	envOIDAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	envOIDDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}

	// AES-GCM (RFC 5084), only in AuthEnvelopedData.
	envOIDAES128GCM = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 6}
	envOIDAES192GCM = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 26}
	envOIDAES256GCM = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 46}
)

// AES-GCM sizes Encrypt writes: the 12-byte nonce RFC 5084 recommends and
// a full 16-byte tag.
const (
	envGCMNonceSize = 12
	envGCMTagSize   = 16
)

// ASN.1 tags used below.
var (
	envTagCtx0Prim = casn1.Tag(0).ContextSpecific()
	envTagCtx0Cons = casn1.Tag(0).ContextSpecific().Constructed()
	envTagCtx1Cons = casn1.Tag(1).ContextSpecific().Constructed()
	envTagCtx2Cons = casn1.Tag(2).ContextSpecific().Constructed()
)

// ---------------------------------------------------------------------------
// Encrypt

// Encrypt encrypts content to every certificate in recipients and returns
// the DER encoding of a ContentInfo holding EnvelopedData, or
// AuthEnvelopedData when opts.ContentEncryption is an AES-GCM choice.
func Encrypt(content []byte, recipients []*x509.Certificate, opts EncryptOptions) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("cms: encrypt: no recipients")
	}
	if len(recipients) > envMaxRecipients {
		return nil, fmt.Errorf("cms: encrypt: %d recipients, at most %d allowed", len(recipients), envMaxRecipients)
	}
	rnd := opts.Rand
	if rnd == nil {
		rnd = rand.Reader
	}

	var cekLen int
	var cekOID asn1.ObjectIdentifier
	gcm := false
	switch opts.ContentEncryption {
	case AES256CBC:
		cekLen, cekOID = 32, envOIDAES256CBC
	case AES128CBC:
		cekLen, cekOID = 16, envOIDAES128CBC
	case AES256GCM:
		cekLen, cekOID, gcm = 32, envOIDAES256GCM, true
	case AES128GCM:
		cekLen, cekOID, gcm = 16, envOIDAES128GCM, true
	default:
		return nil, fmt.Errorf("cms: encrypt: unknown content encryption %d", opts.ContentEncryption)
	}
	switch opts.RSAKeyTransport {
	case RSAPKCS1v15, RSAOAEPSHA1, RSAOAEPSHA256:
	default:
		return nil, fmt.Errorf("cms: encrypt: unknown RSA key transport %d", opts.RSAKeyTransport)
	}

	cek := make([]byte, cekLen)
	defer clear(cek)
	if _, err := io.ReadFull(rnd, cek); err != nil {
		return nil, fmt.Errorf("cms: encrypt: generate content key: %w", err)
	}
	ivLen := aes.BlockSize
	if gcm {
		ivLen = envGCMNonceSize
	}
	iv := make([]byte, ivLen)
	if _, err := io.ReadFull(rnd, iv); err != nil {
		return nil, fmt.Errorf("cms: encrypt: generate IV: %w", err)
	}
	var ciphertext, mac []byte
	var err error
	if gcm {
		ciphertext, mac, err = envGCMSeal(cek, iv, content)
	} else {
		ciphertext, err = envCBCEncrypt(cek, iv, content)
	}
	if err != nil {
		return nil, fmt.Errorf("cms: encrypt content: %w", err)
	}

	version := int64(0)
	ris := make([][]byte, 0, len(recipients))
	for i, cert := range recipients {
		if cert == nil {
			return nil, fmt.Errorf("cms: encrypt: recipient %d is nil", i)
		}
		var ri []byte
		var riVersion int64
		switch pub := cert.PublicKey.(type) {
		case *rsa.PublicKey:
			ri, riVersion, err = envKeyTransRecipient(rnd, cert, pub, cek, opts)
		case *ecdsa.PublicKey:
			ri, riVersion, err = envKeyAgreeRecipient(rnd, cert, pub, cek, opts)
		default:
			err = fmt.Errorf("public key type %T is not supported (need RSA or EC)", cert.PublicKey)
		}
		if err != nil {
			return nil, fmt.Errorf("cms: encrypt: recipient %d (%s): %w", i, cert.Subject, err)
		}
		if riVersion != 0 && !gcm {
			version = 2 // RFC 5652 §6.1: any RecipientInfo not version 0
		}
		ris = append(ris, ri)
	}

	contentType := OIDEnvelopedData
	if gcm {
		contentType = OIDAuthEnvelopedData // RFC 5083: version is always 0
	}
	var b cryptobyte.Builder
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1ObjectIdentifier(contentType)
		b.AddASN1(envTagCtx0Cons, func(b *cryptobyte.Builder) {
			b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { // EnvelopedData or AuthEnvelopedData
				b.AddASN1Int64(version)
				b.AddASN1(casn1.SET, func(b *cryptobyte.Builder) {
					for _, ri := range envSortedSet(ris) {
						b.AddBytes(ri)
					}
				})
				b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { // EncryptedContentInfo
					b.AddASN1ObjectIdentifier(OIDData)
					b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(cekOID)
						if gcm {
							b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { // GCMParameters
								b.AddASN1OctetString(iv)
								b.AddASN1Int64(int64(len(mac)))
							})
						} else {
							b.AddASN1OctetString(iv)
						}
					})
					b.AddASN1(envTagCtx0Prim, func(b *cryptobyte.Builder) {
						b.AddBytes(ciphertext)
					})
				})
				if gcm {
					b.AddASN1OctetString(mac) // mac MessageAuthenticationCode
				}
			})
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("cms: encrypt: encode EnvelopedData: %w", err)
	}
	return out, nil
}

// envSortedSet orders the elements of a DER SET OF by their encodings
// (X.690 §11.6).
func envSortedSet(elems [][]byte) [][]byte {
	out := slices.Clone(elems)
	slices.SortFunc(out, bytes.Compare)
	return out
}

// envAddRecipientID writes a RecipientIdentifier (key transport) or
// KeyAgreeRecipientIdentifier (key agreement) for cert.
func envAddRecipientID(b *cryptobyte.Builder, cert *x509.Certificate, useSKI, agree bool) {
	switch {
	case !useSKI:
		b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { // IssuerAndSerialNumber
			b.AddBytes(cert.RawIssuer)
			b.AddASN1BigInt(cert.SerialNumber)
		})
	case agree:
		b.AddASN1(envTagCtx0Cons, func(b *cryptobyte.Builder) { // rKeyId RecipientKeyIdentifier
			b.AddASN1OctetString(cert.SubjectKeyId)
		})
	default:
		b.AddASN1(envTagCtx0Prim, func(b *cryptobyte.Builder) { // subjectKeyIdentifier
			b.AddBytes(cert.SubjectKeyId)
		})
	}
}

func envCheckSKI(cert *x509.Certificate, opts EncryptOptions) error {
	if opts.UseSubjectKeyID && len(cert.SubjectKeyId) == 0 {
		return errors.New("certificate has no subject key identifier")
	}
	return nil
}

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

// envGCMSeal encrypts plaintext with AES-GCM and returns the ciphertext and
// the tag separately (AuthEnvelopedData keeps the tag in its mac field).
func envGCMSeal(key, nonce, plaintext []byte) (ciphertext, tag []byte, err error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	sealed := aead.Seal(nil, nonce, plaintext, nil)
	n := len(sealed) - envGCMTagSize
	return sealed[:n:n], sealed[n:], nil
}

// envCBCEncrypt pads plaintext (PKCS#7, RFC 5652 §6.3) and encrypts it with
// AES-CBC.
func envCBCEncrypt(key, iv, plaintext []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	bs := block.BlockSize()
	pad := bs - len(plaintext)%bs
	out := make([]byte, len(plaintext)+pad)
	copy(out, plaintext)
	for i := len(plaintext); i < len(out); i++ {
		out[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, out)
	return out, nil
}

// ---------------------------------------------------------------------------
// Decrypt

// Decrypt decrypts a ContentInfo holding EnvelopedData or AuthEnvelopedData
// (DER or BER) for the recipient cert, using key for the private-key
// operation, and returns the content.
//
// key is one of:
//   - a crypto.Decrypter with an RSA public key (for key transport
//     recipients): only its Decrypt method is called, with nil options for
//     PKCS#1 v1.5 (or *rsa.PKCS1v15DecryptOptions for an in-memory
//     *rsa.PrivateKey) and *rsa.OAEPOptions for OAEP;
//   - a KeyAgreer, *ecdh.PrivateKey or *ecdsa.PrivateKey (for EC key
//     agreement recipients).
//
// Errors: ErrNoRecipient when the message has no RecipientInfo for cert;
// ErrDecryptionFailed for any cryptographic failure; an error wrapping
// ErrMalformed, naming the faulty structure, for malformed input; a
// descriptive error naming the OID for unsupported algorithms. Key store
// errors from the key (a KeyStoreError such as hsm.ErrCancelled for a
// dismissed PIN prompt, hsm.ErrTokenRemoved or hsm.ErrDenied, and context
// errors) are wrapped, so errors.Is finds them; any other failure of an RSA
// key's Decrypt is ErrDecryptionFailed.
func Decrypt(der []byte, cert *x509.Certificate, key crypto.PrivateKey) ([]byte, error) {
	if cert == nil {
		return nil, errors.New("cms: decrypt: no recipient certificate")
	}
	if key == nil {
		return nil, errors.New("cms: decrypt: no recipient key")
	}
	if len(der) > MaxEnvelopeSize {
		return nil, fmt.Errorf("cms: decrypt: input of %d bytes exceeds the %d byte limit", len(der), MaxEnvelopeSize)
	}
	// BER (indefinite lengths, chunked strings, as Java producers emit)
	// is rewritten as DER first; DER input is used as it is.
	norm, err := normalizeBER(der)
	if err != nil {
		return nil, err
	}
	env, err := parseEnvelopedData(norm)
	if err != nil {
		return nil, fmt.Errorf("cms: decrypt: %w", err)
	}

	cekLen, err := env.content.keyLen()
	if err != nil {
		return nil, fmt.Errorf("cms: decrypt: %w", err)
	}
	cek, err := env.recoverKey(cert, key, cekLen)
	if err != nil {
		return nil, err
	}
	defer clear(cek)
	if len(cek) != cekLen {
		return nil, ErrDecryptionFailed
	}
	return env.content.decrypt(cek)
}

// envMalformedError names the malformed structure and matches ErrMalformed
// with errors.Is.
type envMalformedError struct{ what string }

func (e *envMalformedError) Error() string        { return "malformed " + e.what }
func (e *envMalformedError) Is(target error) bool { return target == ErrMalformed }

// envNotEnvelopedError names the content type found; it matches
// ErrNotEnveloped.
type envNotEnvelopedError struct{ contentType asn1.ObjectIdentifier }

func (e *envNotEnvelopedError) Error() string {
	return fmt.Sprintf("content type %s is not EnvelopedData (%s) or AuthEnvelopedData (%s)", e.contentType, OIDEnvelopedData, OIDAuthEnvelopedData)
}
func (e *envNotEnvelopedError) Is(target error) bool { return target == ErrNotEnveloped }

func envMalformed(format string, args ...any) error {
	return &envMalformedError{what: fmt.Sprintf(format, args...)}
}

// envelopedData is the parsed part of EnvelopedData that Decrypt needs.
type envelopedData struct {
	recipients [][]byte // raw RecipientInfo elements
	content    envEncryptedContent
}

type envEncryptedContent struct {
	alg        asn1.ObjectIdentifier
	iv         []byte // CBC IV or GCM nonce
	ciphertext []byte
	// AuthEnvelopedData only.
	auth   bool
	icvLen int    // GCM tag length from GCMParameters (default 12)
	mac    []byte // the GCM tag
	aad    []byte // DER of authAttrs with the SET OF tag, or nil
}

func parseEnvelopedData(der []byte) (*envelopedData, error) {
	input := cryptobyte.String(der)
	var ci, explicit, ed cryptobyte.String
	if !input.ReadASN1(&ci, casn1.SEQUENCE) || !input.Empty() {
		return nil, envMalformed("ContentInfo (not a single SEQUENCE)")
	}
	var oid asn1.ObjectIdentifier
	if !ci.ReadASN1ObjectIdentifier(&oid) {
		return nil, envMalformed("ContentInfo content type")
	}
	auth := oid.Equal(OIDAuthEnvelopedData)
	if !auth && !oid.Equal(OIDEnvelopedData) {
		return nil, &envNotEnvelopedError{oid}
	}
	if !ci.ReadASN1(&explicit, envTagCtx0Cons) || !ci.Empty() {
		return nil, envMalformed("ContentInfo content")
	}
	if !explicit.ReadASN1(&ed, casn1.SEQUENCE) || !explicit.Empty() {
		return nil, envMalformed("EnvelopedData")
	}

	var version int64
	if !ed.ReadASN1Int64WithTag(&version, casn1.INTEGER) {
		return nil, envMalformed("EnvelopedData version")
	}
	if version < 0 || version > 4 {
		return nil, fmt.Errorf("EnvelopedData version %d is not supported", version)
	}
	// originatorInfo [0] IMPLICIT OriginatorInfo OPTIONAL: certificates for
	// the reader; not needed to decrypt.
	if !ed.SkipOptionalASN1(envTagCtx0Cons) {
		return nil, envMalformed("EnvelopedData originatorInfo")
	}
	var riSet cryptobyte.String
	if !ed.ReadASN1(&riSet, casn1.SET) {
		return nil, envMalformed("EnvelopedData recipientInfos")
	}
	env := &envelopedData{}
	env.content.auth = auth
	for !riSet.Empty() {
		var ri cryptobyte.String
		if !riSet.ReadAnyASN1Element(&ri, nil) {
			return nil, envMalformed("RecipientInfo")
		}
		if len(env.recipients) == envMaxRecipients {
			return nil, fmt.Errorf("more than %d recipients", envMaxRecipients)
		}
		env.recipients = append(env.recipients, ri)
	}
	if len(env.recipients) == 0 {
		return nil, errors.New("EnvelopedData has no recipients")
	}

	var eci cryptobyte.String
	if !ed.ReadASN1(&eci, casn1.SEQUENCE) {
		return nil, envMalformed("EncryptedContentInfo")
	}
	if auth {
		// authAttrs [1] IMPLICIT OPTIONAL: authenticated, as the GCM
		// additional data, in their DER form with the SET OF tag (RFC 5083
		// §2.2). mac OCTET STRING. unauthAttrs [2] IMPLICIT OPTIONAL.
		if ed.PeekASN1Tag(envTagCtx1Cons) {
			var attrs cryptobyte.String
			if !ed.ReadASN1Element(&attrs, envTagCtx1Cons) {
				return nil, envMalformed("AuthEnvelopedData authAttrs")
			}
			env.content.aad = append([]byte{byte(casn1.SET)}, attrs[1:]...)
		}
		var mac cryptobyte.String
		if !ed.ReadASN1(&mac, casn1.OCTET_STRING) {
			return nil, envMalformed("AuthEnvelopedData mac")
		}
		env.content.mac = mac
		if !ed.SkipOptionalASN1(envTagCtx2Cons) || !ed.Empty() {
			return nil, envMalformed("AuthEnvelopedData (trailing data)")
		}
	} else {
		// unprotectedAttrs [1] IMPLICIT OPTIONAL: ignored.
		if !ed.SkipOptionalASN1(envTagCtx1Cons) || !ed.Empty() {
			return nil, envMalformed("EnvelopedData (trailing data)")
		}
	}
	var innerType asn1.ObjectIdentifier
	if !eci.ReadASN1ObjectIdentifier(&innerType) {
		return nil, envMalformed("EncryptedContentInfo content type")
	}
	var alg, params cryptobyte.String
	if !eci.ReadASN1(&alg, casn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&env.content.alg) {
		return nil, envMalformed("content encryption algorithm")
	}
	params = alg
	switch {
	case params.PeekASN1Tag(casn1.OCTET_STRING): // CBC: the IV
		var iv cryptobyte.String
		if !params.ReadASN1(&iv, casn1.OCTET_STRING) {
			return nil, envMalformed("content encryption IV")
		}
		env.content.iv = iv
	case params.PeekASN1Tag(casn1.SEQUENCE): // GCMParameters
		var gp, nonce cryptobyte.String
		icv := int64(12)
		if !params.ReadASN1(&gp, casn1.SEQUENCE) || !gp.ReadASN1(&nonce, casn1.OCTET_STRING) {
			return nil, envMalformed("content encryption parameters")
		}
		if !gp.Empty() && !gp.ReadASN1Int64WithTag(&icv, casn1.INTEGER) || !gp.Empty() {
			return nil, envMalformed("GCM ICV length")
		}
		env.content.iv = nonce
		env.content.icvLen = int(icv)
	}
	if !params.Empty() {
		return nil, envMalformed("content encryption parameters")
	}
	if eci.Empty() {
		return nil, errors.New("encrypted content is absent (detached EnvelopedData is not supported)")
	}
	var tag casn1.Tag
	var body cryptobyte.String
	if !eci.ReadAnyASN1(&body, &tag) || !eci.Empty() {
		return nil, envMalformed("encrypted content")
	}
	switch tag {
	case envTagCtx0Prim:
		env.content.ciphertext = body
	case envTagCtx0Cons: // BER chunks: OCTET STRINGs inside [0]
		ct, err := envJoinOctetChunks(body, 0)
		if err != nil {
			return nil, err
		}
		env.content.ciphertext = ct
	default:
		return nil, envMalformed("encrypted content (tag %#x)", uint8(tag))
	}
	return env, nil
}

// envJoinOctetChunks concatenates the OCTET STRING segments of a constructed
// string encoding.
func envJoinOctetChunks(s cryptobyte.String, depth int) ([]byte, error) {
	if depth > envMaxOctetNesting {
		return nil, errors.New("encrypted content: OCTET STRING nested too deeply")
	}
	var out []byte
	for !s.Empty() {
		var tag casn1.Tag
		var seg cryptobyte.String
		if !s.ReadAnyASN1(&seg, &tag) {
			return nil, envMalformed("encrypted content segment")
		}
		switch tag {
		case casn1.OCTET_STRING:
			out = append(out, seg...)
		case casn1.OCTET_STRING.Constructed():
			inner, err := envJoinOctetChunks(seg, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
		default:
			return nil, envMalformed("encrypted content segment (tag %#x)", uint8(tag))
		}
	}
	return out, nil
}

// keyLen is the content-encryption key length of the content algorithm.
func (c *envEncryptedContent) keyLen() (int, error) {
	switch {
	case c.alg.Equal(envOIDAES128CBC):
		return 16, nil
	case c.alg.Equal(envOIDAES192CBC):
		return 24, nil
	case c.alg.Equal(envOIDAES256CBC):
		return 32, nil
	case c.alg.Equal(envOIDDESEDE3CBC):
		return 24, nil
	}
	if c.auth {
		switch {
		case c.alg.Equal(envOIDAES128GCM):
			return 16, nil
		case c.alg.Equal(envOIDAES192GCM):
			return 24, nil
		case c.alg.Equal(envOIDAES256GCM):
			return 32, nil
		}
		return 0, fmt.Errorf("unsupported authenticated content encryption algorithm %s", c.alg)
	}
	if c.alg.Equal(envOIDAES128GCM) || c.alg.Equal(envOIDAES192GCM) || c.alg.Equal(envOIDAES256GCM) {
		return 0, fmt.Errorf("content encryption algorithm %s (AES-GCM) inside EnvelopedData is not standard; AES-GCM belongs in AuthEnvelopedData", c.alg)
	}
	return 0, fmt.Errorf("unsupported content encryption algorithm %s", c.alg)
}

// decrypt decrypts and unpads (CBC) or opens (GCM) the content with cek.
func (c *envEncryptedContent) decrypt(cek []byte) ([]byte, error) {
	if c.auth {
		return c.openGCM(cek)
	}
	var block cipher.Block
	var err error
	if c.alg.Equal(envOIDDESEDE3CBC) {
		block, err = des.NewTripleDESCipher(cek)
	} else {
		block, err = aes.NewCipher(cek)
	}
	if err != nil {
		return nil, ErrDecryptionFailed
	}
	bs := block.BlockSize()
	if len(c.iv) != bs {
		return nil, fmt.Errorf("cms: decrypt: content IV is %d bytes, want %d", len(c.iv), bs)
	}
	if len(c.ciphertext) == 0 || len(c.ciphertext)%bs != 0 {
		return nil, fmt.Errorf("cms: decrypt: encrypted content length %d is not a positive multiple of %d", len(c.ciphertext), bs)
	}
	out := make([]byte, len(c.ciphertext))
	cipher.NewCBCDecrypter(block, c.iv).CryptBlocks(out, c.ciphertext)
	n, ok := envPKCS7Unpad(out, bs)
	if !ok {
		clear(out)
		return nil, ErrDecryptionFailed
	}
	return out[:n], nil
}

// openGCM checks the tag and decrypts AuthEnvelopedData content.
func (c *envEncryptedContent) openGCM(cek []byte) ([]byte, error) {
	if c.icvLen < 12 || c.icvLen > 16 {
		return nil, fmt.Errorf("cms: decrypt: GCM ICV length %d is not supported", c.icvLen)
	}
	if len(c.mac) != c.icvLen {
		return nil, fmt.Errorf("cms: decrypt: mac is %d bytes, GCM parameters say %d", len(c.mac), c.icvLen)
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, ErrDecryptionFailed
	}
	var aead cipher.AEAD
	switch {
	case len(c.iv) == envGCMNonceSize:
		aead, err = cipher.NewGCMWithTagSize(block, c.icvLen)
	case c.icvLen == 16 && len(c.iv) >= 1 && len(c.iv) <= 64:
		aead, err = cipher.NewGCMWithNonceSize(block, len(c.iv))
	default:
		return nil, fmt.Errorf("cms: decrypt: GCM nonce of %d bytes with a %d-byte tag is not supported", len(c.iv), c.icvLen)
	}
	if err != nil {
		return nil, fmt.Errorf("cms: decrypt: %w", err)
	}
	sealed := make([]byte, 0, len(c.ciphertext)+len(c.mac))
	sealed = append(append(sealed, c.ciphertext...), c.mac...)
	out, err := aead.Open(sealed[:0], c.iv, sealed, c.aad)
	if err != nil {
		return nil, ErrDecryptionFailed
	}
	return out, nil
}

// envPKCS7Unpad checks the padding of a decrypted CBC message without
// branching on its bytes and returns the content length.
func envPKCS7Unpad(b []byte, bs int) (int, bool) {
	pad := int(b[len(b)-1])
	good := subtle.ConstantTimeLessOrEq(1, pad) & subtle.ConstantTimeLessOrEq(pad, bs)
	for i := 1; i <= bs; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i, pad)
		same := subtle.ConstantTimeByteEq(b[len(b)-i], byte(pad))
		// Positions inside the padding must equal pad.
		good &= subtle.ConstantTimeSelect(inPad, same, 1)
	}
	if good != 1 {
		return 0, false
	}
	return len(b) - pad, true
}

// envRecipientEntry is one recipient named in the message: a
// KeyTransRecipientInfo, one RecipientEncryptedKey of a
// KeyAgreeRecipientInfo, or a recipient kind this package cannot use.
type envRecipientEntry struct {
	kind string
	kt   *envKeyTrans
	ka   *envKeyAgree
	rek  *envRecipientEncryptedKey
}

func (e *envRecipientEntry) rid() *envRecipientID {
	switch {
	case e.kt != nil:
		return &e.kt.rid
	case e.rek != nil:
		return &e.rek.rid
	}
	return nil
}

// Names of RecipientInfo kinds (RFC 5652 §6.2), as EnvelopeRecipient.Kind.
const (
	RecipientKeyTransport = "KeyTransRecipientInfo"
	RecipientKeyAgreement = "KeyAgreeRecipientInfo"
	RecipientKEK          = "KEKRecipientInfo"
	RecipientPassword     = "PasswordRecipientInfo"
	RecipientOther        = "OtherRecipientInfo"
)

// entries parses every RecipientInfo.
func (env *envelopedData) entries() ([]envRecipientEntry, error) {
	var out []envRecipientEntry
	for i, raw := range env.recipients {
		s := cryptobyte.String(raw)
		var tag casn1.Tag
		var body cryptobyte.String
		if !s.ReadAnyASN1(&body, &tag) {
			return nil, envMalformed("RecipientInfo %d", i)
		}
		switch tag {
		case casn1.SEQUENCE:
			kt, err := envParseKeyTrans(body)
			if err != nil {
				return nil, fmt.Errorf("RecipientInfo %d: %w", i, err)
			}
			out = append(out, envRecipientEntry{kind: RecipientKeyTransport, kt: kt})
		case envTagCtx1Cons:
			ka, err := envParseKeyAgree(body)
			if err != nil {
				return nil, fmt.Errorf("RecipientInfo %d: %w", i, err)
			}
			for k := range ka.keys {
				out = append(out, envRecipientEntry{kind: RecipientKeyAgreement, ka: ka, rek: &ka.keys[k]})
			}
		case envTagCtx2Cons:
			out = append(out, envRecipientEntry{kind: RecipientKEK})
		case casn1.Tag(3).ContextSpecific().Constructed():
			out = append(out, envRecipientEntry{kind: RecipientPassword})
		case casn1.Tag(4).ContextSpecific().Constructed():
			out = append(out, envRecipientEntry{kind: RecipientOther})
		default:
			return nil, envMalformed("RecipientInfo %d (unknown tag %#x)", i, uint8(tag))
		}
	}
	return out, nil
}

// recoverKey finds the RecipientInfo for cert and recovers the content key.
func (env *envelopedData) recoverKey(cert *x509.Certificate, key crypto.PrivateKey, cekLen int) ([]byte, error) {
	entries, err := env.entries()
	if err != nil {
		return nil, fmt.Errorf("cms: decrypt: %w", err)
	}
	var skipped []string
	for _, e := range entries {
		rid := e.rid()
		if rid == nil {
			skipped = append(skipped, e.kind)
			continue
		}
		if !rid.matches(cert) {
			continue
		}
		if e.kt != nil {
			return e.kt.decryptKey(cert, key, cekLen)
		}
		return e.ka.decryptKey(cert, key, e.rek)
	}
	if len(skipped) > 0 {
		return nil, fmt.Errorf("%w (issuer %q, serial %s; %d recipients, unsupported kinds skipped: %v)",
			ErrNoRecipient, cert.Issuer.String(), cert.SerialNumber, len(entries), skipped)
	}
	return nil, fmt.Errorf("%w (issuer %q, serial %s; %d recipients)",
		ErrNoRecipient, cert.Issuer.String(), cert.SerialNumber, len(entries))
}

// EnvelopeRecipient is one recipient as named in an EnvelopedData or
// AuthEnvelopedData: what a caller needs to pick the certificate and key to
// decrypt with.
type EnvelopeRecipient struct {
	// Kind is RecipientKeyTransport, RecipientKeyAgreement, or a kind
	// Decrypt does not handle (RecipientKEK, RecipientPassword,
	// RecipientOther), for which the other fields are empty.
	Kind string
	// KeyEncryptionAlgorithm is rsaEncryption or id-RSAES-OAEP for key
	// transport, the ECDH KDF scheme for key agreement.
	KeyEncryptionAlgorithm asn1.ObjectIdentifier
	// RawIssuer (DER Name) and SerialNumber are set when the recipient is
	// named by issuer and serial number; SubjectKeyID otherwise.
	RawIssuer    []byte
	SerialNumber *big.Int
	SubjectKeyID []byte
}

// Matches reports whether cert is the certificate this recipient names.
func (r *EnvelopeRecipient) Matches(cert *x509.Certificate) bool {
	if r.SubjectKeyID == nil && r.SerialNumber == nil {
		return false
	}
	id := envRecipientID{issuer: r.RawIssuer, serial: r.SerialNumber, ski: r.SubjectKeyID}
	return id.matches(cert)
}

// EnvelopeRecipients lists the recipients of an EnvelopedData or
// AuthEnvelopedData (DER or BER) without decrypting anything, so that a
// caller holding several keys can find the one to use.
func EnvelopeRecipients(der []byte) ([]EnvelopeRecipient, error) {
	if len(der) > MaxEnvelopeSize {
		return nil, fmt.Errorf("cms: recipients: input of %d bytes exceeds the %d byte limit", len(der), MaxEnvelopeSize)
	}
	norm, err := normalizeBER(der)
	if err != nil {
		return nil, err
	}
	env, err := parseEnvelopedData(norm)
	if err != nil {
		return nil, fmt.Errorf("cms: recipients: %w", err)
	}
	entries, err := env.entries()
	if err != nil {
		return nil, fmt.Errorf("cms: recipients: %w", err)
	}
	out := make([]EnvelopeRecipient, 0, len(entries))
	for _, e := range entries {
		r := EnvelopeRecipient{Kind: e.kind}
		if rid := e.rid(); rid != nil {
			r.RawIssuer = bytes.Clone(rid.issuer)
			r.SerialNumber = rid.serial
			r.SubjectKeyID = bytes.Clone(rid.ski)
		}
		switch {
		case e.kt != nil:
			r.KeyEncryptionAlgorithm = e.kt.alg
		case e.ka != nil:
			r.KeyEncryptionAlgorithm = e.ka.kdfOID
		}
		out = append(out, r)
	}
	return out, nil
}

// envRecipientID is a parsed IssuerAndSerialNumber or subject key identifier.
type envRecipientID struct {
	issuer []byte // raw Name
	serial *big.Int
	ski    []byte
}

func (r *envRecipientID) matches(cert *x509.Certificate) bool {
	if r.ski != nil {
		return len(cert.SubjectKeyId) > 0 && bytes.Equal(r.ski, cert.SubjectKeyId)
	}
	return r.serial != nil && cert.SerialNumber != nil &&
		r.serial.Cmp(cert.SerialNumber) == 0 && envNamesEqual(r.issuer, cert.RawIssuer)
}

// envNamesEqual compares two DER Names: byte for byte, or else attribute
// by attribute ignoring the string type and letter case (a producer may
// re-encode the issuer, say PrintableString as UTF8String), roughly as
// OpenSSL's canonical X509_NAME_cmp does.
func envNamesEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var na, nb pkix.RDNSequence
	if rest, err := asn1.Unmarshal(a, &na); err != nil || len(rest) != 0 {
		return false
	}
	if rest, err := asn1.Unmarshal(b, &nb); err != nil || len(rest) != 0 {
		return false
	}
	if len(na) != len(nb) {
		return false
	}
	for i := range na {
		if len(na[i]) != len(nb[i]) {
			return false
		}
		for j := range na[i] {
			x, y := na[i][j], nb[i][j]
			if !x.Type.Equal(y.Type) {
				return false
			}
			xs, ok1 := x.Value.(string)
			ys, ok2 := y.Value.(string)
			if !ok1 || !ok2 || !strings.EqualFold(strings.Join(strings.Fields(xs), " "), strings.Join(strings.Fields(ys), " ")) {
				return false
			}
		}
	}
	return true
}

// envParseIssuerAndSerial reads IssuerAndSerialNumber ::= SEQUENCE { issuer
// Name, serialNumber INTEGER }.
func envParseIssuerAndSerial(s *cryptobyte.String) (envRecipientID, bool) {
	var ias cryptobyte.String
	var issuer cryptobyte.String
	serial := new(big.Int)
	if !s.ReadASN1(&ias, casn1.SEQUENCE) ||
		!ias.ReadASN1Element(&issuer, casn1.SEQUENCE) ||
		!ias.ReadASN1Integer(serial) || !ias.Empty() {
		return envRecipientID{}, false
	}
	return envRecipientID{issuer: issuer, serial: serial}, true
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
