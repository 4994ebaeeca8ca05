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
// All options are per call; nothing here has package-level state
// that changes behaviour. Decryption failures that could serve as a padding
// oracle (RSA padding, key unwrap, CBC padding, GCM tag) all return the
// same ErrDecryptionFailed, without detail.

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"io"

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

// envMalformedError names the malformed structure and matches ErrMalformed
// with errors.Is.
type envMalformedError struct{ what string }

func (e *envMalformedError) Error() string { return "malformed " + e.what }

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
