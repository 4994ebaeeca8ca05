// Package gosttest issues GOST and O'zDSt certificates for tests, which
// crypto/x509 cannot create (it signs only with RSA, ECDSA and Ed25519).
//
//	key, _ := gost.GenerateKeyOf(gost.KeyGOST2012_256, gost.CurveTC26_256A, rand.Reader)
//	cert, err := gosttest.Certificate(gosttest.Template{CommonName: "Signer"}, &key.PublicKey, key, nil)
package gosttest

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"

	"github.com/signet-agent/signet/sdk/gost"
)

// Template is what varies between test certificates.
type Template struct {
	CommonName string
	// NotBefore and NotAfter default to an hour ago and a year ahead.
	NotBefore, NotAfter time.Time
	// IsCA adds basicConstraints cA=TRUE and keyCertSign.
	IsCA bool
}

type tbsCertificate struct {
	Version    int `asn1:"explicit,tag:0"`
	Serial     *big.Int
	Signature  pkix.AlgorithmIdentifier
	Issuer     asn1.RawValue
	Validity   validity
	Subject    asn1.RawValue
	PublicKey  asn1.RawValue
	Extensions []pkix.Extension `asn1:"explicit,tag:3"`
}

type validity struct {
	NotBefore, NotAfter time.Time
}

type certificate struct {
	TBS       asn1.RawValue
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
}

type basicConstraints struct {
	IsCA bool `asn1:"optional"`
}

// Certificate returns a certificate for pub signed by signer: self-signed
// when issuer is nil (signer must then be pub's key), else issued by
// issuer. The signature algorithm is the one of signer's key type, with
// NULL parameters as OpenSSL writes it.
func Certificate(tmpl Template, pub *gost.PublicKey, signer *gost.PrivateKey, issuer *x509.Certificate) (*x509.Certificate, error) {
	spki, err := gost.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	subject, err := asn1.Marshal(pkix.Name{CommonName: tmpl.CommonName}.ToRDNSequence())
	if err != nil {
		return nil, err
	}
	issuerName := subject
	if issuer != nil {
		issuerName = issuer.RawSubject
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().AddDate(1, 0, 0)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, err
	}
	usage := asn1.BitString{Bytes: []byte{0x80}, BitLength: 1} // digitalSignature
	if tmpl.IsCA {
		usage = asn1.BitString{Bytes: []byte{0x84}, BitLength: 6} // digitalSignature, keyCertSign
	}
	usageDER, _ := asn1.Marshal(usage)
	bcDER, _ := asn1.Marshal(basicConstraints{IsCA: tmpl.IsCA})
	alg := pkix.AlgorithmIdentifier{Algorithm: signer.Type.SignatureOID(), Parameters: asn1.NullRawValue}
	tbs, err := asn1.Marshal(tbsCertificate{
		Version:   2,
		Serial:    serial,
		Signature: alg,
		Issuer:    asn1.RawValue{FullBytes: issuerName},
		Validity:  validity{tmpl.NotBefore.UTC().Truncate(time.Second), tmpl.NotAfter.UTC().Truncate(time.Second)},
		Subject:   asn1.RawValue{FullBytes: subject},
		PublicKey: asn1.RawValue{FullBytes: spki},
		Extensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{2, 5, 29, 15}, Critical: true, Value: usageDER},
			{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bcDER},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("gosttest: encoding the certificate: %w", err)
	}
	h := signer.Type.NewHash()
	h.Write(tbs)
	sig, err := signer.Sign(rand.Reader, h.Sum(nil), nil)
	if err != nil {
		return nil, err
	}
	der, err := asn1.Marshal(certificate{TBS: asn1.RawValue{FullBytes: tbs}, Algorithm: alg, Signature: asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	if err != nil {
		return nil, fmt.Errorf("gosttest: encoding the certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}
