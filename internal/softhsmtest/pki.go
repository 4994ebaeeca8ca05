package softhsmtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// PKI is a small test certification authority: a self-signed root CA and an
// intermediate CA, both with software ECDSA P-256 keys, that issue
// end-entity certificates. The CA keys are exported so tests can build more
// (a time-stamping authority, an OCSP responder, a second chain).
type PKI struct {
	Name            string
	Root            *x509.Certificate
	RootKey         *ecdsa.PrivateKey
	Intermediate    *x509.Certificate
	IntermediateKey *ecdsa.PrivateKey
}

// IssueOptions describe an end-entity certificate. Zero fields get defaults.
type IssueOptions struct {
	// Subject; default CN "Signet Test End Entity". ExtraNames are encoded
	// too, so national attributes (E-IMZO TIN/PINFL OIDs) can be added.
	Subject pkix.Name
	// NotBefore defaults to one hour ago; NotAfter to one year after
	// NotBefore.
	NotBefore, NotAfter time.Time
	// KeyUsage defaults to digitalSignature|nonRepudiation, plus
	// keyEncipherment for RSA keys.
	KeyUsage x509.KeyUsage
	// ExtKeyUsage defaults to emailProtection and clientAuth. Set
	// NoExtKeyUsage to leave the extension out.
	ExtKeyUsage   []x509.ExtKeyUsage
	NoExtKeyUsage bool
	// SerialNumber defaults to a random 128-bit number.
	SerialNumber *big.Int
	// Subject alternative names.
	EmailAddresses []string
	DNSNames       []string
	// ExtraExtensions are added as they are (certificate policies,
	// national extensions).
	ExtraExtensions []pkix.Extension
	PolicyOIDs      []x509.OID
}

// NewPKI creates a root CA "<name> Root CA" and an intermediate CA
// "<name> Intermediate CA", valid from an hour ago for ten years.
func NewPKI(name string) (*PKI, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki %q: root key: %w", name, err)
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki %q: intermediate key: %w", name, err)
	}
	now := time.Now().Add(-time.Hour).Truncate(time.Second)
	root, err := newCA(name+" Root CA", now, nil, rootKey, rootKey)
	if err != nil {
		return nil, fmt.Errorf("pki %q: root certificate: %w", name, err)
	}
	inter, err := newCA(name+" Intermediate CA", now, root, interKey, rootKey)
	if err != nil {
		return nil, fmt.Errorf("pki %q: intermediate certificate: %w", name, err)
	}
	return &PKI{Name: name, Root: root, RootKey: rootKey, Intermediate: inter, IntermediateKey: interKey}, nil
}

var (
	defaultPKIOnce sync.Once
	defaultPKI     *PKI
	defaultPKIErr  error
)

// DefaultPKI returns a PKI named "Signet Test" created once per process.
func DefaultPKI() (*PKI, error) {
	defaultPKIOnce.Do(func() { defaultPKI, defaultPKIErr = NewPKI("Signet Test") })
	return defaultPKI, defaultPKIErr
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("softhsmtest: crypto/rand: " + err.Error())
	}
	return n.Add(n, big.NewInt(1))
}

// Chain returns the CA certificates above an end-entity certificate:
// intermediate, then root.
func (p *PKI) Chain() []*x509.Certificate {
	return []*x509.Certificate{p.Intermediate, p.Root}
}

// Roots returns a pool with the root certificate.
func (p *PKI) Roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Root)
	return pool
}

// Intermediates returns a pool with the intermediate certificate.
func (p *PKI) Intermediates() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.Intermediate)
	return pool
}

// Verify checks that cert chains to the root through the intermediate, for
// any extended key usage.
func (p *PKI) Verify(cert *x509.Certificate) error {
	_, err := cert.Verify(x509.VerifyOptions{
		Roots:         p.Roots(),
		Intermediates: p.Intermediates(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	return err
}

// Issue signs an end-entity certificate for pub with the intermediate CA.
func (p *PKI) Issue(pub crypto.PublicKey, opts IssueOptions) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          opts.SerialNumber,
		Subject:               opts.Subject,
		NotBefore:             opts.NotBefore,
		NotAfter:              opts.NotAfter,
		KeyUsage:              opts.KeyUsage,
		ExtKeyUsage:           opts.ExtKeyUsage,
		EmailAddresses:        opts.EmailAddresses,
		DNSNames:              opts.DNSNames,
		ExtraExtensions:       opts.ExtraExtensions,
		Policies:              opts.PolicyOIDs,
		BasicConstraintsValid: true,
	}
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = randomSerial()
	}
	if len(tmpl.Subject.Names) == 0 && len(tmpl.Subject.ExtraNames) == 0 && tmpl.Subject.CommonName == "" &&
		len(tmpl.Subject.Organization) == 0 && tmpl.Subject.SerialNumber == "" {
		tmpl.Subject.CommonName = "Signet Test End Entity"
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour).Truncate(time.Second)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = tmpl.NotBefore.AddDate(1, 0, 0)
	}
	if tmpl.KeyUsage == 0 {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
		if _, ok := pub.(*rsa.PublicKey); ok {
			tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
	}
	if len(tmpl.ExtKeyUsage) == 0 && !opts.NoExtKeyUsage {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsageClientAuth}
	}
	switch pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("issue certificate %q: unsupported public key %T", tmpl.Subject.CommonName, pub)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.Intermediate, pub, p.IntermediateKey)
	if err != nil {
		return nil, fmt.Errorf("issue certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("issue certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return cert, nil
}

// SoftwareKey is a private key held in memory with a certificate from a PKI.
type SoftwareKey struct {
	Type        string        // RSA2048, ECP256, Ed25519, ...
	Key         crypto.Signer // *rsa.PrivateKey, *ecdsa.PrivateKey or ed25519.PrivateKey
	Certificate *x509.Certificate
	Chain       []*x509.Certificate // intermediate, root
}

// NewSoftwareKey generates a software key of type typ (RSA2048, ECP256,
// ECP384, Ed25519, ...) with a certificate from DefaultPKI, subject CN
// "Signet Test Software <typ>".
func NewSoftwareKey(typ string) (*SoftwareKey, error) {
	p, err := DefaultPKI()
	if err != nil {
		return nil, err
	}
	return p.NewSoftwareKey(typ, IssueOptions{Subject: pkix.Name{CommonName: "Signet Test Software " + typ}})
}

// NewSoftwareKey generates a software key of type typ and issues a
// certificate for it with opts.
func (p *PKI) NewSoftwareKey(typ string, opts IssueOptions) (*SoftwareKey, error) {
	key, err := GenerateSoftwareKey(typ)
	if err != nil {
		return nil, err
	}
	cert, err := p.Issue(key.Public(), opts)
	if err != nil {
		return nil, err
	}
	return &SoftwareKey{Type: typ, Key: key, Certificate: cert, Chain: p.Chain()}, nil
}

// GenerateSoftwareKey generates an in-memory private key of type typ.
func GenerateSoftwareKey(typ string) (crypto.Signer, error) {
	switch typ {
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	case ECP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case ECP521:
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("software key: unsupported key type %q", typ)
}

// newCA issues a CA certificate for key, valid ten years from notBefore,
// signed by parentKey under parent (self-signed when parent is nil). An
// intermediate (parent set) may only issue end-entity certificates.
func newCA(cn string, notBefore time.Time, parent *x509.Certificate, key, parentKey *ecdsa.PrivateKey) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Signet Test"}},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        parent != nil,
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
