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
	alg, err := envContentAlgorithm(opts.ContentEncryption)
	if err != nil {
		return nil, err
	}
	switch opts.RSAKeyTransport {
	case RSAPKCS1v15, RSAOAEPSHA1, RSAOAEPSHA256:
	default:
		return nil, fmt.Errorf("cms: encrypt: unknown RSA key transport %d", opts.RSAKeyTransport)
	}

	cek := make([]byte, alg.keyLen)
	defer clear(cek)
	if _, err := io.ReadFull(rnd, cek); err != nil {
		return nil, fmt.Errorf("cms: encrypt: generate content key: %w", err)
	}
	enc, err := envEncryptContent(rnd, alg, cek, content)
	if err != nil {
		return nil, err
	}
	ris, version, err := envRecipientInfos(rnd, recipients, cek, opts, alg.gcm)
	if err != nil {
		return nil, err
	}
	return envMarshal(alg, enc, ris, version)
}

// envContentAlg is the content encryption algorithm Encrypt writes.
type envContentAlg struct {
	keyLen int
	oid    asn1.ObjectIdentifier
	gcm    bool // AES-GCM, in AuthEnvelopedData
}

func envContentAlgorithm(ce ContentEncryption) (envContentAlg, error) {
	switch ce {
	case AES256CBC:
		return envContentAlg{32, envOIDAES256CBC, false}, nil
	case AES128CBC:
		return envContentAlg{16, envOIDAES128CBC, false}, nil
	case AES256GCM:
		return envContentAlg{32, envOIDAES256GCM, true}, nil
	case AES128GCM:
		return envContentAlg{16, envOIDAES128GCM, true}, nil
	}
	return envContentAlg{}, fmt.Errorf("cms: encrypt: unknown content encryption %d", ce)
}

// envEncrypted is the encrypted content: the IV (or GCM nonce), the
// ciphertext and, for GCM, the authentication tag.
type envEncrypted struct {
	iv, ciphertext, mac []byte
}

// envEncryptContent encrypts content under cek with a fresh IV (or nonce).
func envEncryptContent(rnd io.Reader, alg envContentAlg, cek, content []byte) (envEncrypted, error) {
	ivLen := aes.BlockSize
	if alg.gcm {
		ivLen = envGCMNonceSize
	}
	e := envEncrypted{iv: make([]byte, ivLen)}
	if _, err := io.ReadFull(rnd, e.iv); err != nil {
		return envEncrypted{}, fmt.Errorf("cms: encrypt: generate IV: %w", err)
	}
	var err error
	if alg.gcm {
		e.ciphertext, e.mac, err = envGCMSeal(cek, e.iv, content)
	} else {
		e.ciphertext, err = envCBCEncrypt(cek, e.iv, content)
	}
	if err != nil {
		return envEncrypted{}, fmt.Errorf("cms: encrypt content: %w", err)
	}
	return e, nil
}

// envRecipientInfos makes one RecipientInfo per certificate, carrying cek,
// and returns them with the EnvelopedData version they require.
func envRecipientInfos(rnd io.Reader, recipients []*x509.Certificate, cek []byte, opts EncryptOptions, gcm bool) ([][]byte, int64, error) {
	version := int64(0)
	ris := make([][]byte, 0, len(recipients))
	for i, cert := range recipients {
		if cert == nil {
			return nil, 0, fmt.Errorf("cms: encrypt: recipient %d is nil", i)
		}
		var ri []byte
		var riVersion int64
		var err error
		switch pub := cert.PublicKey.(type) {
		case *rsa.PublicKey:
			ri, riVersion, err = envKeyTransRecipient(rnd, cert, pub, cek, opts)
		case *ecdsa.PublicKey:
			ri, riVersion, err = envKeyAgreeRecipient(rnd, cert, pub, cek, opts)
		default:
			err = fmt.Errorf("public key type %T is not supported (need RSA or EC)", cert.PublicKey)
		}
		if err != nil {
			return nil, 0, fmt.Errorf("cms: encrypt: recipient %d (%s): %w", i, cert.Subject, err)
		}
		if riVersion != 0 && !gcm {
			version = 2 // RFC 5652 §6.1: any RecipientInfo not version 0
		}
		ris = append(ris, ri)
	}
	return ris, version, nil
}

// envMarshal encodes the ContentInfo holding EnvelopedData, or
// AuthEnvelopedData for GCM (RFC 5083: version is always 0 there).
func envMarshal(alg envContentAlg, enc envEncrypted, ris [][]byte, version int64) ([]byte, error) {
	contentType := OIDEnvelopedData
	if alg.gcm {
		contentType = OIDAuthEnvelopedData
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
						b.AddASN1ObjectIdentifier(alg.oid)
						if alg.gcm {
							b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { // GCMParameters
								b.AddASN1OctetString(enc.iv)
								b.AddASN1Int64(int64(len(enc.mac)))
							})
						} else {
							b.AddASN1OctetString(enc.iv)
						}
					})
					b.AddASN1(envTagCtx0Prim, func(b *cryptobyte.Builder) {
						b.AddBytes(enc.ciphertext)
					})
				})
				if alg.gcm {
					b.AddASN1OctetString(enc.mac) // mac MessageAuthenticationCode
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
