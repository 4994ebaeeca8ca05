package softhsmtest

import (
	"crypto/x509/pkix"
	"fmt"
	"sync/atomic"
	"testing"
)

// Default PINs of tokens made by StandardToken and the demo.
const (
	DefaultUserPIN = "1234"
	DefaultSOPIN   = "5678"
)

// Names of the keys on a StandardToken.
const (
	KeyRSA     = "rsa2048"    // ID 01, RSA 2048
	KeyECDSA   = "ecdsa-p256" // ID 02, ECDSA P-256
	KeyEd25519 = "ed25519"    // ID 03, Ed25519
)

// StandardKeys are the keys StandardToken creates.
var StandardKeys = []KeySpec{
	{Label: KeyRSA, ID: []byte{0x01}, Type: RSA2048},
	{Label: KeyECDSA, ID: []byte{0x02}, Type: ECP256},
	{Label: KeyEd25519, ID: []byte{0x03}, Type: Ed25519},
}

// Fixture is a token filled with keys and certificates.
type Fixture struct {
	Token   *Token
	PKI     *PKI
	UserPIN string
	SOPIN   string
	// Keys by label (KeyRSA, KeyECDSA, KeyEd25519 for StandardToken).
	Keys map[string]*Key
}

var labelSeq atomic.Int64

// StandardToken creates a token labelled label (a unique one when empty)
// with user PIN DefaultUserPIN and SO PIN DefaultSOPIN, and three key pairs
// — KeyRSA (ID 01), KeyECDSA (ID 02) and KeyEd25519 (ID 03) — each with an
// end-entity certificate from DefaultPKI stored with the same CKA_ID and
// label. The token is deleted when the test ends. It fails the test on
// error.
func StandardToken(t testing.TB, env *Env, label string) *Fixture {
	t.Helper()
	if label == "" {
		label = fmt.Sprintf("test-%d", labelSeq.Add(1))
	}
	fx, err := NewFixture(env, label, DefaultUserPIN, DefaultSOPIN, StandardKeys)
	if fx != nil {
		t.Cleanup(func() {
			if err := fx.Token.Remove(); err != nil {
				t.Errorf("softhsmtest cleanup: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("softhsmtest: %v", err)
	}
	return fx
}

// NewFixture creates a token and fills it with keys (each with a
// certificate from DefaultPKI). On error after the token was created it
// returns the partial Fixture too, so the caller can remove the token.
func NewFixture(env *Env, label, userPIN, soPIN string, keys []KeySpec) (*Fixture, error) {
	pki, err := DefaultPKI()
	if err != nil {
		return nil, err
	}
	tok, err := env.CreateToken(label, userPIN, soPIN)
	if err != nil {
		return nil, err
	}
	fx := &Fixture{Token: tok, PKI: pki, UserPIN: userPIN, SOPIN: soPIN, Keys: make(map[string]*Key)}
	for _, spec := range keys {
		k, err := tok.AddKeyWithCert(pki, spec, IssueOptions{})
		if err != nil {
			return fx, err
		}
		fx.Keys[spec.Label] = k
	}
	return fx, nil
}

// AddKeyWithCert generates a key pair on the token, issues a certificate
// for it from pki and stores the certificate with the key's CKA_ID and
// label. An empty opts.Subject becomes CN "<token label> <key label>",
// O "Signet Test".
func (t *Token) AddKeyWithCert(pki *PKI, spec KeySpec, opts IssueOptions) (*Key, error) {
	k, err := t.GenerateKey(spec)
	if err != nil {
		return nil, err
	}
	if opts.Subject.CommonName == "" && len(opts.Subject.Names) == 0 && len(opts.Subject.ExtraNames) == 0 {
		opts.Subject = pkix.Name{CommonName: t.Label + " " + spec.Label, Organization: []string{"Signet Test"}}
	}
	cert, err := pki.Issue(k.Public, opts)
	if err != nil {
		return nil, fmt.Errorf("key %q on token %q: %w", spec.Label, t.Label, err)
	}
	if err := t.ImportCertificate(spec.ID, spec.Label, cert); err != nil {
		return nil, err
	}
	k.Certificate = cert
	return k, nil
}
