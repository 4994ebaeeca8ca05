package sdk

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
)

// templateDER encodes a CSR template for the wire. Go has no way to encode
// an unsigned CertificateRequest, so it is signed with a throwaway P-256
// key; the host takes only the subject, SANs and extensions from it.
func templateDER(t *x509.CertificateRequest) ([]byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := *t
	tmpl.SignatureAlgorithm = 0
	tmpl.PublicKey = nil
	return x509.CreateCertificateRequest(rand.Reader, &tmpl, k)
}
