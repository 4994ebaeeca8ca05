package cms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/signet-agent/signet/hsm"
)

// envRecipient is a test recipient: a certificate issued by a test CA and
// its in-memory private key, written as PEM for openssl.
type envRecipient struct {
	name     string
	cert     *x509.Certificate
	key      crypto.Signer
	certPath string
	keyPath  string
}

var (
	envFixtureOnce sync.Once
	envFixtureErr  error
	envRecipients  map[string]*envRecipient
)

// envFixture returns the test recipients: rsa2048, p256, p384, p521, plus
// "rsa2048b" and "p256b" with the same names but different keys and
// serials. Keys are generated once per test binary (RSA generation is
// slow); the PEM files for openssl are written to a directory of the
// calling test.
func envFixture(t testing.TB) map[string]*envRecipient {
	t.Helper()
	envFixtureOnce.Do(func() {
		envRecipients, envFixtureErr = envMakeRecipients()
	})
	require.NoError(t, envFixtureErr, "envelope test fixture")
	dir := t.TempDir()
	out := make(map[string]*envRecipient, len(envRecipients))
	for name, r := range envRecipients {
		c := *r
		c.certPath = filepath.Join(dir, name+".crt")
		c.keyPath = filepath.Join(dir, name+".key")
		pkcs8, err := x509.MarshalPKCS8PrivateKey(r.key)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(c.certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.cert.Raw}), 0o600))
		require.NoError(t, os.WriteFile(c.keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600))
		out[name] = &c
	}
	return out
}

func envMakeRecipients() (map[string]*envRecipient, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Signet Envelope Test CA", Organization: []string{"Signet Test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	out := map[string]*envRecipient{}
	specs := []struct {
		name string
		gen  func() (crypto.Signer, error)
	}{
		{"rsa2048", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
		{"rsa2048b", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
		{"p256", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
		{"p256b", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
		{"p384", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) }},
		{"p521", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P521(), rand.Reader) }},
	}
	for i, s := range specs {
		key, err := s.gen()
		if err != nil {
			return nil, err
		}
		spki, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			return nil, err
		}
		ski := sha1.Sum(spki)
		usage := x509.KeyUsageKeyEncipherment
		if _, ok := key.(*ecdsa.PrivateKey); ok {
			usage = x509.KeyUsageKeyAgreement
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(1000 + i)),
			// Same subject for "x" and "xb": only the serial tells them apart.
			Subject:      pkix.Name{CommonName: "Recipient " + strings.TrimSuffix(s.name, "b")},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     usage,
			SubjectKeyId: ski[:],
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
		if err != nil {
			return nil, err
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		r := &envRecipient{name: s.name, cert: cert, key: key}
		out[s.name] = r
	}
	return out, nil
}

// envOpenSSL runs openssl with stdin and returns stdout; it fails the test
// with stderr on error.
func envOpenSSL(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	out, err := envOpenSSLErr(stdin, args...)
	require.NoError(t, err, "openssl %s", strings.Join(args, " "))
	return out
}

func envOpenSSLErr(stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command("openssl", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

func envNeedOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
}

// envContent returns n bytes of test content.
func envContent(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestKeyWrapRFC3394Vectors(t *testing.T) {
	h := func(s string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		require.NoError(t, err)
		return b
	}
	for _, tc := range []struct{ name, kek, key, wrapped string }{
		{"4.1 128-bit KEK, 128-bit key", "000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF",
			"1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5"},
		{"4.3 256-bit KEK, 128-bit key", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF",
			"64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7"},
		{"4.6 256-bit KEK, 256-bit key", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
			"00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
			"28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keyWrap(h(tc.kek), h(tc.key))
			require.NoError(t, err)
			require.Equal(t, h(tc.wrapped), got, "wrap = %X, want %s", got, tc.wrapped)
			back, err := keyUnwrap(h(tc.kek), got)
			require.NoError(t, err, "unwrap = %X", back)
			require.Equal(t, h(tc.key), back, "unwrap = %X", back)
			bad := append([]byte{}, got...)
			bad[len(bad)-1] ^= 1
			_, err = keyUnwrap(h(tc.kek), bad)
			require.ErrorIs(t, err, errKeyUnwrap, "unwrap of tampered key: %v, want errKeyUnwrap", err)
		})
	}
}

func TestX963KDFVector(t *testing.T) {
	// ANSI X9.63 KDF with SHA-256, test vector from NIST CAVS
	// (ansx963_2001.rsp, [SHA-256] shared secret length 192, shared info
	// length 0, key data length 128, COUNT = 0).
	z, _ := hex.DecodeString("96c05619d56c328ab95fe84b18264b08725b85e33fd34f08")
	want := "443024c3dae66b95e6f5670601558f71"
	got, err := envX963KDF(crypto.SHA256, z, nil, 16)
	require.NoError(t, err)
	require.Equal(t, want, hex.EncodeToString(got), "KDF = %x, want %s", got, want)
}

// TestEncryptOpenSSLDecrypts: what Encrypt produces, `openssl cms -decrypt`
// reads.
func TestEncryptOpenSSLDecrypts(t *testing.T) {
	envNeedOpenSSL(t)
	rs := envFixture(t)
	content := envContent(1000)
	for _, tc := range []struct {
		name       string
		recipients []string
		opts       EncryptOptions
	}{
		{"RSA PKCS1v15 AES-256", []string{"rsa2048"}, EncryptOptions{}},
		{"RSA PKCS1v15 AES-128", []string{"rsa2048"}, EncryptOptions{ContentEncryption: AES128CBC}},
		{"RSA OAEP SHA-1", []string{"rsa2048"}, EncryptOptions{RSAKeyTransport: RSAOAEPSHA1}},
		{"RSA OAEP SHA-256", []string{"rsa2048"}, EncryptOptions{RSAKeyTransport: RSAOAEPSHA256}},
		{"RSA subject key id", []string{"rsa2048"}, EncryptOptions{UseSubjectKeyID: true}},
		{"EC P-256", []string{"p256"}, EncryptOptions{}},
		{"EC P-256 AES-128", []string{"p256"}, EncryptOptions{ContentEncryption: AES128CBC}},
		{"EC P-384", []string{"p384"}, EncryptOptions{}},
		{"EC P-521", []string{"p521"}, EncryptOptions{}},
		{"EC subject key id", []string{"p256"}, EncryptOptions{UseSubjectKeyID: true}},
		{"multiple recipients", []string{"rsa2048", "p256", "p384", "rsa2048b"}, EncryptOptions{RSAKeyTransport: RSAOAEPSHA256}},
		{"AuthEnvelopedData AES-256-GCM RSA", []string{"rsa2048"}, EncryptOptions{ContentEncryption: AES256GCM}},
		{"AuthEnvelopedData AES-128-GCM EC", []string{"p256"}, EncryptOptions{ContentEncryption: AES128GCM}},
		{"AuthEnvelopedData AES-256-GCM multiple", []string{"rsa2048", "p384", "p256b"}, EncryptOptions{ContentEncryption: AES256GCM, RSAKeyTransport: RSAOAEPSHA1, UseSubjectKeyID: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var certs []*x509.Certificate
			for _, n := range tc.recipients {
				certs = append(certs, rs[n].cert)
			}
			der, err := Encrypt(content, certs, tc.opts)
			require.NoError(t, err, "Encrypt")
			for _, n := range tc.recipients {
				r := rs[n]
				got := envOpenSSL(t, der, "cms", "-decrypt", "-inform", "DER", "-binary",
					"-recip", r.certPath, "-inkey", r.keyPath)
				require.Equal(t, content, got, "openssl decrypt for %s: content differs (%d bytes, want %d)", n, len(got), len(content))
				// And our own Decrypt reads it too.
				got, err = Decrypt(der, r.cert, r.key)
				require.NoError(t, err, "Decrypt for %s", n)
				require.Equal(t, content, got, "Decrypt for %s", n)
			}
			// The parts openssl's parser prints match what we meant to write.
			dump := string(envOpenSSL(t, der, "cms", "-cmsout", "-print", "-inform", "DER", "-noout"))
			wantAlg := map[ContentEncryption]string{
				AES256CBC: "aes-256-cbc", AES128CBC: "aes-128-cbc",
				AES256GCM: "aes-256-gcm", AES128GCM: "aes-128-gcm",
			}[tc.opts.ContentEncryption]
			assert.Contains(t, dump, wantAlg, "openssl -print does not show %s:\n%s", wantAlg, dump)
		})
	}
}

// TestOpenSSLEncryptDecrypts: what `openssl cms -encrypt` produces, Decrypt
// reads, DER and BER (streamed, indefinite lengths).
func TestOpenSSLEncryptDecrypts(t *testing.T) {
	envNeedOpenSSL(t)
	rs := envFixture(t)
	content := envContent(5000)
	for _, tc := range []struct {
		name       string
		recipients []string
		args       []string // cipher and per-recipient keyopts; "{name}" expands to -recip path
	}{
		{"RSA PKCS1v15 AES-256", []string{"rsa2048"}, []string{"-aes256", "{rsa2048}"}},
		{"RSA PKCS1v15 AES-128", []string{"rsa2048"}, []string{"-aes128", "{rsa2048}"}},
		{"RSA PKCS1v15 AES-192", []string{"rsa2048"}, []string{"-aes192", "{rsa2048}"}},
		{"RSA PKCS1v15 3DES", []string{"rsa2048"}, []string{"-des3", "{rsa2048}"}},
		{"RSA OAEP default (SHA-1)", []string{"rsa2048"}, []string{"-aes256", "{rsa2048}", "-keyopt", "rsa_padding_mode:oaep"}},
		{"RSA OAEP SHA-256", []string{"rsa2048"}, []string{"-aes256", "{rsa2048}", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"}},
		{"RSA OAEP SHA-256 label", []string{"rsa2048"}, []string{"-aes256", "{rsa2048}", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256", "-keyopt", "rsa_oaep_label:0102030405"}},
		{"RSA keyid", []string{"rsa2048"}, []string{"-aes256", "-keyid", "{rsa2048}"}},
		{"EC P-256 default KDF", []string{"p256"}, []string{"-aes256", "{p256}"}},
		{"EC P-256 SHA-256 KDF", []string{"p256"}, []string{"-aes256", "{p256}", "-keyopt", "ecdh_kdf_md:sha256"}},
		{"EC P-256 AES-128", []string{"p256"}, []string{"-aes128", "{p256}"}},
		{"EC P-384 SHA-384 KDF", []string{"p384"}, []string{"-aes256", "{p384}", "-keyopt", "ecdh_kdf_md:sha384"}},
		{"EC P-521", []string{"p521"}, []string{"-aes256", "{p521}"}},
		{"EC cofactor", []string{"p256"}, []string{"-aes256", "{p256}", "-keyopt", "ecdh_cofactor_mode:1"}},
		{"EC keyid", []string{"p256"}, []string{"-aes256", "-keyid", "{p256}"}},
		{"EC 3DES (CMS 3DES key wrap)", []string{"p256"}, []string{"-des3", "{p256}"}},
		{"EC and RSA, default cipher", []string{"p384", "rsa2048"}, []string{"{p384}", "{rsa2048}"}},
		{"multiple", []string{"rsa2048", "p256", "p384", "rsa2048b"}, []string{"-aes256", "{rsa2048}", "{p256}", "{p384}", "{rsa2048b}", "-keyopt", "rsa_padding_mode:oaep"}},
		{"AuthEnvelopedData AES-256-GCM RSA", []string{"rsa2048"}, []string{"-aes-256-gcm", "{rsa2048}"}},
		{"AuthEnvelopedData AES-128-GCM EC", []string{"p256"}, []string{"-aes-128-gcm", "{p256}"}},
		{"AuthEnvelopedData AES-192-GCM multiple", []string{"rsa2048", "p384"}, []string{"-aes-192-gcm", "{rsa2048}", "{p384}", "-keyopt", "ecdh_kdf_md:sha256"}},
	} {
		for _, ber := range []bool{false, true} {
			name := tc.name + " DER"
			if ber {
				name = tc.name + " BER"
			}
			t.Run(name, func(t *testing.T) {
				args := []string{"cms", "-encrypt", "-binary", "-outform", "DER"}
				if ber {
					args = append(args, "-stream")
				}
				for _, a := range tc.args {
					if strings.HasPrefix(a, "{") {
						args = append(args, "-recip", rs[strings.Trim(a, "{}")].certPath)
					} else {
						args = append(args, a)
					}
				}
				der := envOpenSSL(t, content, args...)
				if ber {
					require.True(t, envHasIndefiniteLength(der), "openssl -stream output has no indefinite length; BER path not exercised")
				}
				for _, n := range tc.recipients {
					r := rs[n]
					got, err := Decrypt(der, r.cert, r.key)
					require.NoError(t, err, "Decrypt for %s", n)
					require.Equal(t, content, got, "Decrypt for %s: content differs", n)
				}
			})
		}
	}
}

// envHasIndefiniteLength reports whether the outer element uses the
// indefinite length form.
func envHasIndefiniteLength(der []byte) bool {
	return len(der) > 2 && der[1] == 0x80
}

// envOpaqueDecrypter exposes only crypto.Decrypter, as a token key does:
// no type assertion can reach the private key.
type envOpaqueDecrypter struct {
	k     *rsa.PrivateKey
	calls []crypto.DecrypterOpts
}

func (d *envOpaqueDecrypter) Public() crypto.PublicKey { return d.k.Public() }
func (d *envOpaqueDecrypter) Decrypt(r io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	d.calls = append(d.calls, opts)
	return d.k.Decrypt(r, msg, opts)
}

// envOpaqueAgreer exposes only KeyAgreer.
type envOpaqueAgreer struct {
	k     *ecdh.PrivateKey
	calls int
}

func (a *envOpaqueAgreer) Public() crypto.PublicKey { return a.k.Public() }
func (a *envOpaqueAgreer) ECDH(peer *ecdh.PublicKey) ([]byte, error) {
	a.calls++
	return a.k.ECDH(peer)
}

func TestDecryptKeyKinds(t *testing.T) {
	rs := envFixture(t)
	content := []byte("key kinds")

	t.Run("opaque RSA decrypter, v1.5 and OAEP", func(t *testing.T) {
		r := rs["rsa2048"]
		for _, kt := range []KeyTransport{RSAPKCS1v15, RSAOAEPSHA1, RSAOAEPSHA256} {
			der, err := Encrypt(content, []*x509.Certificate{r.cert}, EncryptOptions{RSAKeyTransport: kt})
			require.NoError(t, err)
			d := &envOpaqueDecrypter{k: r.key.(*rsa.PrivateKey)}
			got, err := Decrypt(der, r.cert, d)
			require.NoError(t, err, "transport %d: %q", kt, got)
			require.Equal(t, content, got, "transport %d: %q", kt, got)
			require.Len(t, d.calls, 1, "transport %d: Decrypt called %d times", kt, len(d.calls))
			switch o := d.calls[0].(type) {
			case nil:
				require.Equal(t, RSAPKCS1v15, kt, "transport %d: nil opts", kt)
			case *rsa.OAEPOptions:
				want := crypto.SHA1
				if kt == RSAOAEPSHA256 {
					want = crypto.SHA256
				}
				require.Equal(t, want, o.Hash, "transport %d: OAEP opts %+v", kt, o)
				require.Equal(t, want, o.MGFHash, "transport %d: OAEP opts %+v", kt, o)
			default:
				t.Fatalf("transport %d: opts %T", kt, o)
			}
		}
	})

	t.Run("EC key kinds", func(t *testing.T) {
		r := rs["p384"]
		der, err := Encrypt(content, []*x509.Certificate{r.cert}, EncryptOptions{})
		require.NoError(t, err)
		ek, err := r.key.(*ecdsa.PrivateKey).ECDH()
		require.NoError(t, err)
		ag := &envOpaqueAgreer{k: ek}
		for name, key := range map[string]crypto.PrivateKey{
			"*ecdsa.PrivateKey": r.key,
			"*ecdh.PrivateKey":  ek,
			"KeyAgreer":         ag,
		} {
			got, err := Decrypt(der, r.cert, key)
			require.NoError(t, err, "%s: %q", name, got)
			require.Equal(t, content, got, "%s: %q", name, got)
		}
		require.Equal(t, 1, ag.calls, "KeyAgreer.ECDH called %d times", ag.calls)
	})
}

func TestEncryptErrors(t *testing.T) {
	rs := envFixture(t)
	ed := &x509.Certificate{PublicKey: struct{}{}, Subject: pkix.Name{CommonName: "odd"}}
	noSKI := *rs["rsa2048"].cert
	noSKI.SubjectKeyId = nil
	for _, tc := range []struct {
		name  string
		certs []*x509.Certificate
		opts  EncryptOptions
		want  string
	}{
		{"no recipients", nil, EncryptOptions{}, "no recipients"},
		{"nil recipient", []*x509.Certificate{nil}, EncryptOptions{}, "recipient 0 is nil"},
		{"unsupported key", []*x509.Certificate{ed}, EncryptOptions{}, "public key type struct {} is not supported"},
		{"missing SKI", []*x509.Certificate{&noSKI}, EncryptOptions{UseSubjectKeyID: true}, "no subject key identifier"},
		{"bad cipher", []*x509.Certificate{rs["p256"].cert}, EncryptOptions{ContentEncryption: 9}, "unknown content encryption"},
		{"bad transport", []*x509.Certificate{rs["p256"].cert}, EncryptOptions{RSAKeyTransport: 9}, "unknown RSA key transport"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Encrypt([]byte("x"), tc.certs, tc.opts)
			require.ErrorContains(t, err, tc.want, "err = %v, want it to mention %q", err, tc.want)
		})
	}
}

func TestDecryptNegative(t *testing.T) {
	rs := envFixture(t)
	content := envContent(100) // 100 bytes: 7 blocks, last plaintext byte is padding 0x0c
	rsaDER, err := Encrypt(content, []*x509.Certificate{rs["rsa2048"].cert}, EncryptOptions{RSAKeyTransport: RSAOAEPSHA256})
	require.NoError(t, err)
	ecDER, err := Encrypt(content, []*x509.Certificate{rs["p256"].cert}, EncryptOptions{})
	require.NoError(t, err)

	t.Run("wrong recipient", func(t *testing.T) {
		// rsa2048b has the same subject and issuer, another serial.
		for _, tc := range []struct {
			der []byte
			r   *envRecipient
		}{{rsaDER, rs["rsa2048b"]}, {ecDER, rs["p256b"]}, {rsaDER, rs["p256"]}} {
			_, err := Decrypt(tc.der, tc.r.cert, tc.r.key)
			require.ErrorIs(t, err, ErrNoRecipient, "%s: err = %v, want ErrNoRecipient", tc.r.name, err)
			assert.ErrorContains(t, err, tc.r.cert.SerialNumber.String(), "error does not name the serial")
		}
	})

	t.Run("key does not match certificate", func(t *testing.T) {
		_, err := Decrypt(rsaDER, rs["rsa2048"].cert, rs["rsa2048b"].key)
		require.ErrorContains(t, err, "does not match", "RSA")
		_, err = Decrypt(ecDER, rs["p256"].cert, rs["p256b"].key)
		require.ErrorContains(t, err, "does not match", "EC")
		_, err = Decrypt(ecDER, rs["p256"].cert, rs["rsa2048"].key)
		require.ErrorContains(t, err, "cannot do EC key agreement", "EC with RSA key")
	})

	t.Run("truncated", func(t *testing.T) {
		for _, der := range [][]byte{rsaDER, ecDER} {
			for n := 0; n < len(der); n++ {
				_, err := Decrypt(der[:n], rs["rsa2048"].cert, rs["rsa2048"].key)
				require.ErrorIs(t, err, ErrMalformed, "truncated to %d bytes: err = %v, want ErrMalformed", n, err)
			}
		}
	})

	t.Run("garbage", func(t *testing.T) {
		for _, g := range [][]byte{nil, {0x30}, {0x30, 0x80}, {0x30, 0x80, 0, 0}, bytes.Repeat([]byte{0xff}, 64), []byte("-----BEGIN CMS-----")} {
			_, err := Decrypt(g, rs["p256"].cert, rs["p256"].key)
			require.ErrorIs(t, err, ErrMalformed, "garbage %x: err = %v, want ErrMalformed", g, err)
		}
	})

	t.Run("tampered encrypted key", func(t *testing.T) {
		for _, tc := range []struct {
			der []byte
			r   *envRecipient
		}{{rsaDER, rs["rsa2048"]}, {ecDER, rs["p256"]}} {
			env, err := parseEnvelopedData(tc.der)
			require.NoError(t, err)
			// The encrypted key is the last octets of the only RecipientInfo.
			ri := env.recipients[0]
			i := bytes.Index(tc.der, ri) + len(ri) - 5
			bad := append([]byte{}, tc.der...)
			bad[i] ^= 0x40
			_, err = Decrypt(bad, tc.r.cert, tc.r.key)
			require.ErrorIs(t, err, ErrDecryptionFailed, "%s: err = %v, want the bare ErrDecryptionFailed", tc.r.name, err)
			require.Equal(t, ErrDecryptionFailed.Error(), err.Error(), "%s: err = %v, want the bare ErrDecryptionFailed", tc.r.name, err)
		}
	})

	t.Run("tampered RSA v1.5 key through a token-like decrypter", func(t *testing.T) {
		r := rs["rsa2048"]
		der, err := Encrypt(content, []*x509.Certificate{r.cert}, EncryptOptions{})
		require.NoError(t, err)
		env, err := parseEnvelopedData(der)
		require.NoError(t, err)
		ri := env.recipients[0]
		i := bytes.Index(der, ri) + len(ri) - 5
		bad := append([]byte{}, der...)
		bad[i] ^= 0x40
		_, err = Decrypt(bad, r.cert, &envOpaqueDecrypter{k: r.key.(*rsa.PrivateKey)})
		require.ErrorIs(t, err, ErrDecryptionFailed, "err = %v, want the bare ErrDecryptionFailed", err)
		require.Equal(t, ErrDecryptionFailed.Error(), err.Error(), "err = %v, want the bare ErrDecryptionFailed", err)
		// With the in-memory key the failure surfaces (with overwhelming
		// probability) at the content padding instead: same error.
		if _, err := Decrypt(bad, r.cert, r.key); err == nil {
			t.Log("random session key happened to give valid padding")
		} else {
			require.ErrorIs(t, err, ErrDecryptionFailed, "in-memory key")
		}
	})

	t.Run("tampered content padding", func(t *testing.T) {
		// Flip the last byte of the second-to-last ciphertext block so the
		// final padding byte decrypts to 0x00 (invalid).
		env, err := parseEnvelopedData(rsaDER)
		require.NoError(t, err)
		ct := env.content.ciphertext
		off := bytes.Index(rsaDER, ct)
		bad := append([]byte{}, rsaDER...)
		bad[off+len(ct)-16-1] ^= 0x0c
		_, err = Decrypt(bad, rs["rsa2048"].cert, rs["rsa2048"].key)
		require.ErrorIs(t, err, ErrDecryptionFailed, "err = %v, want the bare ErrDecryptionFailed", err)
		require.Equal(t, ErrDecryptionFailed.Error(), err.Error(), "err = %v, want the bare ErrDecryptionFailed", err)
	})

	t.Run("tampered content body is not detected", func(t *testing.T) {
		// EnvelopedData has no integrity protection: a flipped byte in an
		// early block decrypts to different content. Callers needing
		// integrity sign the content (or use AuthEnvelopedData).
		env, err := parseEnvelopedData(ecDER)
		require.NoError(t, err)
		off := bytes.Index(ecDER, env.content.ciphertext)
		bad := append([]byte{}, ecDER...)
		bad[off+3] ^= 1
		got, err := Decrypt(bad, rs["p256"].cert, rs["p256"].key)
		require.NoError(t, err, "Decrypt")
		require.False(t, bytes.Equal(got, content), "tampered ciphertext decrypted to the original content")
	})

	t.Run("AuthEnvelopedData detects tampering", func(t *testing.T) {
		r := rs["p384"]
		der, err := Encrypt(content, []*x509.Certificate{r.cert}, EncryptOptions{ContentEncryption: AES256GCM})
		require.NoError(t, err)
		env, err := parseEnvelopedData(der)
		require.NoError(t, err)
		for _, part := range [][]byte{env.content.ciphertext, env.content.mac, env.content.iv} {
			off := bytes.Index(der, part)
			bad := append([]byte{}, der...)
			bad[off+len(part)/2] ^= 1
			_, err := Decrypt(bad, r.cert, r.key)
			require.ErrorIs(t, err, ErrDecryptionFailed, "err = %v, want the bare ErrDecryptionFailed", err)
			require.Equal(t, ErrDecryptionFailed.Error(), err.Error(), "err = %v, want the bare ErrDecryptionFailed", err)
		}
	})

	t.Run("GCM inside EnvelopedData is refused", func(t *testing.T) {
		oid := []byte{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a} // aes256-CBC
		i := bytes.Index(ecDER, oid)
		bad := append([]byte{}, ecDER...)
		bad[i+len(oid)-1] = 0x2e // 2.16.840.1.101.3.4.1.46 = aes256-GCM
		_, err := Decrypt(bad, rs["p256"].cert, rs["p256"].key)
		require.ErrorContains(t, err, "2.16.840.1.101.3.4.1.46 (AES-GCM) inside EnvelopedData is not standard", "err")
	})

	t.Run("unsupported key encryption algorithm", func(t *testing.T) {
		// Rewrite id-RSAES-OAEP (…1.1.7) as …1.1.99.
		oid := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07}
		i := bytes.Index(rsaDER, oid)
		require.False(t, i < 0, "OAEP OID not found")
		bad := append([]byte{}, rsaDER...)
		bad[i+len(oid)-1] = 99
		_, err := Decrypt(bad, rs["rsa2048"].cert, rs["rsa2048"].key)
		require.ErrorContains(t, err, "unsupported key encryption algorithm 1.2.840.113549.1.1.99", "err")
	})

	t.Run("unsupported content encryption algorithm", func(t *testing.T) {
		oid := []byte{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a} // aes256-CBC
		i := bytes.Index(ecDER, oid)
		bad := append([]byte{}, ecDER...)
		bad[i+len(oid)-1] = 0x30 // 2.16.840.1.101.3.4.1.48, unassigned
		_, err := Decrypt(bad, rs["p256"].cert, rs["p256"].key)
		require.ErrorContains(t, err, "unsupported content encryption algorithm 2.16.840.1.101.3.4.1.48", "err")
	})

	t.Run("not EnvelopedData", func(t *testing.T) {
		signed := envOpenSSLSigned(t, rs["p256"])
		_, err := Decrypt(signed, rs["p256"].cert, rs["p256"].key)
		require.ErrorContains(t, err, "1.2.840.113549.1.7.2 is not EnvelopedData", "err")
		require.ErrorIs(t, err, ErrNotEnveloped, "err")
	})
}

// envOpenSSLSigned returns a SignedData made by openssl, or a hand-made
// ContentInfo with the SignedData type when openssl is missing.
func envOpenSSLSigned(t *testing.T, r *envRecipient) []byte {
	if _, err := exec.LookPath("openssl"); err == nil {
		return envOpenSSL(t, []byte("x"), "cms", "-sign", "-binary", "-outform", "DER", "-signer", r.certPath, "-inkey", r.keyPath, "-nodetach")
	}
	return []byte{0x30, 0x0f, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x02, 0x30, 0x00}
}

func TestEncryptSizes(t *testing.T) {
	rs := envFixture(t)
	r := rs["p256"]
	for _, ce := range []ContentEncryption{AES256CBC, AES128GCM} {
		for _, n := range []int{0, 1, 15, 16, 17, 4096, 1 << 20} {
			content := envContent(n)
			der, err := Encrypt(content, []*x509.Certificate{r.cert}, EncryptOptions{ContentEncryption: ce})
			require.NoError(t, err, "cipher %d, %d bytes", ce, n)
			got, err := Decrypt(der, r.cert, r.key)
			require.NoError(t, err, "cipher %d, %d bytes: round trip", ce, n)
			require.Equal(t, content, got, "cipher %d, %d bytes: round trip", ce, n)
			if n == 0 {
				// OpenSSL reads empty content too.
				if _, err := exec.LookPath("openssl"); err == nil {
					got := envOpenSSL(t, der, "cms", "-decrypt", "-inform", "DER", "-binary", "-recip", r.certPath, "-inkey", r.keyPath)
					require.Empty(t, got, "cipher %d: openssl decrypted %d bytes of empty content", ce, len(got))
				}
			}
		}
	}
}

func TestDecryptIndefiniteLengthOuter(t *testing.T) {
	rs := envFixture(t)
	r := rs["p256"]
	content := []byte("indefinite")
	der, err := Encrypt(content, []*x509.Certificate{r.cert}, EncryptOptions{})
	require.NoError(t, err)
	ber := envIndefinite(der)
	require.True(t, envHasIndefiniteLength(ber), "not indefinite")
	got, err := Decrypt(ber, r.cert, r.key)
	require.NoError(t, err, "Decrypt(BER) = %q", got)
	require.Equal(t, content, got, "Decrypt(BER) = %q", got)
}

func TestEnvelopeRecipients(t *testing.T) {
	rs := envFixture(t)
	der, err := Encrypt([]byte("x"), []*x509.Certificate{rs["rsa2048"].cert, rs["p256"].cert}, EncryptOptions{RSAKeyTransport: RSAOAEPSHA256})
	require.NoError(t, err)
	list, err := EnvelopeRecipients(der)
	require.NoError(t, err)
	require.Len(t, list, 2, "%d recipients, want 2", len(list))
	found := map[string]bool{}
	for _, r := range list {
		for _, name := range []string{"rsa2048", "p256", "rsa2048b", "p256b", "p384"} {
			if r.Matches(rs[name].cert) {
				found[name] = true
				want := map[string]string{"rsa2048": RecipientKeyTransport, "p256": RecipientKeyAgreement}[name]
				assert.Equal(t, want, r.Kind, "%s: kind %s, want %s", name, r.Kind, want)
			}
		}
		switch r.Kind {
		case RecipientKeyTransport:
			assert.True(t, r.KeyEncryptionAlgorithm.Equal(envOIDRSAESOAEP), "key transport algorithm %s", r.KeyEncryptionAlgorithm)
		case RecipientKeyAgreement:
			assert.True(t, r.KeyEncryptionAlgorithm.Equal(envOIDStdDHSHA256KDF), "key agreement algorithm %s", r.KeyEncryptionAlgorithm)
		}
	}
	require.True(t, found["rsa2048"], "matched %v, want exactly rsa2048 and p256", found)
	require.True(t, found["p256"], "matched %v, want exactly rsa2048 and p256", found)
	require.Len(t, found, 2, "matched %v, want exactly rsa2048 and p256", found)

	// By subject key identifier, from OpenSSL.
	if _, err := exec.LookPath("openssl"); err == nil {
		der := envOpenSSL(t, []byte("x"), "cms", "-encrypt", "-binary", "-outform", "DER", "-keyid", "-recip", rs["p384"].certPath)
		list, err := EnvelopeRecipients(der)
		require.NoError(t, err, "OpenSSL -keyid: %+v", list)
		require.Len(t, list, 1, "OpenSSL -keyid: %+v", list)
		require.True(t, list[0].Matches(rs["p384"].cert), "OpenSSL -keyid: %+v", list)
		require.NotNil(t, list[0].SubjectKeyID, "OpenSSL -keyid: %+v", list)
	}

	_, err = EnvelopeRecipients(envOpenSSLSigned(t, rs["p256"]))
	require.ErrorIs(t, err, ErrNotEnveloped, "SignedData: err = %v, want ErrNotEnveloped", err)
}

func TestIssuerNameReencoded(t *testing.T) {
	// The same Name as PrintableString and as UTF8String, different case
	// and spacing: OpenSSL's canonical comparison treats them as equal.
	printable, err := asn1.Marshal(pkix.RDNSequence{{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "Test  CA"}}})
	require.NoError(t, err)
	utf8 := bytes.Replace(append([]byte{}, printable...), []byte{0x13, 0x08}, []byte{0x0c, 0x08}, 1)
	utf8 = bytes.Replace(utf8, []byte("Test  CA"), []byte("test  ca"), 1)
	require.False(t, bytes.Equal(printable, utf8), "re-encoding failed")
	require.True(t, envNamesEqual(printable, utf8), "re-encoded Name does not compare equal")
	other, _ := asn1.Marshal(pkix.RDNSequence{{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "Other CA"}}})
	require.False(t, envNamesEqual(printable, other), "different Names compare equal")
}

// envFailingDecrypter returns a fixed error, for the faults a real key
// store produces only with a person in the loop (consent denied) or a
// vendor module's own error codes.
type envFailingDecrypter struct {
	pub crypto.PublicKey
	err error
}

func (d *envFailingDecrypter) Public() crypto.PublicKey { return d.pub }
func (d *envFailingDecrypter) Decrypt(io.Reader, []byte, crypto.DecrypterOpts) ([]byte, error) {
	return nil, d.err
}

func TestDecryptKeyErrors(t *testing.T) {
	rs := envFixture(t)
	r := rs["rsa2048"]
	der, err := Encrypt([]byte("x"), []*x509.Certificate{r.cert}, EncryptOptions{})
	require.NoError(t, err)
	for _, tc := range []struct {
		err     error
		visible error // nil: must be the bare ErrDecryptionFailed
	}{
		{fmt.Errorf("consent: %w", hsm.ErrDenied), hsm.ErrDenied},
		{fmt.Errorf("prompt: %w", hsm.ErrCancelled), hsm.ErrCancelled},
		{&hsm.PINError{Token: "t", Err: hsm.ErrPINLocked}, hsm.ErrPINLocked},
		{fmt.Errorf("slot 3: %w", hsm.ErrTokenRemoved), hsm.ErrTokenRemoved},
		{context.DeadlineExceeded, context.DeadlineExceeded},
		{rsa.ErrDecryption, nil},
		{errors.New("pkcs11: 0x40: CKR_ENCRYPTED_DATA_INVALID"), nil},
		{errors.New("pkcs11: 0x5: CKR_GENERAL_ERROR"), nil},
	} {
		_, err := Decrypt(der, r.cert, &envFailingDecrypter{pub: r.cert.PublicKey, err: tc.err})
		if tc.visible == nil {
			if assert.Error(t, err, "key error %q: got %v, want the bare ErrDecryptionFailed", tc.err, err) {
				assert.Equal(t, ErrDecryptionFailed.Error(), err.Error(), "key error %q: got %v, want the bare ErrDecryptionFailed", tc.err, err)
			}
			continue
		}
		if assert.ErrorIs(t, err, tc.visible, "key error %q: got %v, want it wrapped", tc.err, err) {
			assert.NotErrorIs(t, err, ErrDecryptionFailed, "key error %q: got %v, want it wrapped", tc.err, err)
		}
	}
}

func TestDecryptWithUKM(t *testing.T) {
	// User keying material enters the KDF as entityUInfo; OpenSSL reads it.
	rs := envFixture(t)
	r := rs["p256"]
	content := []byte("with ukm")
	der, err := Encrypt(content, []*x509.Certificate{r.cert}, EncryptOptions{ukm: []byte("user keying material")})
	require.NoError(t, err)
	got, err := Decrypt(der, r.cert, r.key)
	require.NoError(t, err, "Decrypt")
	require.Equal(t, content, got, "Decrypt")
	if _, err := exec.LookPath("openssl"); err == nil {
		got := envOpenSSL(t, der, "cms", "-decrypt", "-inform", "DER", "-binary", "-recip", r.certPath, "-inkey", r.keyPath)
		require.Equal(t, content, got, "openssl: content differs")
	}
	// A different ukm gives a different KEK: the unwrap fails.
	i := bytes.Index(der, []byte("user keying material"))
	bad := append([]byte{}, der...)
	bad[i] ^= 1
	_, err = Decrypt(bad, r.cert, r.key)
	require.ErrorIs(t, err, ErrDecryptionFailed, "tampered ukm")
}

func TestDecryptShortRSAEncryptedKey(t *testing.T) {
	// Some producers drop the leading zero octets of the RSA output; such
	// an encrypted key still decrypts.
	rs := envFixture(t)
	r := rs["rsa2048"]
	pub := r.cert.PublicKey.(*rsa.PublicKey)
	content := []byte("short key")
	cek, iv := envContent(32), envContent(16)[:16]
	ct, err := envCBCEncrypt(cek, iv, content)
	require.NoError(t, err)
	var encKey []byte
	for try := 0; try < 5000 && encKey == nil; try++ {
		//lint:ignore SA1019 testing PKCS #1 v1.5 decryption, which CMS key transport and tokens still use
		k, err := rsa.EncryptPKCS1v15(rand.Reader, pub, cek)
		require.NoError(t, err)
		if k[0] == 0 {
			encKey = k[1:]
		}
	}
	if encKey == nil {
		t.Skip("no RSA output with a leading zero octet in 5000 tries")
	}
	var b cryptobyte.Builder
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(OIDEnvelopedData)
		b.AddASN1(envTagCtx0Cons, func(b *cryptobyte.Builder) {
			b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(0)
				b.AddASN1(casn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1Int64(0)
						envAddRecipientID(b, r.cert, false, false)
						b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(OIDPublicKeyRSA)
							b.AddASN1NULL()
						})
						b.AddASN1OctetString(encKey)
					})
				})
				b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(OIDData)
					b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(envOIDAES256CBC)
						b.AddASN1OctetString(iv)
					})
					b.AddASN1(envTagCtx0Prim, func(b *cryptobyte.Builder) { b.AddBytes(ct) })
				})
			})
		})
	})
	der := b.BytesOrPanic()
	for name, key := range map[string]crypto.PrivateKey{"in-memory": r.key, "opaque": &envOpaqueDecrypter{k: r.key.(*rsa.PrivateKey)}} {
		got, err := Decrypt(der, r.cert, key)
		require.NoError(t, err, "%s key: Decrypt with a %d-octet encrypted key", name, len(encKey))
		require.Equal(t, content, got, "%s key: Decrypt with a %d-octet encrypted key", name, len(encKey))
	}
}
