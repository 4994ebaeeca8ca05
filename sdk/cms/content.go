package cms

// Content encryption in both directions: AES-CBC (and DES-EDE3-CBC to read)
// in EnvelopedData, AES-GCM in AuthEnvelopedData.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/subtle"
	"encoding/asn1"
	"fmt"
)

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
