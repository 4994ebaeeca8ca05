package eimzo

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/signet-agent/signet/sdk/cms"
	"github.com/signet-agent/signet/sdk/x500"
)

// x509 plugin: the certificate chain of a key, information about a
// certificate, and one certificate's signature checked with another.

func init() {
	register(
		&function{Plugin: "x509", Name: "get_certificate_chain", Gate: gateKeyStore, Run: (*Server).getCertificateChain,
			Description: "Получить цепочку сертификатов в кодировке BASE64 по идентификатору ключа",
			Args:        []arg{{Name: "certId", Description: "Идентификатор ключа"}}},
		&function{Plugin: "x509", Name: "get_certificate_info", Gate: gateAsk, Run: (*Server).getCertificateInfo,
			Description: "Получить информацию о сертификате",
			Args:        []arg{{Name: "certificate_64", Description: "Сертификат в кодировке BASE64 (или PEM)"}}},
		&function{Plugin: "x509", Name: "verify_certificate", Gate: gateAsk, Run: (*Server).verifyCertificate,
			Description: "Проверить подпись сертификата субъекта сертификатом издателя",
			Args: []arg{
				{Name: "subject_certificate_64", Description: "Сертификат субъекта в кодировке BASE64"},
				{Name: "issuer_certificate_64", Description: "Сертификат издателя в кодировке BASE64"},
			}},
	)
}

// tashkent is Uzbekistan's time (UTC+5, no daylight saving since 1992).
// E-IMZO writes certificate dates in it ("yyyy.MM.dd HH:mm:ss"), as in
// its key aliases; a fixed zone needs no tzdata on the machine.
var tashkent = time.FixedZone("UZT", 5*60*60)

// eimzoTime formats t the way E-IMZO writes dates: "2024.04.25 23:59:59",
// Tashkent time.
func eimzoTime(t time.Time) string { return t.In(tashkent).Format("2006.01.02 15:04:05") }

// Bounds of base64 arguments other than documents.
const (
	MaxCertificate = 64 << 10 // one certificate, DER
)

// errBadArgument is the -9999 reply for an argument that cannot be
// decoded; name is the argument's name.
func errBadArgument(name string, cause error) error {
	return &Error{Status: StatusRuntime, Args: []any{name}, cause: cause, text: [2]string{
		"Неверное значение аргумента %s", "%s argumentining qiymati noto'g'ri"}}
}

// parseCertificateArg parses a certificate argument: base64 DER or PEM.
func parseCertificateArg(name, s string) (*x509.Certificate, error) {
	der, err := pemOrBase64(s, "CERTIFICATE", MaxCertificate)
	if err != nil {
		return nil, errBadArgument(name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, errBadArgument(name, err)
	}
	return cert, nil
}

// pemOrBase64 decodes a PEM block of one of types (the first block) or
// plain base64.
func pemOrBase64(s string, typ string, max int) ([]byte, error) {
	if len(s) > 2*max {
		return nil, fmt.Errorf("more than %d bytes", max)
	}
	if t := strings.TrimSpace(s); strings.HasPrefix(t, "-----BEGIN") {
		b, _ := pem.Decode([]byte(t))
		if b == nil || !strings.HasSuffix(b.Type, typ) {
			return nil, fmt.Errorf("not a PEM %s", typ)
		}
		return b.Bytes, nil
	}
	return decodeBase64(strings.TrimSpace(s), max)
}

// certificateInfo is E-IMZO's description of a certificate
// (x509.get_certificate_info, pkcs7Info signers' certificate[]).
type certificateInfo struct {
	SerialNumber string            `json:"serialNumber"` // lowercase hex
	SubjectName  string            `json:"subjectName"`  // "CN=…,O=…" in certificate order
	SubjectInfo  map[string]string `json:"subjectInfo"`  // attribute name → value
	IssuerName   string            `json:"issuerName"`
	IssuerInfo   map[string]string `json:"issuerInfo"`
	ValidFrom    string            `json:"validFrom"` // yyyy.MM.dd HH:mm:ss, Tashkent
	ValidTo      string            `json:"validTo"`
	PublicKey    publicKeyInfo     `json:"publicKey"`
	Signature    signatureInfo     `json:"signature"`
	// PolicyIdentifiers are the certificate policy OIDs.
	PolicyIdentifiers []string `json:"policyIdentifiers"`
}

type publicKeyInfo struct {
	KeyAlgName string `json:"keyAlgName"` // Java names: RSA, EC, Ed25519, OZDST-1092-2009-2
	PublicKey  string `json:"publicKey"`  // base64 SubjectPublicKeyInfo
}

type signatureInfo struct {
	SignAlgName string `json:"signAlgName"` // Java names: SHA256withRSA, SHA256withECDSA, …
	Signature   string `json:"signature"`   // hex
}

// spki is a SubjectPublicKeyInfo, read for its algorithm OID.
type spki struct {
	Algorithm struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue `asn1:"optional"`
	}
	PublicKey asn1.BitString
}

// keyAlgOID returns the public key algorithm OID of a certificate.
func keyAlgOID(cert *x509.Certificate) asn1.ObjectIdentifier {
	return spkiAlgOID(cert.RawSubjectPublicKeyInfo)
}

// spkiAlgOID returns the algorithm OID of a DER SubjectPublicKeyInfo.
func spkiAlgOID(raw []byte) asn1.ObjectIdentifier {
	var k spki
	if _, err := asn1.Unmarshal(raw, &k); err != nil {
		return nil
	}
	return k.Algorithm.Algorithm
}

// keyAlgNames names public key algorithms by OID (Java/E-IMZO names).
var keyAlgNames = []struct {
	oid  asn1.ObjectIdentifier
	name string
}{
	{cms.OIDPublicKeyRSA, "RSA"},
	{cms.OIDPublicKeyECDSA, "EC"},
	{cms.OIDPublicKeyEd25519, "Ed25519"},
	{cms.OIDPublicKeyOzDSt1092_2, "OZDST-1092-2009-2"},
	{cms.OIDPublicKeyOzDSt1092_1, "OZDST-1092-2009-1"},
	{cms.OIDPublicKeyOzMSt286, "OZMST-286-2024-2"},
	{cms.OIDPublicKeyGOST2001, "ECGOST3410"},
	{cms.OIDPublicKeyGOST2012_256, "ECGOST3410-2012-256"},
	{cms.OIDPublicKeyGOST2012_512, "ECGOST3410-2012-512"},
}

// keyAlgName is the Java-style name of a certificate's key algorithm, or
// its OID.
func keyAlgName(cert *x509.Certificate) string { return spkiAlgName(cert.RawSubjectPublicKeyInfo) }

// spkiAlgName is keyAlgName for a DER SubjectPublicKeyInfo.
func spkiAlgName(raw []byte) string {
	oid := spkiAlgOID(raw)
	for _, k := range keyAlgNames {
		if k.oid.Equal(oid) {
			return k.name
		}
	}
	return oid.String()
}

// sigAlgNames names signature algorithms by OID (Java/E-IMZO names).
var sigAlgNames = []struct {
	oid  asn1.ObjectIdentifier
	name string
}{
	{cms.OIDSignatureSHA1WithRSA, "SHA1withRSA"},
	{cms.OIDSignatureSHA224WithRSA, "SHA224withRSA"},
	{cms.OIDSignatureSHA256WithRSA, "SHA256withRSA"},
	{cms.OIDSignatureSHA384WithRSA, "SHA384withRSA"},
	{cms.OIDSignatureSHA512WithRSA, "SHA512withRSA"},
	{cms.OIDSignatureRSAPSS, "RSASSA-PSS"},
	{cms.OIDSignatureECDSAWithSHA1, "SHA1withECDSA"},
	{cms.OIDSignatureECDSAWithSHA224, "SHA224withECDSA"},
	{cms.OIDSignatureECDSAWithSHA256, "SHA256withECDSA"},
	{cms.OIDSignatureECDSAWithSHA384, "SHA384withECDSA"},
	{cms.OIDSignatureECDSAWithSHA512, "SHA512withECDSA"},
	{cms.OIDSignatureEd25519, "Ed25519"},
	{cms.OIDSignatureOzDSt1106With1092, "OZDST-1106-2009-2-AwithOZDST-1092-2009-2"},
	{cms.OIDSignatureOzDSt1092_1, "OZDST-1106-2009-1withOZDST-1092-2009-1"},
	{cms.OIDSignatureOzMSt285With286, "OZMST-285-2024-2-AwithOZMST-286-2024-2"},
	{cms.OIDSignatureGOST94With2001, "GOST3411withECGOST3410"},
	{cms.OIDSignatureGOST2012_256, "GOST3411-2012-256withECGOST3410-2012-256"},
	{cms.OIDSignatureGOST2012_512, "GOST3411-2012-512withECGOST3410-2012-512"},
}

// sigAlgName is the Java-style name of a signature algorithm OID, or the
// OID itself.
func sigAlgName(oid asn1.ObjectIdentifier) string {
	for _, s := range sigAlgNames {
		if s.oid.Equal(oid) {
			return s.name
		}
	}
	return oid.String()
}

// outerSigAlgOID reads the signatureAlgorithm OID of a signed DER
// structure SEQUENCE { tbs, signatureAlgorithm, signature } (a
// certificate or a certificate request).
func outerSigAlgOID(raw []byte) asn1.ObjectIdentifier {
	var c struct {
		TBS    asn1.RawValue
		SigAlg struct {
			Algorithm  asn1.ObjectIdentifier
			Parameters asn1.RawValue `asn1:"optional"`
		}
		Sig asn1.BitString
	}
	if _, err := asn1.Unmarshal(raw, &c); err != nil {
		return nil
	}
	return c.SigAlg.Algorithm
}

// nameString formats a DER Name for replies; a name that cannot be read
// falls back to Go's RFC 4514 form.
func nameString(der []byte, fallback fmt.Stringer) string {
	s, err := x500.Format(der)
	if err != nil {
		return fallback.String()
	}
	return s
}

// describeCertificate builds certificateInfo.
func describeCertificate(cert *x509.Certificate) certificateInfo {
	info := certificateInfo{
		SerialNumber: cert.SerialNumber.Text(16),
		SubjectName:  nameString(cert.RawSubject, cert.Subject),
		SubjectInfo:  x500.Map(cert.RawSubject),
		IssuerName:   nameString(cert.RawIssuer, cert.Issuer),
		IssuerInfo:   x500.Map(cert.RawIssuer),
		ValidFrom:    eimzoTime(cert.NotBefore),
		ValidTo:      eimzoTime(cert.NotAfter),
		PublicKey: publicKeyInfo{
			KeyAlgName: keyAlgName(cert),
			PublicKey:  base64.StdEncoding.EncodeToString(cert.RawSubjectPublicKeyInfo),
		},
		Signature: signatureInfo{
			SignAlgName: sigAlgName(outerSigAlgOID(cert.Raw)),
			Signature:   hex.EncodeToString(cert.Signature),
		},
		PolicyIdentifiers: []string{},
	}
	for _, p := range cert.PolicyIdentifiers {
		info.PolicyIdentifiers = append(info.PolicyIdentifiers, p.String())
	}
	return info
}

// getCertificateChain returns the certificates of a key: the user's, then
// its CA's and the root's as far as the key store has them, base64 DER.
//
// E-IMZO opens the key file here and so asks for its password. Signet
// does not need the private key for it: it looks the key up in the host
// (a Key call carrying the caller's origin, so the host's origin policy
// applies and the lookup is journalled) and answers from the certificates
// stored with the key. A key pair from generate_keypair has no
// certificate: -1018. A pseudo-id's key the person has just picked in the
// host's dialog (it came with a grant) was returned in full: no second
// lookup, so no second question for an origin allowed only once.
func (s *Server) getCertificateChain(c *call) (Reply, error) {
	h, err := s.keyFor(c, c.args[0])
	if err != nil {
		return nil, err
	}
	k := h.Key
	if h.GrantID == "" {
		summary := fmt.Sprintf("%s asks for the certificate chain of %s", c.sess.domain, keyName(h.Key))
		if k, err = s.keys.Key(c.ctx, h.Key.URI, c.op(summary)); err != nil {
			return nil, err
		}
	}
	if k.Certificate == nil {
		return nil, errNoCertificate()
	}
	certs := []string{base64.StdEncoding.EncodeToString(k.Certificate.Raw)}
	for _, ca := range k.Chain {
		certs = append(certs, base64.StdEncoding.EncodeToString(ca.Raw))
	}
	return Reply{"certificates": certs}, nil
}

// getCertificateInfo describes a certificate (base64 DER or PEM).
func (s *Server) getCertificateInfo(c *call) (Reply, error) {
	cert, err := parseCertificateArg("certificate_64", c.args[0])
	if err != nil {
		return nil, err
	}
	return Reply{"certificate_info": describeCertificate(cert)}, nil
}

// errCertificateNotIssued is the reply of verify_certificate when the
// subject certificate was not issued by the issuer certificate.
var errCertificateNotIssued = errors.New("subject certificate is not signed by the issuer certificate")

// verifyCertificate checks that subject was issued by issuer: the
// subject's issuer name is the issuer's subject name, and the subject's
// signature verifies with the issuer's public key (and the issuer may
// issue certificates: a CA by basicConstraints for a v3 certificate). It
// does not check validity dates, revocation or trust: E-IMZO's function
// checks the signature only.
func (s *Server) verifyCertificate(c *call) (Reply, error) {
	subject, err := parseCertificateArg("subject_certificate_64", c.args[0])
	if err != nil {
		return nil, err
	}
	issuer, err := parseCertificateArg("issuer_certificate_64", c.args[1])
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(subject.RawIssuer, issuer.RawSubject) {
		return nil, certificateNotIssued(errCertificateNotIssued)
	}
	if err := subject.CheckSignatureFrom(issuer); err != nil {
		return nil, certificateNotIssued(err)
	}
	return Reply{}, nil
}

func certificateNotIssued(cause error) error {
	return &Error{Status: StatusRuntime, cause: cause, text: [2]string{
		"Сертификат субъекта не подписан сертификатом издателя",
		"Subyekt sertifikati emitent sertifikati bilan imzolanmagan"}}
}
