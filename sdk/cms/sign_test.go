package cms

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
)

// Test fixtures: one PKI and one software key per type, made once.

var (
	fixOnce sync.Once
	fixPKI  *softhsmtest.PKI
	fixErr  error
	fixKeys = map[string]*softhsmtest.SoftwareKey{}
	fixMu   sync.Mutex
)

func testPKI(t testing.TB) *softhsmtest.PKI {
	t.Helper()
	fixOnce.Do(func() { fixPKI, fixErr = softhsmtest.NewPKI("CMS Test") })
	require.NoError(t, fixErr)
	return fixPKI
}

func testKey(t testing.TB, typ string) *softhsmtest.SoftwareKey {
	t.Helper()
	p := testPKI(t)
	fixMu.Lock()
	defer fixMu.Unlock()
	if k, ok := fixKeys[typ]; ok {
		return k
	}
	k, err := p.NewSoftwareKey(typ, softhsmtest.IssueOptions{Subject: pkix.Name{CommonName: "CMS Test " + typ}})
	require.NoError(t, err)
	fixKeys[typ] = k
	return k
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	return p
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

func needOpenSSL(t testing.TB) {
	t.Helper()
	_, err := exec.LookPath("openssl")
	require.NoError(t, err, "openssl is required for the CMS cross-checks")
}

func openssl(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.Bytes(), err
}

// opensslVerify runs `openssl cms -verify -cades` over sig (DER or BER),
// with the PKI root as the only trust anchor.
func opensslVerify(t testing.TB, sig, detached []byte, extra ...string) error {
	t.Helper()
	return opensslVerifyRoot(t, testPKI(t).Root.Raw, sig, detached, extra...)
}

// opensslVerifyRoot is opensslVerify with another trust anchor.
func opensslVerifyRoot(t testing.TB, rootDER, sig, detached []byte, extra ...string) error {
	t.Helper()
	needOpenSSL(t)
	dir := t.TempDir()
	root := writePEM(t, dir, "root.pem", "CERTIFICATE", rootDER)
	in := writeFile(t, dir, "sig.der", sig)
	args := []string{"cms", "-verify", "-binary", "-inform", "DER", "-in", in, "-CAfile", root, "-out", filepath.Join(dir, "out")}
	if detached != nil {
		args = append(args, "-content", writeFile(t, dir, "content", detached))
	}
	args = append(args, extra...)
	out, err := openssl(t, args...)
	if err != nil {
		return fmt.Errorf("openssl cms -verify: %v\n%s", err, out)
	}
	return nil
}

type variant struct {
	name string
	key  string
	opts SignOptions
}

func signVariants() []variant {
	return []variant{
		{"RSA-PKCS1-SHA256", softhsmtest.RSA2048, SignOptions{}},
		{"RSA-PKCS1-SHA512", softhsmtest.RSA2048, SignOptions{Digest: crypto.SHA512}},
		{"RSA-PSS-SHA256", softhsmtest.RSA2048, SignOptions{Algorithm: "RSA-PSS"}},
		{"RSA-PSS-SHA384", softhsmtest.RSA2048, SignOptions{Algorithm: "RSA-PSS", Digest: crypto.SHA384}},
		{"ECDSA-P256-SHA256", softhsmtest.ECP256, SignOptions{}},
		{"ECDSA-P384-SHA384", softhsmtest.ECP384, SignOptions{Digest: crypto.SHA384}},
		{"Ed25519", softhsmtest.Ed25519, SignOptions{}},
		{"ECDSA-P256-SHA1-explicit", softhsmtest.ECP256, SignOptions{Digest: crypto.SHA1}},
	}
}

func verifyOpts(t testing.TB) *VerifyOptions {
	return &VerifyOptions{Roots: testPKI(t).Roots()}
}

// TestSignOpenSSLVerifies: every variant we produce, attached and
// detached, passes `openssl cms -verify -cades` and our own Verify.
func TestSignOpenSSLVerifies(t *testing.T) {
	content := []byte("Signet CMS test document\n\x00\x01\x02 binary tail\r\n")
	for _, v := range signVariants() {
		for _, detached := range []bool{false, true} {
			name := v.name + map[bool]string{false: "/attached", true: "/detached"}[detached]
			t.Run(name, func(t *testing.T) {
				k := testKey(t, v.key)
				o := v.opts
				o.Detached = detached
				o.Chain = k.Chain
				sig, err := Sign(content, k.Key, k.Certificate, &o)
				require.NoError(t, err)
				var dc []byte
				if detached {
					dc = content
				}
				if v.key == softhsmtest.Ed25519 {
					// OpenSSL 3.0 cannot verify Ed25519 in CMS ("invalid
					// digest"); check the raw signature over the signed
					// attributes with openssl pkeyutl instead.
					opensslEd25519Check(t, sig, k.Certificate)
				} else {
					require.NoError(t, opensslVerify(t, sig, dc, "-cades"))
				}
				var rd *bytes.Reader
				if detached {
					rd = bytes.NewReader(content)
				}
				var rep *Report
				if rd != nil {
					rep, err = Verify(sig, rd, verifyOpts(t))
				} else {
					rep, err = Verify(sig, nil, verifyOpts(t))
				}
				require.NoError(t, err)
				s := rep.Signers[0]
				require.True(t, s.SignatureOK, "report %+v", s)
				require.True(t, s.ContentDigestOK, "report %+v", s)
				require.True(t, s.SigningCertificateOK, "report %+v", s)
				require.Equal(t, ChainValid, s.ChainStatus, "report %+v", s)
				require.True(t, s.HasSigningTime, "report %+v", s)
				assert.Len(t, s.Chain, 3, "chain length %d, want 3", len(s.Chain))
				if !detached {
					assert.Equal(t, content, rep.Content, "content not returned")
				}
				assert.Equal(t, k.Certificate.SerialNumber.Text(16), s.SerialHex, "serial %s", s.SerialHex)
			})
		}
	}
}

// TestOpenSSLSignWeVerify: every variant OpenSSL produces verifies here.
func TestOpenSSLSignWeVerify(t *testing.T) {
	needOpenSSL(t)
	content := []byte("document signed by openssl\n")
	cases := []struct {
		name string
		key  string
		args []string
	}{
		{"rsa-sha256-detached", softhsmtest.RSA2048, []string{"-md", "sha256"}},
		{"rsa-sha384-attached", softhsmtest.RSA2048, []string{"-md", "sha384", "-nodetach"}},
		{"rsa-pss", softhsmtest.RSA2048, []string{"-md", "sha256", "-keyopt", "rsa_padding_mode:pss"}},
		{"rsa-pss-saltauto", softhsmtest.RSA2048, []string{"-md", "sha512", "-keyopt", "rsa_padding_mode:pss", "-keyopt", "rsa_pss_saltlen:max", "-nodetach"}},
		{"ecdsa-cades", softhsmtest.ECP256, []string{"-md", "sha256", "-cades", "-nodetach"}},
		// with SHA-1, OpenSSL writes ESS signingCertificate (v1, RFC 2634)
		{"rsa-sha1-cades-v1", softhsmtest.RSA2048, []string{"-md", "sha1", "-cades", "-nodetach"}},
		{"ecdsa-p384-sha384", softhsmtest.ECP384, []string{"-md", "sha384"}},
		{"rsa-stream-ber", softhsmtest.RSA2048, []string{"-md", "sha256", "-nodetach", "-stream"}},
		{"ecdsa-noattr", softhsmtest.ECP256, []string{"-md", "sha256", "-noattr", "-nodetach"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := testKey(t, c.key)
			dir := t.TempDir()
			pk, err := x509.MarshalPKCS8PrivateKey(k.Key)
			require.NoError(t, err)
			keyPath := writePEM(t, dir, "key.pem", "PRIVATE KEY", pk)
			certPath := writePEM(t, dir, "cert.pem", "CERTIFICATE", k.Certificate.Raw)
			chain := writePEM(t, dir, "chain.pem", "CERTIFICATE", testPKI(t).Intermediate.Raw)
			in := writeFile(t, dir, "in", content)
			outPath := filepath.Join(dir, "sig")
			args := append([]string{"cms", "-sign", "-binary", "-in", in, "-signer", certPath, "-inkey", keyPath, "-certfile", chain, "-outform", "DER", "-out", outPath}, c.args...)
			out, err := openssl(t, args...)
			require.NoError(t, err, "openssl cms -sign: %v\n%s", err, out)
			sig, err := os.ReadFile(outPath)
			require.NoError(t, err)
			attached := strings.Contains(strings.Join(c.args, " "), "-nodetach")
			var rep *Report
			if attached {
				rep, err = Verify(sig, nil, verifyOpts(t))
			} else {
				rep, err = Verify(sig, bytes.NewReader(content), verifyOpts(t))
			}
			require.NoError(t, err)
			if attached {
				assert.Equal(t, content, rep.Content, "content")
			}
			s := rep.Signers[0]
			if strings.Contains(c.name, "cades") {
				assert.True(t, s.SigningCertificatePresent && s.SigningCertificateOK, "ESS signing certificate: present %v, ok %v", s.SigningCertificatePresent, s.SigningCertificateOK)
			}
			assert.Equal(t, k.Certificate.Subject.String(), s.Subject, "subject %q", s.Subject)
		})
	}
}

func TestStreaming(t *testing.T) {
	k := testKey(t, softhsmtest.ECP256)
	content := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 000 bytes
	for _, size := range []int64{int64(len(content)), -1} {
		t.Run(fmt.Sprintf("attached-size%d", size), func(t *testing.T) {
			var buf bytes.Buffer
			err := SignAttachedStream(&buf, bytes.NewReader(content), size, k.Key, k.Certificate, &SignOptions{Chain: k.Chain})
			require.NoError(t, err)
			assert.EqualValues(t, 0x80, buf.Bytes()[1], "expected indefinite-length BER output")
			require.NoError(t, opensslVerify(t, buf.Bytes(), nil, "-cades"))
			rep, err := Verify(buf.Bytes(), nil, verifyOpts(t))
			require.NoError(t, err)
			assert.Equal(t, content, rep.Content, "content differs")
		})
	}
	t.Run("attached-wrong-size", func(t *testing.T) {
		var buf bytes.Buffer
		err := SignAttachedStream(&buf, bytes.NewReader(content), int64(len(content))+1, k.Key, k.Certificate, nil)
		require.Error(t, err, "short content accepted")
		err = SignAttachedStream(&buf, bytes.NewReader(content), int64(len(content))-1, k.Key, k.Certificate, nil)
		require.Error(t, err, "long content accepted")
	})
	t.Run("detached-reader", func(t *testing.T) {
		sig, err := SignDetached(bytes.NewReader(content), k.Key, k.Certificate, &SignOptions{Chain: k.Chain, Digest: crypto.SHA384})
		require.NoError(t, err)
		require.NoError(t, opensslVerify(t, sig, content, "-cades"))
		_, err = Verify(sig, bytes.NewReader(content), verifyOpts(t))
		require.NoError(t, err)
	})
	t.Run("digest", func(t *testing.T) {
		h := crypto.SHA256.New()
		h.Write(content)
		sig, err := SignDigest(h.Sum(nil), k.Key, k.Certificate, &SignOptions{Chain: k.Chain})
		require.NoError(t, err)
		require.NoError(t, opensslVerify(t, sig, content, "-cades"))
		_, err = SignDigest([]byte("short"), k.Key, k.Certificate, nil)
		assert.Error(t, err, "wrong digest length accepted")
	})
}

func TestCoSign(t *testing.T) {
	content := []byte("co-signed document")
	a := testKey(t, softhsmtest.RSA2048)
	b := testKey(t, softhsmtest.ECP256)
	c := testKey(t, softhsmtest.ECP384)
	for _, detached := range []bool{false, true} {
		t.Run(fmt.Sprintf("detached=%v", detached), func(t *testing.T) {
			first, err := Sign(content, a.Key, a.Certificate, &SignOptions{Detached: detached, Chain: a.Chain})
			require.NoError(t, err)
			sd1, _ := ParseSignedData(first)
			var dc []byte
			var second []byte
			if detached {
				dc = content
				second, err = CoSign(first, bytes.NewReader(content), b.Key, b.Certificate, &SignOptions{Digest: crypto.SHA384})
			} else {
				second, err = CoSign(first, nil, b.Key, b.Certificate, &SignOptions{Digest: crypto.SHA384})
			}
			require.NoError(t, err)
			var third []byte
			if detached {
				h := crypto.SHA512.New()
				h.Write(content)
				third, err = CoSignDigest(second, h.Sum(nil), c.Key, c.Certificate, &SignOptions{Digest: crypto.SHA512})
			} else {
				third, err = CoSign(second, nil, c.Key, c.Certificate, &SignOptions{Digest: crypto.SHA512})
			}
			require.NoError(t, err)
			sd3, err := ParseSignedData(third)
			require.NoError(t, err)
			require.Len(t, sd3.Signers, 3, "%d signers", len(sd3.Signers))
			assert.Equal(t, sd1.Signers[0].Raw, sd3.Signers[0].Raw, "first SignerInfo changed")
			assert.Len(t, sd3.RawCertificates, 5, "%d certificates, want 5", len(sd3.RawCertificates)) // a, intermediate, root, b, c
			require.NoError(t, opensslVerify(t, third, dc, "-cades"))
			var rep *Report
			if detached {
				rep, err = Verify(third, bytes.NewReader(content), verifyOpts(t))
			} else {
				rep, err = Verify(third, nil, verifyOpts(t))
			}
			require.NoError(t, err)
			require.Len(t, rep.Signers, 3, "report not valid")
			require.True(t, rep.Valid(), "report not valid")
			if assert.Equal(t, "ECDSA", rep.Signers[2].SignatureAlgorithm, "algorithms %s %s", rep.Signers[2].SignatureAlgorithm, rep.Signers[1].DigestAlgorithm) {
				if assert.Equal(t, "SHA-512", rep.Signers[2].DigestAlgorithm, "algorithms %s %s", rep.Signers[2].SignatureAlgorithm, rep.Signers[1].DigestAlgorithm) {
					assert.Equal(t, "SHA-384", rep.Signers[1].DigestAlgorithm, "algorithms %s %s", rep.Signers[2].SignatureAlgorithm, rep.Signers[1].DigestAlgorithm)
				}
			}
		})
	}
	t.Run("detached-needs-content", func(t *testing.T) {
		first, _ := Sign(content, a.Key, a.Certificate, &SignOptions{Detached: true})
		_, err := CoSign(first, nil, b.Key, b.Certificate, nil)
		require.ErrorIs(t, err, ErrContentMissing, "err")
	})
}

func TestSignatureHexAndSerial(t *testing.T) {
	k := testKey(t, softhsmtest.ECP256)
	sig, err := Sign([]byte("x"), k.Key, k.Certificate, nil)
	require.NoError(t, err)
	sd, err := ParseSignedData(sig)
	require.NoError(t, err)
	si := sd.Signers[0]
	require.NotNil(t, si.Certificate, "signer certificate not exposed")
	require.Equal(t, k.Certificate.SerialNumber.Text(16), si.SerialHex(), "signer certificate not exposed")
	// The signature value is what the signer produced over the signed
	// attributes: check it independently.
	msg := append([]byte(nil), si.RawSignedAttributes...)
	msg[0] = 0x31
	h := crypto.SHA256.New()
	h.Write(msg)
	require.NoError(t, checkECDSA(k.Certificate, h.Sum(nil), si.Signature))
	assert.Len(t, si.SignatureHex(), 2*len(si.Signature), "signature hex")
}

func checkECDSA(cert *x509.Certificate, digest, sig []byte) error {
	e := ecdsaEntry()
	return e.Verify(cert.PublicKey, pkix.AlgorithmIdentifier{}, nil, nil, digest, sig)
}

func TestSignOptions(t *testing.T) {
	k := testKey(t, softhsmtest.ECP256)
	ed := testKey(t, softhsmtest.Ed25519)
	rsaK := testKey(t, softhsmtest.RSA2048)
	when := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	extra, err := NewAttribute([]int{1, 2, 3, 4}, "hello")
	require.NoError(t, err)
	unsigned, _ := NewAttribute([]int{1, 2, 3, 5}, 42)
	sig, err := Sign([]byte("x"), k.Key, k.Certificate, &SignOptions{
		SigningTime: when, SignedAttributes: []Attribute{extra}, UnsignedAttributes: []Attribute{unsigned},
		NoCertificate: true,
	})
	require.NoError(t, err)
	sd, _ := ParseSignedData(sig)
	assert.Empty(t, sd.RawCertificates, "certificate included despite NoCertificate")
	rep, err := Verify(sig, nil, &VerifyOptions{Certificates: []*x509.Certificate{k.Certificate}, Roots: testPKI(t).Roots(), Intermediates: testPKI(t).Intermediates(), Time: time.Now()})
	// signingTime 2031 is after the certificate's validity.
	require.Error(t, err, "want expiry at signing time 2031")
	require.ErrorIs(t, rep.Signers[0].Err(), ErrCertificateExpired, "want expiry at signing time 2031")
	assert.True(t, rep.Signers[0].SigningTime.Equal(when), "signing time %v", rep.Signers[0].SigningTime)
	si := rep.SignedData.Signers[0]
	if assert.NotNil(t, findAttr(si.SignedAttributes, []int{1, 2, 3, 4}), "extra attributes missing") {
		assert.NotNil(t, findAttr(si.UnsignedAttributes, []int{1, 2, 3, 5}), "extra attributes missing")
	}

	sig, err = Sign([]byte("x"), k.Key, k.Certificate, &SignOptions{NoSigningTime: true, NoSigningCertificate: true, Chain: k.Chain})
	require.NoError(t, err)
	rep, err = Verify(sig, nil, verifyOpts(t))
	require.NoError(t, err)
	if assert.False(t, rep.Signers[0].HasSigningTime, "attributes present though turned off") {
		assert.False(t, rep.Signers[0].SigningCertificatePresent, "attributes present though turned off")
	}

	bad := []struct {
		name   string
		signer crypto.Signer
		cert   *x509.Certificate
		opts   SignOptions
	}{
		{"ed25519-sha256", ed.Key, ed.Certificate, SignOptions{Digest: crypto.SHA256}},
		{"pss-on-ecdsa", k.Key, k.Certificate, SignOptions{Algorithm: "RSA-PSS"}},
		{"unknown-alg", k.Key, k.Certificate, SignOptions{Algorithm: "GOST"}},
		{"cert-mismatch", k.Key, rsaK.Certificate, SignOptions{}},
		{"std-attr", k.Key, k.Certificate, SignOptions{SignedAttributes: []Attribute{{Type: OIDAttributeSigningTime, Values: [][]byte{{5, 0}}}}}},
		{"unknown-digest-oid", k.Key, k.Certificate, SignOptions{DigestOID: OIDDigestOzDSt1106}},
	}
	for _, b := range bad {
		_, err := Sign([]byte("x"), b.signer, b.cert, &b.opts)
		assert.Error(t, err, "%s: accepted", b.name)
	}
	_, err = Sign([]byte("x"), nil, nil, nil)
	assert.Error(t, err, "nil signer accepted")
}

// TestConcurrentSigning: options are per call; concurrent signers with
// different choices do not interfere.
func TestConcurrentSigning(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		v := signVariants()[i%len(signVariants())]
		k := testKey(t, v.key)
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := v.opts
			o.Chain = k.Chain
			data := make([]byte, 100)
			rand.Read(data)
			sig, err := Sign(data, k.Key, k.Certificate, &o)
			if err == nil {
				_, err = Verify(sig, nil, verifyOpts(t))
			}
			if err != nil {
				errs <- fmt.Errorf("%s: %w", v.name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

// opensslEd25519Check verifies an Ed25519 SignerInfo with `openssl pkeyutl
// -verify -rawin` over the DER signed attributes (RFC 8419 §3.1), and that
// the digest algorithm is SHA-512.
func opensslEd25519Check(t *testing.T, sig []byte, cert *x509.Certificate) {
	t.Helper()
	sd, err := ParseSignedData(sig)
	require.NoError(t, err)
	si := sd.Signers[len(sd.Signers)-1]
	require.True(t, si.DigestAlgorithm.Algorithm.Equal(OIDDigestSHA512), "Ed25519 algorithms %v %v", si.DigestAlgorithm.Algorithm, si.SignatureAlgorithm.Algorithm)
	require.True(t, si.SignatureAlgorithm.Algorithm.Equal(OIDSignatureEd25519), "Ed25519 algorithms %v %v", si.DigestAlgorithm.Algorithm, si.SignatureAlgorithm.Algorithm)
	require.Empty(t, si.SignatureAlgorithm.Parameters.FullBytes, "Ed25519 signatureAlgorithm must have absent parameters")
	dir := t.TempDir()
	msg := append([]byte(nil), si.RawSignedAttributes...)
	msg[0] = 0x31
	pub, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	require.NoError(t, err)
	out, err := openssl(t, "pkeyutl", "-verify", "-pubin", "-inkey", writePEM(t, dir, "pub.pem", "PUBLIC KEY", pub),
		"-rawin", "-in", writeFile(t, dir, "attrs", msg), "-sigfile", writeFile(t, dir, "sig", si.Signature))
	require.NoError(t, err, "openssl pkeyutl -verify: %v\n%s", err, out)
	require.Contains(t, string(out), "Success", "openssl pkeyutl -verify: %v\n%s", err, out)
}
