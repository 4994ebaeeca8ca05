package cms

// Encrypt: the content key, the content encryption and the ContentInfo
// around the RecipientInfos.

import (
	"bytes"
	"crypto/aes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

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
