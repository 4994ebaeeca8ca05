package cms

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"testing"
	"time"

	"github.com/signet-agent/signet/sdk/cms/cmstest"
	"github.com/signet-agent/signet/softhsm-config/softhsmtest"
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
	if err == nil {
		t.Fatalf("verification succeeded, want %v", reason)
	}
	if !errors.Is(err, reason) {
		t.Fatalf("err = %v, want %v", err, reason)
	}
	return rep
}

func TestNegative(t *testing.T) {
	k := testKey(t, softhsmtest.ECP256)
	marker := []byte("MARKER-0123456789-document-body")
	good, err := Sign(marker, k.Key, k.Certificate, &SignOptions{Chain: k.Chain})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("tampered-attached-content", func(t *testing.T) {
		bad := bytes.Clone(good)
		i := bytes.Index(bad, marker)
		bad[i] ^= 0x01
		rep := expectReason(t, bad, nil, verifyOpts(t), ErrContentDigestMismatch)
		if rep.Signers[0].ContentDigestOK || !rep.Signers[0].SignatureOK {
			t.Error("report flags wrong")
		}
		if opensslVerify(t, bad, nil) == nil {
			t.Error("openssl accepted tampered content")
		}
	})
	t.Run("tampered-detached-content", func(t *testing.T) {
		sig, _ := Sign(marker, k.Key, k.Certificate, &SignOptions{Chain: k.Chain, Detached: true})
		expectReason(t, sig, []byte("other content"), verifyOpts(t), ErrContentDigestMismatch)
	})
	t.Run("detached-without-content", func(t *testing.T) {
		sig, _ := Sign(marker, k.Key, k.Certificate, &SignOptions{Chain: k.Chain, Detached: true})
		if _, err := Verify(sig, nil, verifyOpts(t)); !errors.Is(err, ErrContentMissing) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("tampered-signed-attribute", func(t *testing.T) {
		when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		sig, _ := Sign(marker, k.Key, k.Certificate, &SignOptions{Chain: k.Chain, SigningTime: when})
		i := bytes.Index(sig, []byte("260102030405Z"))
		if i < 0 {
			t.Fatal("signingTime not found")
		}
		sig[i+11] = '6' // 03:04:05 -> 03:04:06
		rep := expectReason(t, sig, nil, verifyOpts(t), ErrSignatureInvalid)
		if !rep.Signers[0].ContentDigestOK {
			t.Error("content digest should still match")
		}
		if opensslVerify(t, sig, nil) == nil {
			t.Error("openssl accepted a tampered attribute")
		}
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
		if err != nil {
			t.Fatal(err)
		}
		ess, err := essSigningCertificateV2(other.Certificate, p.digest)
		if err != nil {
			t.Fatal(err)
		}
		p.opts.SignedAttributes = []Attribute{{Type: OIDAttributeSigningCertificateV2, Values: [][]byte{ess}}}
		h := crypto.SHA256.New()
		h.Write(marker)
		sig, err := p.finish(h.Sum(nil), marker)
		if err != nil {
			t.Fatal(err)
		}
		rep := expectReason(t, sig, nil, verifyOpts(t), ErrSigningCertificateMismatch)
		if !rep.Signers[0].SignatureOK || !rep.Signers[0].SigningCertificatePresent || rep.Signers[0].SigningCertificateOK {
			t.Error("report flags wrong")
		}
		// OpenSSL without -cades accepts it; with -cades it must refuse:
		// this is what shows that -cades checks the ESS attribute.
		if err := opensslVerify(t, sig, nil); err != nil {
			t.Fatalf("plain openssl verify: %v", err)
		}
		if opensslVerify(t, sig, nil, "-cades") == nil {
			t.Error("openssl -cades accepted a wrong signingCertificateV2")
		}
	})
	t.Run("expired-certificate", func(t *testing.T) {
		old, err := testPKI(t).NewSoftwareKey(softhsmtest.ECP256, softhsmtest.IssueOptions{
			Subject:   pkix.Name{CommonName: "CMS Test expired"},
			NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
		})
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := Sign(marker, old.Key, old.Certificate, &SignOptions{Chain: old.Chain})
		rep := expectReason(t, sig, nil, verifyOpts(t), ErrCertificateExpired)
		if rep.Signers[0].ChainStatus != ChainExpired {
			t.Errorf("chain status %s", rep.Signers[0].ChainStatus)
		}
		// Signed while valid (signingTime within validity): the chain is
		// checked at the signing time and passes.
		recent, err := testPKI(t).NewSoftwareKey(softhsmtest.ECP256, softhsmtest.IssueOptions{
			Subject:   pkix.Name{CommonName: "CMS Test expired recently"},
			NotBefore: time.Now().Add(-50 * time.Minute), NotAfter: time.Now().Add(-5 * time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		sig, _ = Sign(marker, recent.Key, recent.Certificate, &SignOptions{Chain: recent.Chain, SigningTime: time.Now().Add(-20 * time.Minute)})
		if _, err := Verify(sig, nil, verifyOpts(t)); err != nil {
			t.Fatalf("signature made during validity: %v", err)
		}
	})
	t.Run("untrusted-chain", func(t *testing.T) {
		otherPKI, err := softhsmtest.NewPKI("Other")
		if err != nil {
			t.Fatal(err)
		}
		rep := expectReason(t, good, nil, &VerifyOptions{Roots: otherPKI.Roots()}, ErrChainUntrusted)
		if rep.Signers[0].ChainStatus != ChainUntrusted || !rep.Signers[0].SignatureOK {
			t.Error("report flags wrong")
		}
	})
	t.Run("no-roots-means-not-checked", func(t *testing.T) {
		rep, err := Verify(good, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Signers[0].ChainStatus != ChainNotChecked {
			t.Error("chain status")
		}
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
		if err != nil {
			t.Fatal(err)
		}
		rep := expectReason(t, out, nil, verifyOpts(t), ErrTimestampImprintMismatch)
		if rep.Signers[0].Timestamp.Valid() {
			t.Error("timestamp reported valid")
		}
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
		if _, err := Verify(out, nil, o); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		for n := 0; n < len(good); n++ {
			if _, err := Verify(good[:n], nil, verifyOpts(t)); err == nil {
				t.Fatalf("prefix of %d bytes verified", n)
			}
		}
	})
	t.Run("garbage", func(t *testing.T) {
		buf := make([]byte, 4096)
		for i := 0; i < 200; i++ {
			rand.Read(buf[:i*20])
			if _, err := Verify(buf[:i*20], nil, verifyOpts(t)); err == nil {
				t.Fatal("garbage verified")
			}
		}
		for _, g := range [][]byte{nil, {0x30}, {0x30, 0x80}, {0x30, 0x80, 0, 0}, {0x30, 0x00}, {0x30, 0x84, 0xff, 0xff, 0xff, 0xff}} {
			if _, err := Verify(g, nil, nil); !errors.Is(err, ErrMalformed) {
				t.Errorf("%x: err %v", g, err)
			}
		}
	})
	t.Run("not-signed-data", func(t *testing.T) {
		ci, _ := marshalContentInfo(OIDData, []byte{0x04, 0x01, 0x00})
		if _, err := Verify(ci, nil, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("err %v", err)
		}
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
	if err != nil {
		t.Fatal(err)
	}
	if rep.Signers[0].ChainStatus != ChainValid {
		t.Error("chain not valid")
	}
}

func TestExtractContent(t *testing.T) {
	k := testKey(t, softhsmtest.ECP256)
	content := []byte("unsign me")
	att, _ := Sign(content, k.Key, k.Certificate, nil)
	got, err := ExtractContent(toBER(t, att, 3, false))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("ExtractContent = %q, %v", got, err)
	}
	det, _ := Sign(content, k.Key, k.Certificate, &SignOptions{Detached: true})
	if _, err := ExtractContent(det); err == nil {
		t.Error("detached: no error")
	}
	empty, _ := Sign(nil, k.Key, k.Certificate, nil)
	if got, err := ExtractContent(empty); err != nil || len(got) != 0 {
		t.Errorf("empty content: %q, %v", got, err)
	}
}

func TestDuplicateSignedAttribute(t *testing.T) {
	k := testKey(t, softhsmtest.ECP256)
	p, err := newSignPlan(k.Key, k.Certificate, &SignOptions{Chain: k.Chain})
	if err != nil {
		t.Fatal(err)
	}
	// A second messageDigest (over other content) smuggled in after the
	// plan's checks.
	other := crypto.SHA256.New()
	other.Write([]byte("other"))
	md, _ := NewAttribute(OIDAttributeMessageDigest, other.Sum(nil))
	p.opts.SignedAttributes = []Attribute{md}
	h := crypto.SHA256.New()
	h.Write([]byte("x"))
	sig, err := p.finish(h.Sum(nil), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	expectReason(t, sig, nil, verifyOpts(t), ErrMalformed)
}

func TestVerifyDigest(t *testing.T) {
	k := testKey(t, softhsmtest.ECP256)
	content := []byte("hashed where it arrived")
	sig, _ := Sign(content, k.Key, k.Certificate, &SignOptions{Detached: true, Chain: k.Chain})
	h := crypto.SHA256.New()
	h.Write(content)
	if _, err := VerifyDigest(sig, OIDDigestSHA256, h.Sum(nil), verifyOpts(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyDigest(sig, OIDDigestSHA256, make([]byte, 32), verifyOpts(t)); !errors.Is(err, ErrContentDigestMismatch) {
		t.Errorf("wrong digest: %v", err)
	}
	if _, err := VerifyDigest(sig, OIDDigestSHA384, make([]byte, 48), verifyOpts(t)); !errors.Is(err, ErrContentMissing) {
		t.Errorf("other algorithm: %v", err)
	}
}
