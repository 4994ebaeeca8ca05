package certs_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/signet-agent/signet/sdk/certs"
)

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

// ca issues a CA certificate named subject for key, signed by parent/parentKey
// (self-signed when parent is nil).
func ca(t *testing.T, subject pkix.Name, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

func TestIssuersWalksNameAndSignature(t *testing.T) {
	pki, err := softhsmtest.NewPKI("Certs")
	require.NoError(t, err)
	leafKey := newKey(t)
	leaf, err := pki.Issue(&leafKey.PublicKey, softhsmtest.IssueOptions{})
	require.NoError(t, err)
	// A certificate named like the intermediate but with another key: its
	// name matches the leaf's issuer, its key does not verify the leaf.
	impostor := ca(t, pki.Intermediate.Subject, newKey(t), nil, nil)
	require.Equal(t, pki.Intermediate.RawSubject, impostor.RawSubject)

	pool := []*x509.Certificate{pki.Root, leaf, impostor, pki.Intermediate}
	assert.Equal(t, []*x509.Certificate{pki.Intermediate, pki.Root}, certs.Issuers(leaf, pool))
	assert.Equal(t, []*x509.Certificate{pki.Root}, certs.Issuers(pki.Intermediate, pool))
	assert.Empty(t, certs.Issuers(pki.Root, pool), "a self-signed certificate has no issuers")
	assert.Equal(t, []*x509.Certificate{pki.Intermediate}, certs.Issuers(leaf, []*x509.Certificate{pki.Intermediate}),
		"the walk ends where the pool does")
	assert.Empty(t, certs.Issuers(leaf, []*x509.Certificate{impostor}), "a name alone is not an issuer")
}

func TestIssuersCrossSignedLoopIsBounded(t *testing.T) {
	ka, kb := newKey(t), newKey(t)
	a0 := ca(t, cn("A"), ka, nil, nil)
	b := ca(t, cn("B"), kb, a0, ka) // B issued by A
	a := ca(t, cn("A"), ka, b, kb)  // A issued by B: a loop A → B → A
	got := certs.Issuers(a, []*x509.Certificate{a, b})
	assert.Equal(t, []*x509.Certificate{b}, got, "each certificate once")

	// A long chain stops at MaxIssuers.
	keys := []*ecdsa.PrivateKey{newKey(t)}
	chain := []*x509.Certificate{ca(t, cn("level 0"), keys[0], nil, nil)}
	for i := 1; i <= certs.MaxIssuers+3; i++ {
		keys = append(keys, newKey(t))
		chain = append(chain, ca(t, cn(fmt.Sprintf("level %d", i)), keys[i], chain[i-1], keys[i-1]))
	}
	assert.Len(t, certs.Issuers(chain[len(chain)-1], chain), certs.MaxIssuers)
}

func TestSamePublicKeyAndForKey(t *testing.T) {
	r1, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	r1copy := &rsa.PublicKey{N: new(big.Int).Set(r1.N), E: r1.E}
	e1, e2 := newKey(t), newKey(t)
	ed, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)

	assert.True(t, certs.SamePublicKey(&r1.PublicKey, r1copy))
	assert.False(t, certs.SamePublicKey(&r1.PublicKey, &rsa.PublicKey{N: r1.N, E: 3}))
	assert.True(t, certs.SamePublicKey(&e1.PublicKey, &e1.PublicKey))
	assert.False(t, certs.SamePublicKey(&e1.PublicKey, &e2.PublicKey))
	assert.True(t, certs.SamePublicKey(ed, ed25519.PublicKey(append([]byte(nil), ed...))))
	assert.False(t, certs.SamePublicKey(&e1.PublicKey, &r1.PublicKey), "different types")
	assert.False(t, certs.SamePublicKey(nil, nil))
	assert.False(t, certs.SamePublicKey(&rsa.PublicKey{}, &rsa.PublicKey{}), "an empty RSA key is no key")

	c1 := ca(t, cn("one"), e1, nil, nil)
	c2 := ca(t, cn("two"), e2, nil, nil)
	assert.Same(t, c2, certs.ForKey([]*x509.Certificate{c1, c2}, &e2.PublicKey))
	assert.Nil(t, certs.ForKey([]*x509.Certificate{c1}, &e2.PublicKey))
}

func cn(s string) pkix.Name { return pkix.Name{CommonName: s} }

// TestIssuersUncheckableSignature: a certificate signed with an algorithm
// crypto/x509 cannot check (as Uzbek CAs' O'zDSt) gets its issuer by name,
// so such chains keep their order.
func TestIssuersUncheckableSignature(t *testing.T) {
	pki, err := softhsmtest.NewPKI("Uncheckable")
	require.NoError(t, err)
	leafKey := newKey(t)
	leaf, err := pki.Issue(&leafKey.PublicKey, softhsmtest.IssueOptions{})
	require.NoError(t, err)
	// ecdsa-with-SHA256 (1.2.840.10045.4.3.2) → 1.2.840.10045.4.3.9, an
	// algorithm crypto/x509 does not know, in the inner and outer
	// AlgorithmIdentifier alike.
	ecdsaSHA256 := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}
	unknown := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x09}
	require.Equal(t, 2, bytes.Count(leaf.Raw, ecdsaSHA256))
	odd, err := x509.ParseCertificate(bytes.ReplaceAll(leaf.Raw, ecdsaSHA256, unknown))
	require.NoError(t, err)
	require.ErrorIs(t, odd.CheckSignatureFrom(pki.Intermediate), x509.ErrUnsupportedAlgorithm)

	assert.Equal(t, []*x509.Certificate{pki.Intermediate, pki.Root}, certs.Issuers(odd, []*x509.Certificate{pki.Root, pki.Intermediate}))
}
