package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
)

// TestRegistryExtension adds a "national" algorithm as table entries (a
// digest without a crypto.Hash and a signature scheme under its own OIDs)
// and signs and verifies with it through the unchanged public API — the
// way GOST R 34.10-2012 or O'zDSt 1092/1106 will be added.
func TestRegistryExtension(t *testing.T) {
	digestOID := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}
	sigOID := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 2}
	reg := DefaultRegistry()
	reg.Digests = append(reg.Digests, DigestAlgorithm{Name: "TEST-HASH", OID: digestOID, New: sha256.New})
	reg.Signatures = append(reg.Signatures, SignatureAlgorithm{
		Name:             "TEST-SIG",
		ByNameOnly:       true,
		DefaultDigestOID: digestOID,
		Supports: func(pub crypto.PublicKey, d *DigestAlgorithm) bool {
			_, ok := pub.(*ecdsa.PublicKey)
			return ok && (d == nil || d.OID.Equal(digestOID))
		},
		Identifier: func(*DigestAlgorithm) (pkix.AlgorithmIdentifier, error) {
			return pkix.AlgorithmIdentifier{Algorithm: sigOID, Parameters: asn1NULL}, nil
		},
		Matches: func(a pkix.AlgorithmIdentifier) bool { return a.Algorithm.Equal(sigOID) },
		Sign: func(rand io.Reader, s crypto.Signer, _ *DigestAlgorithm, _, digest []byte) ([]byte, error) {
			return s.Sign(rand, digest, crypto.SHA256) // the token sees only a digest
		},
		Verify: func(pub crypto.PublicKey, _ pkix.AlgorithmIdentifier, _ *DigestAlgorithm, _, digest, sig []byte) error {
			if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest, sig) {
				return errBadSignature
			}
			return nil
		},
	})
	k := testKey(t, softhsmtest.ECP256)
	sig, err := Sign([]byte("national"), k.Key, k.Certificate, &SignOptions{Registry: reg, Algorithm: "TEST-SIG", Chain: k.Chain})
	require.NoError(t, err)
	rep, err := Verify(sig, nil, &VerifyOptions{Registry: reg, Roots: testPKI(t).Roots()})
	require.NoError(t, err)
	if assert.Equal(t, "TEST-SIG", rep.Signers[0].SignatureAlgorithm, "algorithms %s/%s", rep.Signers[0].SignatureAlgorithm, rep.Signers[0].DigestAlgorithm) {
		assert.Equal(t, "TEST-HASH", rep.Signers[0].DigestAlgorithm, "algorithms %s/%s", rep.Signers[0].SignatureAlgorithm, rep.Signers[0].DigestAlgorithm)
	}
	// ESS signingCertificateV2 uses the same digest, with its OID written.
	assert.True(t, rep.Signers[0].SigningCertificateOK, "ESS with a registry digest")
	// The built-in registry does not know it, and says so.
	_, err = Verify(sig, nil, nil)
	assert.ErrorIs(t, err, ErrUnsupportedAlgorithm, "default registry")
	// The default registry was not modified by the caller's copy.
	_, err = builtinRegistry().DigestByOID(digestOID)
	assert.Error(t, err, "DefaultRegistry copy leaked into the built-in table")
}

// TestStreamingBoundedMemory: 32 MiB signed attached (streamed) and
// detached allocates far less than the content size.
func TestStreamingBoundedMemory(t *testing.T) {
	const size = 32 << 20
	k := testKey(t, softhsmtest.ECP256)
	measure := func(f func()) uint64 {
		var a, b runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&a)
		f()
		runtime.ReadMemStats(&b)
		return b.TotalAlloc - a.TotalAlloc
	}
	var err error
	n := measure(func() { _, err = SignDetached(&zeroReader{n: size}, k.Key, k.Certificate, nil) })
	require.NoError(t, err)
	assert.False(t, n > 2<<20, "SignDetached of %d bytes allocated %d bytes", size, n)
	var out countWriter
	n = measure(func() { err = SignAttachedStream(&out, &zeroReader{n: size}, size, k.Key, k.Certificate, nil) })
	require.NoError(t, err)
	if assert.False(t, n > 2<<20, "SignAttachedStream of %d bytes allocated %d bytes, wrote %d", size, n, out.n) {
		assert.False(t, out.n < size, "SignAttachedStream of %d bytes allocated %d bytes, wrote %d", size, n, out.n)
	}
	n = measure(func() { err = SignAttachedStream(&out, &zeroReader{n: size}, -1, k.Key, k.Certificate, nil) })
	require.NoError(t, err)
	assert.False(t, n > 2<<20, "chunked SignAttachedStream allocated %d bytes", n)
	// And the streamed output verifies (content held once, by the verifier).
	var buf bytes.Buffer
	require.NoError(t, SignAttachedStream(&buf, &zeroReader{n: 1 << 20}, -1, k.Key, k.Certificate, &SignOptions{Chain: k.Chain}))
	_, err = Verify(buf.Bytes(), nil, verifyOpts(t))
	require.NoError(t, err)
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// TestUnknownNationalAlgorithmReport: a message signed with algorithms the
// registry does not know (here O'zMSt 285/286 OIDs, produced through a
// stand-in registry entry) still yields a report with the signer's
// identity, signature value and signing time, and a specific reason.
func TestUnknownNationalAlgorithmReport(t *testing.T) {
	reg := DefaultRegistry()
	reg.Digests = append(reg.Digests, DigestAlgorithm{Name: "OzMSt-285 (stand-in)", OID: OIDDigestOzMSt285, New: sha256.New})
	reg.Signatures = append(reg.Signatures, SignatureAlgorithm{
		Name: "OzMSt-286 (stand-in)", ByNameOnly: true, DefaultDigestOID: OIDDigestOzMSt285,
		Supports: func(pub crypto.PublicKey, _ *DigestAlgorithm) bool { _, ok := pub.(*ecdsa.PublicKey); return ok },
		Identifier: func(*DigestAlgorithm) (pkix.AlgorithmIdentifier, error) {
			return pkix.AlgorithmIdentifier{Algorithm: OIDSignatureOzMSt285With286, Parameters: asn1NULL}, nil
		},
		Matches: func(a pkix.AlgorithmIdentifier) bool { return a.Algorithm.Equal(OIDSignatureOzMSt285With286) },
		Sign: func(rand io.Reader, s crypto.Signer, _ *DigestAlgorithm, _, digest []byte) ([]byte, error) {
			return s.Sign(rand, digest, crypto.SHA256)
		},
	})
	k := testKey(t, softhsmtest.ECP256)
	sig, err := Sign([]byte("e-imzo"), k.Key, k.Certificate, &SignOptions{Registry: reg, Algorithm: "OzMSt-286 (stand-in)"})
	require.NoError(t, err)
	rep, err := Verify(toBER(t, sig, 1000, true), nil, nil)
	require.ErrorIs(t, err, ErrUnsupportedAlgorithm, "err")
	s := rep.Signers[0]
	if assert.Equal(t, k.Certificate.Subject.String(), s.Subject, "report lacks identity: %+v", s) {
		if assert.Equal(t, k.Certificate.SerialNumber.Text(16), s.SerialHex, "report lacks identity: %+v", s) {
			if assert.NotEmpty(t, s.SignatureHex, "report lacks identity: %+v", s) {
				assert.True(t, s.HasSigningTime, "report lacks identity: %+v", s)
			}
		}
	}
	assert.Equal(t, OIDDigestOzMSt285.String(), s.DigestAlgorithm, "digest shown as %q", s.DigestAlgorithm)
}
