package cms

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-agent/signet/sdk/cms/cmstest"
	"github.com/signet-agent/signet/sdk/gost"
	"github.com/signet-agent/signet/sdk/gost/gosttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gostCases are one key per GOST algorithm the registry signs with.
var gostCases = []struct {
	name string
	t    gost.KeyType
	c    *gost.Curve
	// digest is the digest OID written for this algorithm.
	digest string
}{
	{"GOST2012-256-TCA", gost.KeyGOST2012_256, gost.CurveTC26_256A, "1.2.643.7.1.1.2.2"},
	{"GOST2012-256-CryptoProA", gost.KeyGOST2012_256, gost.CurveCryptoProA, "1.2.643.7.1.1.2.2"},
	{"GOST2012-512-A", gost.KeyGOST2012_512, gost.CurveTC26_512A, "1.2.643.7.1.1.2.3"},
	{"GOST2012-512-C", gost.KeyGOST2012_512, gost.CurveTC26_512C, "1.2.643.7.1.1.2.3"},
	{"GOST2001-A", gost.KeyGOST2001, gost.CurveCryptoProA, "1.2.643.2.2.9"},
	{"OzDSt1092-A", gost.KeyOzDSt1092, gost.CurveCryptoProA, "1.2.860.3.15.1.3.2.1.1"},
}

// gostPKI is a GOST CA of the key's type and a leaf it issued.
type gostPKI struct {
	caKey, key *gost.PrivateKey
	ca, leaf   *x509.Certificate
}

func newGostPKI(t testing.TB, typ gost.KeyType, c *gost.Curve) *gostPKI {
	t.Helper()
	caKey, err := gost.GenerateKeyOf(typ, c, rand.Reader)
	require.NoError(t, err)
	ca, err := gosttest.Certificate(gosttest.Template{CommonName: "GOST Test CA", IsCA: true}, &caKey.PublicKey, caKey, nil)
	require.NoError(t, err)
	key, err := gost.GenerateKeyOf(typ, c, rand.Reader)
	require.NoError(t, err)
	leaf, err := gosttest.Certificate(gosttest.Template{CommonName: "GOST Test Signer"}, &key.PublicKey, caKey, ca)
	require.NoError(t, err)
	return &gostPKI{caKey: caKey, key: key, ca: ca, leaf: leaf}
}

func (p *gostPKI) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return pool
}

// TestGOSTSignVerify: every GOST algorithm signs attached and detached
// CMS with its own digest (NULL parameters), and verifies with its
// chain to a GOST root; altered content and an altered signature fail
// with the specific reason.
func TestGOSTSignVerify(t *testing.T) {
	content := []byte("GOST signed document")
	for _, gc := range gostCases {
		t.Run(gc.name, func(t *testing.T) {
			p := newGostPKI(t, gc.t, gc.c)
			for _, detached := range []bool{false, true} {
				sig, err := Sign(content, p.key, p.leaf, &SignOptions{Detached: detached, Chain: []*x509.Certificate{p.ca}})
				require.NoError(t, err)
				var dc *bytes.Reader
				if detached {
					dc = bytes.NewReader(content)
				}
				rep, err := Verify(sig, readerOrNil(dc), &VerifyOptions{Roots: p.roots()})
				require.NoError(t, err, "detached=%v", detached)
				s := rep.Signers[0]
				assert.True(t, s.SignatureOK)
				assert.Equal(t, ChainValid, s.ChainStatus)
				assert.Equal(t, "CN=GOST Test Signer", s.Subject)
				sd, err := ParseSignedData(sig)
				require.NoError(t, err)
				assert.Equal(t, gc.digest, sd.Signers[0].DigestAlgorithm.Algorithm.String())
				assert.Equal(t, []byte{5, 0}, sd.Signers[0].DigestAlgorithm.Parameters.FullBytes, "digest parameters are not NULL")

				if detached {
					_, err = Verify(sig, bytes.NewReader([]byte("GOST signed documenT")), nil)
					assert.ErrorIs(t, err, ErrContentDigestMismatch)
				}
				bad := bytes.Clone(sig)
				bad[len(bad)-5] ^= 0x01 // inside the signature value, the last field
				_, err = Verify(bad, readerOrNil(dc), nil)
				assert.ErrorIs(t, err, ErrSignatureInvalid, "altered signature")
			}
		})
	}
}

func readerOrNil(r *bytes.Reader) interface{ Read([]byte) (int, error) } {
	if r == nil {
		return nil
	}
	return r
}

// TestGOSTChainRefused: a GOST leaf is untrusted under another GOST root,
// and a leaf whose issuer signature is forged (issued by a key that is
// not the CA's) does not chain.
func TestGOSTChainRefused(t *testing.T) {
	p := newGostPKI(t, gost.KeyGOST2012_256, gost.CurveTC26_256A)
	other := newGostPKI(t, gost.KeyGOST2012_256, gost.CurveTC26_256A)
	content := []byte("x")
	sig, err := Sign(content, p.key, p.leaf, &SignOptions{Chain: []*x509.Certificate{p.ca}})
	require.NoError(t, err)
	rep, err := Verify(sig, nil, &VerifyOptions{Roots: other.roots()})
	require.Error(t, err)
	assert.NotEqual(t, ChainValid, rep.Signers[0].ChainStatus)

	// A leaf "issued" by p.ca's name but signed with other.caKey.
	forged, err := gosttest.Certificate(gosttest.Template{CommonName: "GOST Test Signer"}, &p.key.PublicKey, other.caKey, p.ca)
	require.NoError(t, err)
	sig, err = Sign(content, p.key, forged, &SignOptions{Chain: []*x509.Certificate{p.ca}})
	require.NoError(t, err)
	rep, err = Verify(sig, nil, &VerifyOptions{Roots: p.roots()})
	require.Error(t, err)
	assert.True(t, rep.Signers[0].SignatureOK, "the CMS signature itself is fine")
	assert.NotEqual(t, ChainValid, rep.Signers[0].ChainStatus)
}

// TestGOSTTimestamp: a GOST signature gets a CAdES-T timestamp and the
// report shows it valid.
func TestGOSTTimestamp(t *testing.T) {
	tsa := cmstest.NewTSA(t, testPKI(t))
	client := &TSAClient{URL: tsa.URL}
	p := newGostPKI(t, gost.KeyGOST2012_512, gost.CurveTC26_512C)
	sig, err := Sign([]byte("doc"), p.key, p.leaf, &SignOptions{Chain: []*x509.Certificate{p.ca}})
	require.NoError(t, err)
	ts, err := client.Timestamp(context.Background(), sig, 0)
	require.NoError(t, err)
	opts := &VerifyOptions{Roots: p.roots(), TSARoots: testPKI(t).Roots(), Intermediates: testPKI(t).Intermediates()}
	rep, err := Verify(ts, nil, opts)
	require.NoError(t, err)
	s := rep.Signers[0]
	require.NotNil(t, s.Timestamp)
	assert.True(t, s.Timestamp.Valid(), "%+v", s.Timestamp)
	assert.True(t, s.ValidationTime.Equal(s.Timestamp.Time))
}

// engineCMSSets are the gost engine's 2012 key options with the curve
// they must land on.
var engineCMSSets = []struct{ alg, paramset, md string }{
	{"gost2012_256", "TCA", "md_gost12_256"},
	{"gost2012_256", "A", "md_gost12_256"},
	{"gost2012_512", "A", "md_gost12_512"},
	{"gost2012_512", "C", "md_gost12_512"},
}

// TestGOSTOpenSSLInterop: with keys and self-signed certificates made by
// OpenSSL's gost engine, the engine's `cms -sign` output (attached and
// detached) verifies here, and our signatures with the engine's key
// verify in `openssl cms -verify`.
func TestGOSTOpenSSLInterop(t *testing.T) {
	needGostEngine(t)
	content := []byte("GOST interop document\n")
	for _, set := range engineCMSSets {
		t.Run(set.alg+"-"+set.paramset, func(t *testing.T) {
			dir := t.TempDir()
			keyFile, certFile := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem")
			out, err := openssl(t, "req", "-engine", "gost", "-x509", "-newkey", set.alg, "-pkeyopt", "paramset:"+set.paramset,
				"-nodes", "-keyout", keyFile, "-out", certFile, "-subj", "/CN=OpenSSL GOST "+set.paramset, "-days", "2", "-"+set.md)
			require.NoError(t, err, "%s", out)
			key := readGostKey(t, keyFile)
			cert := readCert(t, certFile)
			roots := x509.NewCertPool()
			roots.AddCert(cert)
			msg := writeFile(t, dir, "msg", content)

			for _, detached := range []bool{false, true} {
				// openssl signs, we verify.
				sigFile := filepath.Join(dir, "s.p7s")
				args := []string{"cms", "-engine", "gost", "-sign", "-binary", "-signer", certFile, "-inkey", keyFile, "-in", msg, "-outform", "DER", "-out", sigFile}
				if !detached {
					args = append(args, "-nodetach")
				}
				out, err := openssl(t, args...)
				require.NoError(t, err, "%s", out)
				theirs, err := os.ReadFile(sigFile)
				require.NoError(t, err)
				var dc *bytes.Reader
				var dcBytes []byte
				if detached {
					dc, dcBytes = bytes.NewReader(content), content
				}
				rep, err := Verify(theirs, readerOrNil(dc), &VerifyOptions{Roots: roots})
				require.NoError(t, err, "openssl's signature, detached=%v", detached)
				assert.Equal(t, ChainValid, rep.Signers[0].ChainStatus)

				// we sign, openssl verifies.
				ours, err := Sign(content, key, cert, &SignOptions{Detached: detached})
				require.NoError(t, err)
				require.NoError(t, opensslVerifyRoot(t, cert.Raw, ours, dcBytes, "-engine", "gost"), "detached=%v", detached)
			}
		})
	}
}

func needGostEngine(t testing.TB) {
	t.Helper()
	needOpenSSL(t)
	out, err := openssl(t, "engine", "gost")
	require.NoError(t, err, "OpenSSL's GOST engine is required for the GOST CMS cross-checks (libengine-gost-openssl): %s", out)
}

func readGostKey(t testing.TB, file string) *gost.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	block, _ := pem.Decode(b)
	require.NotNil(t, block, "no PEM in %s", file)
	k, err := gost.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	return k
}

func readCert(t testing.TB, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	block, _ := pem.Decode(b)
	require.NotNil(t, block, "no PEM in %s", file)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c
}

// TestGOSTChainStatus: a GOST path with an expired signer certificate is
// "expired", one through an issuer that is not a CA is "invalid", and
// one whose root is not trusted is "untrusted".
func TestGOSTChainStatus(t *testing.T) {
	p := newGostPKI(t, gost.KeyGOST2012_256, gost.CurveCryptoProA)
	content := []byte("x")
	verify := func(leaf *x509.Certificate, key *gost.PrivateKey, chain []*x509.Certificate, roots *x509.CertPool) *SignerReport {
		sig, err := Sign(content, key, leaf, &SignOptions{Chain: chain})
		require.NoError(t, err)
		rep, err := Verify(sig, nil, &VerifyOptions{Roots: roots})
		require.Error(t, err)
		require.True(t, rep.Signers[0].SignatureOK)
		return rep.Signers[0]
	}
	expired, err := gosttest.Certificate(gosttest.Template{CommonName: "Expired", NotBefore: time.Now().AddDate(-2, 0, 0), NotAfter: time.Now().AddDate(-1, 0, 0)}, &p.key.PublicKey, p.caKey, p.ca)
	require.NoError(t, err)
	s := verify(expired, p.key, []*x509.Certificate{p.ca}, p.roots())
	assert.Equal(t, ChainExpired, s.ChainStatus)
	assert.ErrorIs(t, s.Err(), ErrCertificateExpired)

	// p.leaf (not a CA) "issues" a certificate.
	subKey, err := gost.GenerateKeyOf(gost.KeyGOST2012_256, gost.CurveCryptoProA, rand.Reader)
	require.NoError(t, err)
	sub, err := gosttest.Certificate(gosttest.Template{CommonName: "Under a leaf"}, &subKey.PublicKey, p.key, p.leaf)
	require.NoError(t, err)
	s = verify(sub, subKey, []*x509.Certificate{p.leaf, p.ca}, p.roots())
	assert.Equal(t, ChainInvalid, s.ChainStatus)
	assert.ErrorContains(t, s.Err(), "cannot sign", "x509 refuses a non-CA parent before the signature check")

	other := newGostPKI(t, gost.KeyGOST2012_256, gost.CurveCryptoProA)
	s = verify(p.leaf, p.key, []*x509.Certificate{p.ca}, other.roots())
	assert.Equal(t, ChainUntrusted, s.ChainStatus)
	assert.ErrorIs(t, s.Err(), ErrChainUntrusted)
}
