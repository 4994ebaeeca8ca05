package hsm

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net"
	"net/url"
)

// CSRRequest describes a PKCS#10 certificate request.
type CSRRequest struct {
	Subject        pkix.Name
	DNSNames       []string
	EmailAddresses []string
	IPAddresses    []net.IP
	URIs           []*url.URL
	// KeyUsage, ExtKeyUsage (and UnknownExtKeyUsage) and Policies are
	// requested as extensions (extensionRequest attribute).
	KeyUsage           x509.KeyUsage
	ExtKeyUsage        []x509.ExtKeyUsage
	UnknownExtKeyUsage []asn1.ObjectIdentifier
	Policies           []asn1.ObjectIdentifier
	// SignatureAlgorithm defaults to SHA-256 with the key's algorithm
	// (PKCS#1 v1.5 for RSA; set x509.SHA256WithRSAPSS for PSS).
	SignatureAlgorithm x509.SignatureAlgorithm
	ExtraExtensions    []pkix.Extension
}

var (
	oidExtKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidExtExtendedKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidExtCertPolicies     = asn1.ObjectIdentifier{2, 5, 29, 32}
)

// extKeyUsageOIDs maps x509.ExtKeyUsage values to their OIDs.
var extKeyUsageOIDs = map[x509.ExtKeyUsage]asn1.ObjectIdentifier{
	x509.ExtKeyUsageAny:                        {2, 5, 29, 37, 0},
	x509.ExtKeyUsageServerAuth:                 {1, 3, 6, 1, 5, 5, 7, 3, 1},
	x509.ExtKeyUsageClientAuth:                 {1, 3, 6, 1, 5, 5, 7, 3, 2},
	x509.ExtKeyUsageCodeSigning:                {1, 3, 6, 1, 5, 5, 7, 3, 3},
	x509.ExtKeyUsageEmailProtection:            {1, 3, 6, 1, 5, 5, 7, 3, 4},
	x509.ExtKeyUsageIPSECEndSystem:             {1, 3, 6, 1, 5, 5, 7, 3, 5},
	x509.ExtKeyUsageIPSECTunnel:                {1, 3, 6, 1, 5, 5, 7, 3, 6},
	x509.ExtKeyUsageIPSECUser:                  {1, 3, 6, 1, 5, 5, 7, 3, 7},
	x509.ExtKeyUsageTimeStamping:               {1, 3, 6, 1, 5, 5, 7, 3, 8},
	x509.ExtKeyUsageOCSPSigning:                {1, 3, 6, 1, 5, 5, 7, 3, 9},
	x509.ExtKeyUsageMicrosoftServerGatedCrypto: {1, 3, 6, 1, 4, 1, 311, 10, 3, 3},
	x509.ExtKeyUsageNetscapeServerGatedCrypto:  {2, 16, 840, 1, 113730, 4, 1},
}

// CreateCSR builds and signs a PKCS#10 request (DER) for key, whose private
// key is in ks. It works with any KeyStore: the signature goes through
// ks.Sign, so a PIN may be asked for.
func CreateCSR(ctx context.Context, ks KeyStore, key KeyInfo, req CSRRequest) ([]byte, error) {
	if !key.HasPrivateKey || key.PublicKey == nil {
		return nil, fmt.Errorf("create CSR for %s: no private key or public key: %w", key.URI, ErrInvalidRequest)
	}
	exts, err := csrExtensions(req)
	if err != nil {
		return nil, fmt.Errorf("create CSR for %s: %w", key.URI, err)
	}
	tmpl := &x509.CertificateRequest{
		Subject:            req.Subject,
		DNSNames:           req.DNSNames,
		EmailAddresses:     req.EmailAddresses,
		IPAddresses:        req.IPAddresses,
		URIs:               req.URIs,
		SignatureAlgorithm: req.SignatureAlgorithm,
		ExtraExtensions:    append(exts, req.ExtraExtensions...),
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, Signer(ctx, ks, key.URI, key.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("create CSR for %s: %w", key.URI, err)
	}
	// The token signed with the key the listing showed: check it.
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("create CSR for %s: %w", key.URI, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("create CSR for %s: signature does not verify with the listed public key: %w", key.URI, err)
	}
	return der, nil
}

func csrExtensions(req CSRRequest) ([]pkix.Extension, error) {
	var exts []pkix.Extension
	if req.KeyUsage != 0 {
		// BIT STRING, bit 0 = digitalSignature (most significant bit first)
		var bits [2]byte
		n := 0
		for i := 0; i < 9; i++ {
			if req.KeyUsage&(1<<uint(i)) != 0 {
				bits[i/8] |= 0x80 >> uint(i%8)
				n = i + 1
			}
		}
		l := (n + 7) / 8
		v, err := asn1.Marshal(asn1.BitString{Bytes: bits[:l], BitLength: n})
		if err != nil {
			return nil, err
		}
		exts = append(exts, pkix.Extension{Id: oidExtKeyUsage, Critical: true, Value: v})
	}
	if len(req.ExtKeyUsage) > 0 || len(req.UnknownExtKeyUsage) > 0 {
		var oids []asn1.ObjectIdentifier
		for _, u := range req.ExtKeyUsage {
			oid, ok := extKeyUsageOIDs[u]
			if !ok {
				return nil, fmt.Errorf("extended key usage %d: %w", u, ErrInvalidRequest)
			}
			oids = append(oids, oid)
		}
		oids = append(oids, req.UnknownExtKeyUsage...)
		v, err := asn1.Marshal(oids)
		if err != nil {
			return nil, err
		}
		exts = append(exts, pkix.Extension{Id: oidExtExtendedKeyUsage, Value: v})
	}
	if len(req.Policies) > 0 {
		type policyInformation struct {
			Policy asn1.ObjectIdentifier
		}
		pols := make([]policyInformation, len(req.Policies))
		for i, p := range req.Policies {
			pols[i] = policyInformation{Policy: p}
		}
		v, err := asn1.Marshal(pols)
		if err != nil {
			return nil, err
		}
		exts = append(exts, pkix.Extension{Id: oidExtCertPolicies, Value: v})
	}
	return exts, nil
}
