package softhsmtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
)

// VerifySignature checks sig over digest with pub, the way crypto.Signer
// made it with opts: RSA PKCS #1 v1.5 (or PSS when opts is *rsa.PSSOptions),
// ECDSA (ASN.1), or Ed25519 (digest is then the whole message). Tests use it
// to check signatures made through the key store, the host or a plugin.
func VerifySignature(pub crypto.PublicKey, digest, sig []byte, opts crypto.SignerOpts) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			return rsa.VerifyPSS(k, pss.Hash, digest, sig, pss)
		}
		return rsa.VerifyPKCS1v15(k, opts.HashFunc(), digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("ECDSA signature does not verify")
		}
	case ed25519.PublicKey:
		if !ed25519.Verify(k, digest, sig) {
			return errors.New("Ed25519 signature does not verify")
		}
	default:
		return fmt.Errorf("unexpected public key type %T", pub)
	}
	return nil
}
