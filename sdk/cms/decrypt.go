package cms

// Decrypt: parsing EnvelopedData and AuthEnvelopedData, and recovering the
// content key through the recipient's RecipientInfo.

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

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

// envelopedData is the parsed part of EnvelopedData that Decrypt needs.
type envelopedData struct {
	recipients [][]byte // raw RecipientInfo elements
	content    envEncryptedContent
}

func parseEnvelopedData(der []byte) (*envelopedData, error) {
	ed, auth, err := envUnwrapContentInfo(der)
	if err != nil {
		return nil, err
	}
	env := &envelopedData{}
	env.content.auth = auth
	if env.recipients, err = envParseRecipientInfos(&ed); err != nil {
		return nil, err
	}
	var eci cryptobyte.String
	if !ed.ReadASN1(&eci, casn1.SEQUENCE) {
		return nil, envMalformed("EncryptedContentInfo")
	}
	if err := env.content.parseTrailer(&ed); err != nil {
		return nil, err
	}
	if err := env.content.parseInfo(eci); err != nil {
		return nil, err
	}
	return env, nil
}

// envUnwrapContentInfo returns the body of the EnvelopedData or
// AuthEnvelopedData (auth) SEQUENCE a ContentInfo holds.
func envUnwrapContentInfo(der []byte) (ed cryptobyte.String, auth bool, err error) {
	input := cryptobyte.String(der)
	var ci, explicit cryptobyte.String
	if !input.ReadASN1(&ci, casn1.SEQUENCE) || !input.Empty() {
		return nil, false, envMalformed("ContentInfo (not a single SEQUENCE)")
	}
	var oid asn1.ObjectIdentifier
	if !ci.ReadASN1ObjectIdentifier(&oid) {
		return nil, false, envMalformed("ContentInfo content type")
	}
	auth = oid.Equal(OIDAuthEnvelopedData)
	if !auth && !oid.Equal(OIDEnvelopedData) {
		return nil, false, &envNotEnvelopedError{oid}
	}
	if !ci.ReadASN1(&explicit, envTagCtx0Cons) || !ci.Empty() {
		return nil, false, envMalformed("ContentInfo content")
	}
	if !explicit.ReadASN1(&ed, casn1.SEQUENCE) || !explicit.Empty() {
		return nil, false, envMalformed("EnvelopedData")
	}
	return ed, auth, nil
}

// envParseRecipientInfos reads the version, originatorInfo and
// recipientInfos of an EnvelopedData body, and returns the raw
// RecipientInfo elements (at least one, at most envMaxRecipients).
func envParseRecipientInfos(ed *cryptobyte.String) ([][]byte, error) {
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
	var recipients [][]byte
	for !riSet.Empty() {
		var ri cryptobyte.String
		if !riSet.ReadAnyASN1Element(&ri, nil) {
			return nil, envMalformed("RecipientInfo")
		}
		if len(recipients) == envMaxRecipients {
			return nil, fmt.Errorf("more than %d recipients", envMaxRecipients)
		}
		recipients = append(recipients, ri)
	}
	if len(recipients) == 0 {
		return nil, errors.New("EnvelopedData has no recipients")
	}
	return recipients, nil
}

// parseTrailer reads what follows the EncryptedContentInfo: authAttrs, mac
// and unauthAttrs of AuthEnvelopedData, or the ignored unprotectedAttrs of
// EnvelopedData; nothing may follow them.
func (c *envEncryptedContent) parseTrailer(ed *cryptobyte.String) error {
	if !c.auth {
		// unprotectedAttrs [1] IMPLICIT OPTIONAL: ignored.
		if !ed.SkipOptionalASN1(envTagCtx1Cons) || !ed.Empty() {
			return envMalformed("EnvelopedData (trailing data)")
		}
		return nil
	}
	// authAttrs [1] IMPLICIT OPTIONAL: authenticated, as the GCM additional
	// data, in their DER form with the SET OF tag (RFC 5083 §2.2). mac
	// OCTET STRING. unauthAttrs [2] IMPLICIT OPTIONAL.
	if ed.PeekASN1Tag(envTagCtx1Cons) {
		var attrs cryptobyte.String
		if !ed.ReadASN1Element(&attrs, envTagCtx1Cons) {
			return envMalformed("AuthEnvelopedData authAttrs")
		}
		c.aad = append([]byte{byte(casn1.SET)}, attrs[1:]...)
	}
	var mac cryptobyte.String
	if !ed.ReadASN1(&mac, casn1.OCTET_STRING) {
		return envMalformed("AuthEnvelopedData mac")
	}
	c.mac = mac
	if !ed.SkipOptionalASN1(envTagCtx2Cons) || !ed.Empty() {
		return envMalformed("AuthEnvelopedData (trailing data)")
	}
	return nil
}

// parseInfo reads an EncryptedContentInfo: the content encryption
// algorithm with its IV (CBC) or GCMParameters, and the encrypted content
// (primitive, or BER chunks).
func (c *envEncryptedContent) parseInfo(eci cryptobyte.String) error {
	var innerType asn1.ObjectIdentifier
	if !eci.ReadASN1ObjectIdentifier(&innerType) {
		return envMalformed("EncryptedContentInfo content type")
	}
	var alg, params cryptobyte.String
	if !eci.ReadASN1(&alg, casn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&c.alg) {
		return envMalformed("content encryption algorithm")
	}
	params = alg
	switch {
	case params.PeekASN1Tag(casn1.OCTET_STRING): // CBC: the IV
		var iv cryptobyte.String
		if !params.ReadASN1(&iv, casn1.OCTET_STRING) {
			return envMalformed("content encryption IV")
		}
		c.iv = iv
	case params.PeekASN1Tag(casn1.SEQUENCE): // GCMParameters
		var gp, nonce cryptobyte.String
		icv := int64(12)
		if !params.ReadASN1(&gp, casn1.SEQUENCE) || !gp.ReadASN1(&nonce, casn1.OCTET_STRING) {
			return envMalformed("content encryption parameters")
		}
		if !gp.Empty() && !gp.ReadASN1Int64WithTag(&icv, casn1.INTEGER) || !gp.Empty() {
			return envMalformed("GCM ICV length")
		}
		c.iv = nonce
		c.icvLen = int(icv)
	}
	if !params.Empty() {
		return envMalformed("content encryption parameters")
	}
	if eci.Empty() {
		return errors.New("encrypted content is absent (detached EnvelopedData is not supported)")
	}
	var tag casn1.Tag
	var body cryptobyte.String
	if !eci.ReadAnyASN1(&body, &tag) || !eci.Empty() {
		return envMalformed("encrypted content")
	}
	switch tag {
	case envTagCtx0Prim:
		c.ciphertext = body
	case envTagCtx0Cons: // BER chunks: OCTET STRINGs inside [0]
		ct, err := envJoinOctetChunks(body, 0)
		if err != nil {
			return err
		}
		c.ciphertext = ct
	default:
		return envMalformed("encrypted content (tag %#x)", uint8(tag))
	}
	return nil
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
