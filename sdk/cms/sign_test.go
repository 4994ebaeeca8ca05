package cms

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-agent/signet/softhsm-config/softhsmtest"
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
	if fixErr != nil {
		t.Fatal(fixErr)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	fixKeys[typ] = k
	return k
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func needOpenSSL(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is required for the CMS cross-checks")
	}
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
				if err != nil {
					t.Fatal(err)
				}
				var dc []byte
				if detached {
					dc = content
				}
				if v.key == softhsmtest.Ed25519 {
					// OpenSSL 3.0 cannot verify Ed25519 in CMS ("invalid
					// digest"); check the raw signature over the signed
					// attributes with openssl pkeyutl instead.
					opensslEd25519Check(t, sig, k.Certificate)
				} else if err := opensslVerify(t, sig, dc, "-cades"); err != nil {
					t.Fatal(err)
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
				if err != nil {
					t.Fatal(err)
				}
				s := rep.Signers[0]
				if !s.SignatureOK || !s.ContentDigestOK || !s.SigningCertificateOK || s.ChainStatus != ChainValid || !s.HasSigningTime {
					t.Fatalf("report %+v", s)
				}
				if len(s.Chain) != 3 {
					t.Errorf("chain length %d, want 3", len(s.Chain))
				}
				if !detached && !bytes.Equal(rep.Content, content) {
					t.Error("content not returned")
				}
				if s.SerialHex != k.Certificate.SerialNumber.Text(16) {
					t.Errorf("serial %s", s.SerialHex)
				}
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
			if err != nil {
				t.Fatal(err)
			}
			keyPath := writePEM(t, dir, "key.pem", "PRIVATE KEY", pk)
			certPath := writePEM(t, dir, "cert.pem", "CERTIFICATE", k.Certificate.Raw)
			chain := writePEM(t, dir, "chain.pem", "CERTIFICATE", testPKI(t).Intermediate.Raw)
			in := writeFile(t, dir, "in", content)
			outPath := filepath.Join(dir, "sig")
			args := append([]string{"cms", "-sign", "-binary", "-in", in, "-signer", certPath, "-inkey", keyPath, "-certfile", chain, "-outform", "DER", "-out", outPath}, c.args...)
			if out, err := openssl(t, args...); err != nil {
				t.Fatalf("openssl cms -sign: %v\n%s", err, out)
			}
			sig, err := os.ReadFile(outPath)
			if err != nil {
				t.Fatal(err)
			}
			attached := strings.Contains(strings.Join(c.args, " "), "-nodetach")
			var rep *Report
			if attached {
				rep, err = Verify(sig, nil, verifyOpts(t))
			} else {
				rep, err = Verify(sig, bytes.NewReader(content), verifyOpts(t))
			}
			if err != nil {
				t.Fatal(err)
			}
			if attached && !bytes.Equal(rep.Content, content) {
				t.Errorf("content %q", rep.Content)
			}
			s := rep.Signers[0]
			if strings.Contains(c.name, "cades") && (!s.SigningCertificatePresent || !s.SigningCertificateOK) {
				t.Errorf("ESS signing certificate: present %v, ok %v", s.SigningCertificatePresent, s.SigningCertificateOK)
			}
			if s.Subject != k.Certificate.Subject.String() {
				t.Errorf("subject %q", s.Subject)
			}
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
			if err != nil {
				t.Fatal(err)
			}
			if buf.Bytes()[1] != 0x80 {
				t.Error("expected indefinite-length BER output")
			}
			if err := opensslVerify(t, buf.Bytes(), nil, "-cades"); err != nil {
				t.Fatal(err)
			}
			rep, err := Verify(buf.Bytes(), nil, verifyOpts(t))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rep.Content, content) {
				t.Error("content differs")
			}
		})
	}
	t.Run("attached-wrong-size", func(t *testing.T) {
		var buf bytes.Buffer
		err := SignAttachedStream(&buf, bytes.NewReader(content), int64(len(content))+1, k.Key, k.Certificate, nil)
		if err == nil {
			t.Fatal("short content accepted")
		}
		err = SignAttachedStream(&buf, bytes.NewReader(content), int64(len(content))-1, k.Key, k.Certificate, nil)
		if err == nil {
			t.Fatal("long content accepted")
		}
	})
	t.Run("detached-reader", func(t *testing.T) {
		sig, err := SignDetached(bytes.NewReader(content), k.Key, k.Certificate, &SignOptions{Chain: k.Chain, Digest: crypto.SHA384})
		if err != nil {
			t.Fatal(err)
		}
		if err := opensslVerify(t, sig, content, "-cades"); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(sig, bytes.NewReader(content), verifyOpts(t)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("digest", func(t *testing.T) {
		h := crypto.SHA256.New()
		h.Write(content)
		sig, err := SignDigest(h.Sum(nil), k.Key, k.Certificate, &SignOptions{Chain: k.Chain})
		if err != nil {
			t.Fatal(err)
		}
		if err := opensslVerify(t, sig, content, "-cades"); err != nil {
			t.Fatal(err)
		}
		if _, err := SignDigest([]byte("short"), k.Key, k.Certificate, nil); err == nil {
			t.Error("wrong digest length accepted")
		}
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
			if err != nil {
				t.Fatal(err)
			}
			sd1, _ := ParseSignedData(first)
			var dc []byte
			var second []byte
			if detached {
				dc = content
				second, err = CoSign(first, bytes.NewReader(content), b.Key, b.Certificate, &SignOptions{Digest: crypto.SHA384})
			} else {
				second, err = CoSign(first, nil, b.Key, b.Certificate, &SignOptions{Digest: crypto.SHA384})
			}
			if err != nil {
				t.Fatal(err)
			}
			var third []byte
			if detached {
				h := crypto.SHA512.New()
				h.Write(content)
				third, err = CoSignDigest(second, h.Sum(nil), c.Key, c.Certificate, &SignOptions{Digest: crypto.SHA512})
			} else {
				third, err = CoSign(second, nil, c.Key, c.Certificate, &SignOptions{Digest: crypto.SHA512})
			}
			if err != nil {
				t.Fatal(err)
			}
			sd3, err := ParseSignedData(third)
			if err != nil {
				t.Fatal(err)
			}
			if len(sd3.Signers) != 3 {
				t.Fatalf("%d signers", len(sd3.Signers))
			}
			if !bytes.Equal(sd3.Signers[0].Raw, sd1.Signers[0].Raw) {
				t.Error("first SignerInfo changed")
			}
			if len(sd3.RawCertificates) != 5 { // a, intermediate, root, b, c
				t.Errorf("%d certificates, want 5", len(sd3.RawCertificates))
			}
			if err := opensslVerify(t, third, dc, "-cades"); err != nil {
				t.Fatal(err)
			}
			var rep *Report
			if detached {
				rep, err = Verify(third, bytes.NewReader(content), verifyOpts(t))
			} else {
				rep, err = Verify(third, nil, verifyOpts(t))
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Signers) != 3 || !rep.Valid() {
				t.Fatal("report not valid")
			}
			if rep.Signers[2].SignatureAlgorithm != "ECDSA" || rep.Signers[2].DigestAlgorithm != "SHA-512" || rep.Signers[1].DigestAlgorithm != "SHA-384" {
				t.Errorf("algorithms %s %s", rep.Signers[2].SignatureAlgorithm, rep.Signers[1].DigestAlgorithm)
			}
		})
	}
	t.Run("detached-needs-content", func(t *testing.T) {
		first, _ := Sign(content, a.Key, a.Certificate, &SignOptions{Detached: true})
		if _, err := CoSign(first, nil, b.Key, b.Certificate, nil); !errors.Is(err, ErrContentMissing) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestSignatureHexAndSerial(t *testing.T) {
	k := testKey(t, softhsmtest.ECP256)
	sig, err := Sign([]byte("x"), k.Key, k.Certificate, nil)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := ParseSignedData(sig)
	if err != nil {
		t.Fatal(err)
	}
	si := sd.Signers[0]
	if si.Certificate == nil || si.SerialHex() != k.Certificate.SerialNumber.Text(16) {
		t.Fatal("signer certificate not exposed")
	}
	// The signature value is what the signer produced over the signed
	// attributes: check it independently.
	msg := append([]byte(nil), si.RawSignedAttributes...)
	msg[0] = 0x31
	h := crypto.SHA256.New()
	h.Write(msg)
	if err := checkECDSA(k.Certificate, h.Sum(nil), si.Signature); err != nil {
		t.Fatal(err)
	}
	if len(si.SignatureHex()) != 2*len(si.Signature) {
		t.Error("signature hex")
	}
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
	if err != nil {
		t.Fatal(err)
	}
	unsigned, _ := NewAttribute([]int{1, 2, 3, 5}, 42)
	sig, err := Sign([]byte("x"), k.Key, k.Certificate, &SignOptions{
		SigningTime: when, SignedAttributes: []Attribute{extra}, UnsignedAttributes: []Attribute{unsigned},
		NoCertificate: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	sd, _ := ParseSignedData(sig)
	if len(sd.RawCertificates) != 0 {
		t.Error("certificate included despite NoCertificate")
	}
	rep, err := Verify(sig, nil, &VerifyOptions{Certificates: []*x509.Certificate{k.Certificate}, Roots: testPKI(t).Roots(), Intermediates: testPKI(t).Intermediates(), Time: time.Now()})
	if err == nil || !errors.Is(rep.Signers[0].Err(), ErrCertificateExpired) {
		// signingTime 2031 is after the certificate's validity.
		t.Fatalf("want expiry at signing time 2031, got %v", err)
	}
	if !rep.Signers[0].SigningTime.Equal(when) {
		t.Errorf("signing time %v", rep.Signers[0].SigningTime)
	}
	si := rep.SignedData.Signers[0]
	if findAttr(si.SignedAttributes, []int{1, 2, 3, 4}) == nil || findAttr(si.UnsignedAttributes, []int{1, 2, 3, 5}) == nil {
		t.Error("extra attributes missing")
	}

	sig, err = Sign([]byte("x"), k.Key, k.Certificate, &SignOptions{NoSigningTime: true, NoSigningCertificate: true, Chain: k.Chain})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(sig, nil, verifyOpts(t))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Signers[0].HasSigningTime || rep.Signers[0].SigningCertificatePresent {
		t.Error("attributes present though turned off")
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
		if _, err := Sign([]byte("x"), b.signer, b.cert, &b.opts); err == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
	if _, err := Sign([]byte("x"), nil, nil, nil); err == nil {
		t.Error("nil signer accepted")
	}
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
		t.Error(err)
	}
}

// opensslEd25519Check verifies an Ed25519 SignerInfo with `openssl pkeyutl
// -verify -rawin` over the DER signed attributes (RFC 8419 §3.1), and that
// the digest algorithm is SHA-512.
func opensslEd25519Check(t *testing.T, sig []byte, cert *x509.Certificate) {
	t.Helper()
	sd, err := ParseSignedData(sig)
	if err != nil {
		t.Fatal(err)
	}
	si := sd.Signers[len(sd.Signers)-1]
	if !si.DigestAlgorithm.Algorithm.Equal(OIDDigestSHA512) || !si.SignatureAlgorithm.Algorithm.Equal(OIDSignatureEd25519) {
		t.Fatalf("Ed25519 algorithms %v %v", si.DigestAlgorithm.Algorithm, si.SignatureAlgorithm.Algorithm)
	}
	if len(si.SignatureAlgorithm.Parameters.FullBytes) != 0 {
		t.Fatal("Ed25519 signatureAlgorithm must have absent parameters")
	}
	dir := t.TempDir()
	msg := append([]byte(nil), si.RawSignedAttributes...)
	msg[0] = 0x31
	pub, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	out, err := openssl(t, "pkeyutl", "-verify", "-pubin", "-inkey", writePEM(t, dir, "pub.pem", "PUBLIC KEY", pub),
		"-rawin", "-in", writeFile(t, dir, "attrs", msg), "-sigfile", writeFile(t, dir, "sig", si.Signature))
	if err != nil || !strings.Contains(string(out), "Success") {
		t.Fatalf("openssl pkeyutl -verify: %v\n%s", err, out)
	}
}
