package softhsmtest

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// PFXEncoding selects the algorithms a PFX file is written with.
type PFXEncoding int

const (
	// Modern: PBES2 with PBKDF2-HMAC-SHA-256 and AES-256-CBC, HMAC-SHA-256
	// MAC (pkcs12.Modern2023), what OpenSSL 3 writes by default.
	Modern PFXEncoding = iota
	// Legacy: certificates under 40-bit RC2, key under 3DES, SHA-1 MAC
	// (pkcs12.LegacyRC2), what old Windows and OpenSSL 1.x wrote. OpenSSL 3
	// reads it only with -legacy.
	Legacy
	// LegacyDES: certificates and key under 3DES, SHA-1 MAC
	// (pkcs12.LegacyDES), OpenSSL's -descert.
	LegacyDES
)

func (e PFXEncoding) String() string {
	switch e {
	case Modern:
		return "modern"
	case Legacy:
		return "legacy-rc2"
	case LegacyDES:
		return "legacy-des"
	}
	return fmt.Sprintf("PFXEncoding(%d)", int(e))
}

func (e PFXEncoding) encoder() (*pkcs12.Encoder, error) {
	switch e {
	case Modern:
		return pkcs12.Modern2023, nil
	case Legacy:
		return pkcs12.LegacyRC2, nil
	case LegacyDES:
		return pkcs12.LegacyDES, nil
	}
	return nil, fmt.Errorf("unknown PFX encoding %d", int(e))
}

// EncodePFX returns a PKCS#12 file holding key, cert and chain, protected
// with password (may be empty or non-ASCII).
func EncodePFX(key crypto.PrivateKey, cert *x509.Certificate, chain []*x509.Certificate, password string, enc PFXEncoding) ([]byte, error) {
	e, err := enc.encoder()
	if err != nil {
		return nil, err
	}
	data, err := e.Encode(key, cert, chain, password)
	if err != nil {
		return nil, fmt.Errorf("encode %s PFX: %w", enc, err)
	}
	return data, nil
}

// WritePFX writes a PKCS#12 file holding key, cert and chain to path
// (mode 0600, parent directories created).
func WritePFX(path string, key crypto.PrivateKey, cert *x509.Certificate, chain []*x509.Certificate, password string, enc PFXEncoding) error {
	data, err := EncodePFX(key, cert, chain, password, enc)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WritePFX writes the software key, its certificate and chain to path.
func (k *SoftwareKey) WritePFX(path, password string, enc PFXEncoding) error {
	return WritePFX(path, k.Key, k.Certificate, k.Chain, password, enc)
}
