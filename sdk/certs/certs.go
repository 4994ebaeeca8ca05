// Package certs orders X.509 certificates into chains and matches public
// keys, for the key stores (hsm/...) and the plugins alike. It imports
// nothing else of this module but sdk/gost, for the GOST and O'zDSt keys and
// signatures crypto/x509 leaves unparsed.
//
// A chain is walked issuer by issuer: the issuer of a certificate is a
// certificate of the pool whose subject is the certificate's issuer name
// and whose key verifies the certificate's signature.
//
//	leaf := certs.ForKey(all, pub)
//	chain := certs.Issuers(leaf, all) // intermediate(s), then the root if present
package certs

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"

	"github.com/signet-agent/signet/sdk/dstu"
	"github.com/signet-agent/signet/sdk/gost"
)

// MaxIssuers bounds the issuers Issuers walks.
const MaxIssuers = 8

// Issuers returns the issuers of cert found in pool, nearest first. Each
// is a certificate whose subject is the previous one's issuer name and
// whose key verifies its signature; the walk ends at a self-signed
// certificate, when no issuer is found, or after MaxIssuers. A certificate
// appears at most once. GOST and O'zDSt signatures are checked with
// sdk/gost; when no candidate verifies and a candidate's signature
// algorithm is one neither can check, that candidate is taken on its name
// alone.
func Issuers(cert *x509.Certificate, pool []*x509.Certificate) []*x509.Certificate {
	var chain []*x509.Certificate
	used := map[*x509.Certificate]bool{cert: true}
	for cur := cert; len(chain) < MaxIssuers && !bytes.Equal(cur.RawIssuer, cur.RawSubject); {
		next := issuerOf(cur, pool, used)
		if next == nil {
			break
		}
		used[next] = true
		chain = append(chain, next)
		cur = next
	}
	return chain
}

// issuerOf returns the certificate of pool, not used yet, that issued c.
func issuerOf(c *x509.Certificate, pool []*x509.Certificate, used map[*x509.Certificate]bool) *x509.Certificate {
	var unchecked *x509.Certificate
	for _, p := range pool {
		if used[p] || bytes.Equal(p.Raw, c.Raw) || !bytes.Equal(p.RawSubject, c.RawIssuer) {
			continue
		}
		err := CheckSignatureFrom(c, p)
		if err == nil {
			return p
		}
		if unchecked == nil && errors.Is(err, x509.ErrUnsupportedAlgorithm) {
			unchecked = p
		}
	}
	return unchecked
}

// CheckSignatureFrom is c.CheckSignatureFrom(parent), extended to the
// GOST and O'zDSt signatures crypto/x509 does not implement. The error
// wraps x509.ErrUnsupportedAlgorithm when neither can check it.
func CheckSignatureFrom(c, parent *x509.Certificate) error {
	err := c.CheckSignatureFrom(parent)
	if err == nil || !errors.Is(err, x509.ErrUnsupportedAlgorithm) {
		return err
	}
	gerr := gost.CheckCertificateSignature(c, parent)
	if errors.Is(gerr, gost.ErrNotGOST) {
		return err
	}
	return gerr
}

// PublicKey returns the public key of c: c.PublicKey, or for the keys
// crypto/x509 leaves unparsed a *gost.PublicKey (GOST, O'zDSt) or a
// *dstu.PublicKey (DSTU 4145); nil when none applies.
func PublicKey(c *x509.Certificate) crypto.PublicKey {
	if c == nil {
		return nil
	}
	if c.PublicKey != nil {
		return c.PublicKey
	}
	if pub, err := gost.CertificatePublicKey(c); err == nil {
		return pub
	}
	if pub, err := dstu.ParsePKIXPublicKey(c.RawSubjectPublicKeyInfo); err == nil {
		return pub
	}
	return nil
}

// ForKey returns the first certificate of certs whose public key is pub,
// or nil.
func ForKey(certs []*x509.Certificate, pub crypto.PublicKey) *x509.Certificate {
	for _, c := range certs {
		if SamePublicKey(pub, PublicKey(c)) {
			return c
		}
	}
	return nil
}

// SamePublicKey reports whether a and b are the same public key. Public
// values need no constant-time comparison, so RSA keys are compared
// directly; other types use their Equal method. A nil or unknown key is
// the same as nothing.
func SamePublicKey(a, b crypto.PublicKey) bool {
	if ka, ok := a.(*rsa.PublicKey); ok {
		kb, ok := b.(*rsa.PublicKey)
		return ok && ka != nil && kb != nil && ka.N != nil && kb.N != nil && ka.E == kb.E && ka.N.Cmp(kb.N) == 0
	}
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}
