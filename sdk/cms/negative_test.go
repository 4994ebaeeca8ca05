package cms

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/signet-agent/signet/sdk/cms/cmstest"
)

// expectReason verifies sig and requires the failure to wrap reason.
func expectReason(t *testing.T, sig, detached []byte, opts *VerifyOptions, reason error) *Report {
	t.Helper()
	var rep *Report
	var err error
	if detached != nil {
		rep, err = Verify(sig, bytes.NewReader(detached), opts)
	} else {
		rep, err = Verify(sig, nil, opts)
	}
	require.Error(t, err, "verification succeeded, want %v", reason)
	require.ErrorIs(t, err, reason, "err = %v, want %v", err, reason)
	return rep
}

func TestNegative(t *testing.T) {
	k := testKey(t, softhsmtest.ECP256)
	marker := []byte("MARKER-0123456789-document-body")
	good, err := Sign(marker, k.Key, k.Certificate, &SignOptions{Chain: k.Chain})
	require.NoError(t, err)

	t.Run("tampered-attached-content", func(t *testing.T) {
		bad := bytes.Clone(good)
		i := bytes.Index(bad, marker)
		bad[i] ^= 0x01
		rep := expectReason(t, bad, nil, verifyOpts(t), ErrContentDigestMismatch)
		if assert.False(t, rep.Signers[0].ContentDigestOK, "report flags wrong") {
			assert.True(t, rep.Signers[0].SignatureOK, "report flags wrong")
		}
		assert.Error(t, opensslVerify(t, bad, nil), "openssl accepted tampered content")
	})
	t.Run("tampered-detached-content", func(t *testing.T) {
		sig, _ := Sign(marker, k.Key, k.Certificate, &SignOptions{Chain: k.Chain, Detached: true})
		expectReason(t, sig, []byte("other content"), verifyOpts(t), ErrContentDigestMismatch)
	})
	t.Run("detached-without-content", func(t *testing.T) {
		sig, _ := Sign(marker, k.Key, k.Certificate, &SignOptions{Chain: k.Chain, Detached: true})
		_, err := Verify(sig, nil, verifyOpts(t))
		require.ErrorIs(t, err, ErrContentMissing, "err")
	})
	t.Run("tampered-signed-attribute", func(t *testing.T) {
		when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		sig, _ := Sign(marker, k.Key, k.Certificate, &SignOptions{Chain: k.Chain, SigningTime: when})
		i := bytes.Index(sig, []byte("260102030405Z"))
		require.False(t, i < 0, "signingTime not found")
		sig[i+11] = '6' // 03:04:05 -> 03:04:06
		rep := expectReason(t, sig, nil, verifyOpts(t), ErrSignatureInvalid)
		assert.True(t, rep.Signers[0].ContentDigestOK, "content digest should still match")
		assert.Error(t, opensslVerify(t, sig, nil), "openssl accepted a tampered attribute")
	})
	t.Run("tampered-signature", func(t *testing.T) {
		sd, _ := ParseSignedData(good)
		bad := bytes.Clone(good)
		i := bytes.Index(bad, sd.Signers[0].Signature)
		bad[i+10] ^= 0xff
		expectReason(t, bad, nil, verifyOpts(t), ErrSignatureInvalid)
	})
	t.Run("wrong-signingCertificateV2", func(t *testing.T) {
		other := testKey(t, softhsmtest.RSA2048)
		p, err := newSignPlan(k.Key, k.Certificate, &SignOptions{Chain: k.Chain, NoSigningCertificate: true})
		require.NoError(t, err)
		ess, err := essSigningCertificateV2(other.Certificate, p.digest)
		require.NoError(t, err)
		p.opts.SignedAttributes = []Attribute{{Type: OIDAttributeSigningCertificateV2, Values: [][]byte{ess}}}
		h := crypto.SHA256.New()
		h.Write(marker)
		sig, err := p.finish(h.Sum(nil), marker)
		require.NoError(t, err)
		rep := expectReason(t, sig, nil, verifyOpts(t), ErrSigningCertificateMismatch)
		if assert.True(t, rep.Signers[0].SignatureOK, "report flags wrong") {
			if assert.True(t, rep.Signers[0].SigningCertificatePresent, "report flags wrong") {
				assert.False(t, rep.Signers[0].SigningCertificateOK, "report flags wrong")
			}
		}
		// OpenSSL without -cades accepts it; with -cades it must refuse:
		// this is what shows that -cades checks the ESS attribute.
		require.NoError(t, opensslVerify(t, sig, nil), "plain openssl verify")
		assert.Error(t, opensslVerify(t, sig, nil, "-cades"), "openssl -cades accepted a wrong signingCertificateV2")
	})
	t.Run("expired-certificate", func(t *testing.T) {
		old, err := testPKI(t).NewSoftwareKey(softhsmtest.ECP256, softhsmtest.IssueOptions{
			Subject:   pkix.Name{CommonName: "CMS Test expired"},
			NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
		})
		require.NoError(t, err)
		sig, _ := Sign(marker, old.Key, old.Certificate, &SignOptions{Chain: old.Chain})
		rep := expectReason(t, sig, nil, verifyOpts(t), ErrCertificateExpired)
		assert.Equal(t, ChainExpired, rep.Signers[0].ChainStatus, "chain status %s", rep.Signers[0].ChainStatus)
		// Signed while valid (signingTime within validity): the chain is
		// checked at the signing time and passes.
		recent, err := testPKI(t).NewSoftwareKey(softhsmtest.ECP256, softhsmtest.IssueOptions{
			Subject:   pkix.Name{CommonName: "CMS Test expired recently"},
			NotBefore: time.Now().Add(-50 * time.Minute), NotAfter: time.Now().Add(-5 * time.Minute),
		})
		require.NoError(t, err)
		sig, _ = Sign(marker, recent.Key, recent.Certificate, &SignOptions{Chain: recent.Chain, SigningTime: time.Now().Add(-20 * time.Minute)})
		_, err = Verify(sig, nil, verifyOpts(t))
		require.NoError(t, err, "signature made during validity")
	})
	t.Run("untrusted-chain", func(t *testing.T) {
		otherPKI, err := softhsmtest.NewPKI("Other")
		require.NoError(t, err)
		rep := expectReason(t, good, nil, &VerifyOptions{Roots: otherPKI.Roots()}, ErrChainUntrusted)
		if assert.Equal(t, ChainUntrusted, rep.Signers[0].ChainStatus, "report flags wrong") {
			assert.True(t, rep.Signers[0].SignatureOK, "report flags wrong")
		}
	})
	t.Run("no-roots-means-not-checked", func(t *testing.T) {
		rep, err := Verify(good, nil, nil)
		require.NoError(t, err)
		assert.Equal(t, ChainNotChecked, rep.Signers[0].ChainStatus, "chain status")
	})
	t.Run("signer-certificate-missing", func(t *testing.T) {
		sig, _ := Sign(marker, k.Key, k.Certificate, &SignOptions{NoCertificate: true})
		expectReason(t, sig, nil, verifyOpts(t), ErrSignerCertificateNotFound)
	})
	t.Run("timestamp-over-wrong-value", func(t *testing.T) {
		tsa := cmstest.NewTSA(t, testPKI(t))
		h := crypto.SHA256.New()
		h.Write([]byte("not the signature"))
		out, err := AttachTimestamp(good, 0, tsa.Token(t, crypto.SHA256, h.Sum(nil)))
		require.NoError(t, err)
		rep := expectReason(t, out, nil, verifyOpts(t), ErrTimestampImprintMismatch)
		assert.False(t, rep.Signers[0].Timestamp.Valid(), "timestamp reported valid")
	})
	t.Run("timestamp-untrusted-tsa", func(t *testing.T) {
		otherPKI, _ := softhsmtest.NewPKI("Other TSA")
		tsa := cmstest.NewTSA(t, otherPKI)
		sd, _ := ParseSignedData(good)
		h := crypto.SHA256.New()
		h.Write(sd.Signers[0].Signature)
		out, _ := AttachTimestamp(good, 0, tsa.Token(t, crypto.SHA256, h.Sum(nil)))
		expectReason(t, out, nil, verifyOpts(t), ErrTimestampInvalid)
		// With the TSA's own roots it passes.
		o := verifyOpts(t)
		o.TSARoots = otherPKI.Roots()
		o.Intermediates = otherPKI.Intermediates()
		_, err := Verify(out, nil, o)
		require.NoError(t, err)
	})
	t.Run("truncated", func(t *testing.T) {
		for n := 0; n < len(good); n++ {
			_, err := Verify(good[:n], nil, verifyOpts(t))
			require.Error(t, err, "prefix of %d bytes verified", n)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		buf := make([]byte, 4096)
		for i := 0; i < 200; i++ {
			rand.Read(buf[:i*20])
			_, err := Verify(buf[:i*20], nil, verifyOpts(t))
			require.Error(t, err, "garbage verified")
		}
		for _, g := range [][]byte{nil, {0x30}, {0x30, 0x80}, {0x30, 0x80, 0, 0}, {0x30, 0x00}, {0x30, 0x84, 0xff, 0xff, 0xff, 0xff}} {
			_, err := Verify(g, nil, nil)
			assert.ErrorIs(t, err, ErrMalformed, "%x", g)
		}
	})
	t.Run("not-signed-data", func(t *testing.T) {
		ci, _ := marshalContentInfo(OIDData, []byte{0x04, 0x01, 0x00})
		_, err := Verify(ci, nil, nil)
		assert.ErrorIs(t, err, ErrMalformed, "err")
	})
	t.Run("unknown-algorithm", func(t *testing.T) {
		// A registry without ECDSA cannot verify an ECDSA signer.
		reg := &Registry{Digests: DefaultRegistry().Digests}
		o := verifyOpts(t)
		o.Registry = reg
		expectReason(t, good, nil, o, ErrUnsupportedAlgorithm)
	})
}

// TestVerifyUsesExtraCertificates: a message without certificates verifies
// with the signer certificate and intermediates supplied by the caller.
func TestVerifyUsesExtraCertificates(t *testing.T) {
	k := testKey(t, softhsmtest.ECP256)
	sig, _ := Sign([]byte("x"), k.Key, k.Certificate, &SignOptions{NoCertificate: true})
	rep, err := Verify(sig, nil, &VerifyOptions{
		Roots: testPKI(t).Roots(), Intermediates: testPKI(t).Intermediates(),
		Certificates: []*x509.Certificate{k.Certificate},
	})
	require.NoError(t, err)
	assert.Equal(t, ChainValid, rep.Signers[0].ChainStatus, "chain not valid")
}

func TestExtractContent(t *testing.T) {
	k := testKey(t, softhsmtest.ECP256)
	content := []byte("unsign me")
	att, _ := Sign(content, k.Key, k.Certificate, nil)
	got, err := ExtractContent(toBER(t, att, 3, false))
	require.NoError(t, err, "ExtractContent = %q", got)
	require.Equal(t, content, got, "ExtractContent = %q", got)
	det, _ := Sign(content, k.Key, k.Certificate, &SignOptions{Detached: true})
	_, err = ExtractContent(det)
	assert.Error(t, err, "detached: no error")
	empty, _ := Sign(nil, k.Key, k.Certificate, nil)
	got, err = ExtractContent(empty)
	if assert.NoError(t, err, "empty content: %q", got) {
		assert.Empty(t, got, "empty content: %q", got)
	}
}

func TestDuplicateSignedAttribute(t *testing.T) {
	k := testKey(t, softhsmtest.ECP256)
	p, err := newSignPlan(k.Key, k.Certificate, &SignOptions{Chain: k.Chain})
	require.NoError(t, err)
	// A second messageDigest (over other content) smuggled in after the
	// plan's checks.
	other := crypto.SHA256.New()
	other.Write([]byte("other"))
	md, _ := NewAttribute(OIDAttributeMessageDigest, other.Sum(nil))
	p.opts.SignedAttributes = []Attribute{md}
	h := crypto.SHA256.New()
	h.Write([]byte("x"))
	sig, err := p.finish(h.Sum(nil), []byte("x"))
	require.NoError(t, err)
	expectReason(t, sig, nil, verifyOpts(t), ErrMalformed)
}

func TestVerifyDigest(t *testing.T) {
	k := testKey(t, softhsmtest.ECP256)
	content := []byte("hashed where it arrived")
	sig, _ := Sign(content, k.Key, k.Certificate, &SignOptions{Detached: true, Chain: k.Chain})
	h := crypto.SHA256.New()
	h.Write(content)
	_, err := VerifyDigest(sig, OIDDigestSHA256, h.Sum(nil), verifyOpts(t))
	require.NoError(t, err)
	_, err = VerifyDigest(sig, OIDDigestSHA256, make([]byte, 32), verifyOpts(t))
	assert.ErrorIs(t, err, ErrContentDigestMismatch, "wrong digest")
	_, err = VerifyDigest(sig, OIDDigestSHA384, make([]byte, 48), verifyOpts(t))
	assert.ErrorIs(t, err, ErrContentMissing, "other algorithm")
}
