package cms

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/signet-agent/signet/sdk/certs"
)

// crypto/x509 cannot check GOST and O'zDSt certificate signatures, so
// Verify builds those paths itself: issuer by issuer from the
// certificates at hand (the message's, the extra ones and
// VerifyOptions.Certificates), each signature checked with sdk/gost, up to
// a certificate that is itself one of the roots (x509 accepts a root of
// the pool as a chain of its own without checking its signature). Every
// certificate must be valid at the validation time, every issuer a CA
// (basicConstraints, keyCertSign when keyUsage is present, path length),
// no certificate may carry a critical extension x509 did not handle, and
// the signer certificate must allow one of the usages. Name constraints
// are not evaluated: a path through a CA that has them is refused.

// errGOSTChainUntrusted and errGOSTChainExpired classify a failed path.
var (
	errGOSTChainUntrusted = errors.New("no path to a trusted root")
	errGOSTChainExpired   = errors.New("certificate outside its validity period")
)

// isGOSTSigned reports whether c's signature is one crypto/x509 does not
// know, which this file then checks.
func isGOSTSigned(c *x509.Certificate) bool {
	return c.SignatureAlgorithm == x509.UnknownSignatureAlgorithm
}

// verifyGOSTChain returns the path from leaf to a root of roots.
func verifyGOSTChain(leaf *x509.Certificate, pool []*x509.Certificate, roots *x509.CertPool, at time.Time, usages []x509.ExtKeyUsage) ([]*x509.Certificate, error) {
	if err := checkUsage(leaf, usages); err != nil {
		return nil, err
	}
	chain := []*x509.Certificate{leaf}
	for cur := leaf; ; {
		if err := checkValidity(cur, at); err != nil {
			return chain, err
		}
		if len(cur.UnhandledCriticalExtensions) > 0 {
			return chain, fmt.Errorf("%s has an unhandled critical extension %v", cur.Subject, cur.UnhandledCriticalExtensions[0])
		}
		if isRoot(cur, roots, at) {
			return chain, nil
		}
		if len(chain) > certs.MaxIssuers || bytes.Equal(cur.RawIssuer, cur.RawSubject) {
			return chain, fmt.Errorf("%w: %s", errGOSTChainUntrusted, cur.Subject)
		}
		parent, err := issuerIn(cur, pool, chain)
		if err != nil {
			return chain, err
		}
		if err := checkIssuer(parent, len(chain)-1); err != nil {
			return chain, err
		}
		chain = append(chain, parent)
		cur = parent
	}
}

// isRoot reports whether c is one of roots: x509 verifies a certificate of
// the root pool as its own chain.
func isRoot(c *x509.Certificate, roots *x509.CertPool, at time.Time) bool {
	chains, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil && len(chains) > 0 && len(chains[0]) == 1
}

// issuerIn returns the certificate of pool, not in chain yet, whose
// subject is c's issuer and whose key verifies c's signature.
func issuerIn(c *x509.Certificate, pool, chain []*x509.Certificate) (*x509.Certificate, error) {
	var lastErr error
	for _, p := range pool {
		if !bytes.Equal(p.RawSubject, c.RawIssuer) || slices.ContainsFunc(chain, func(x *x509.Certificate) bool { return bytes.Equal(x.Raw, p.Raw) }) {
			continue
		}
		if lastErr = certs.CheckSignatureFrom(c, p); lastErr == nil {
			return p, nil
		}
	}
	if lastErr != nil {
		return nil, fmt.Errorf("issuer of %s does not verify its signature: %w", c.Subject, lastErr)
	}
	return nil, fmt.Errorf("%w: issuer %s of %s not found", errGOSTChainUntrusted, c.Issuer, c.Subject)
}

func checkValidity(c *x509.Certificate, at time.Time) error {
	if at.Before(c.NotBefore) || at.After(c.NotAfter) {
		return fmt.Errorf("%w: %s at %s (valid %s to %s)", errGOSTChainExpired, c.Subject,
			at.UTC().Format(time.RFC3339), c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkIssuer checks that p may issue certificates with below CA
// certificates under it (not counting the leaf).
func checkIssuer(p *x509.Certificate, below int) error {
	if !p.BasicConstraintsValid || !p.IsCA {
		return fmt.Errorf("issuer %s is not a CA", p.Subject)
	}
	if p.KeyUsage != 0 && p.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("issuer %s may not sign certificates (keyUsage)", p.Subject)
	}
	if (p.MaxPathLen > 0 || p.MaxPathLenZero) && below-1 > p.MaxPathLen {
		return fmt.Errorf("issuer %s allows a path of %d CAs below it", p.Subject, p.MaxPathLen)
	}
	if len(p.PermittedDNSDomains)+len(p.ExcludedDNSDomains)+len(p.PermittedIPRanges)+len(p.ExcludedIPRanges)+
		len(p.PermittedEmailAddresses)+len(p.ExcludedEmailAddresses)+len(p.PermittedURIDomains)+len(p.ExcludedURIDomains) > 0 {
		return fmt.Errorf("issuer %s has name constraints, which GOST paths do not evaluate", p.Subject)
	}
	return nil
}

func checkUsage(leaf *x509.Certificate, usages []x509.ExtKeyUsage) error {
	if len(leaf.ExtKeyUsage) == 0 || slices.Contains(usages, x509.ExtKeyUsageAny) || slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return nil
	}
	for _, u := range usages {
		if slices.Contains(leaf.ExtKeyUsage, u) {
			return nil
		}
	}
	return fmt.Errorf("%s does not allow the usages %v", leaf.Subject, usages)
}
