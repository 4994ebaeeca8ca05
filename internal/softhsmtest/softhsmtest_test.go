package softhsmtest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

func TestMain(m *testing.M) { Main(m) }

func TestMainSetsConf(t *testing.T) {
	env := Shared()
	require.Equal(t, env.ConfPath, os.Getenv("SOFTHSM2_CONF"), "SOFTHSM2_CONF")
	conf, err := os.ReadFile(env.ConfPath)
	require.NoError(t, err)
	for _, want := range []string{"directories.tokendir = " + env.TokenDir, "objectstore.backend = file", "log.level = ERROR", "slots.removable = true"} {
		assert.Contains(t, string(conf), want, "softhsm2.conf lacks %q", want)
	}
	require.NoError(t, env.CheckTools())
}

func TestStandardToken(t *testing.T) {
	env := Shared()
	fx := StandardToken(t, env, "standard")
	require.NotEmpty(t, fx.Token.Serial, "empty serial")
	serial, ok, err := env.FindToken("standard")
	require.NoError(t, err, "FindToken")
	require.True(t, ok, "FindToken did not find the token")
	require.Equal(t, fx.Token.Serial, serial, "FindToken")
	// pkcs11-tool -L reports the same serial for the label.
	out, err := env.Command(context.Background(), "pkcs11-tool", "--module", env.Module, "-L").CombinedOutput()
	require.NoError(t, err, "pkcs11-tool -L: %s", out)
	assert.Contains(t, string(out), fx.Token.Serial, "pkcs11-tool -L does not show the serial")

	list, err := fx.Token.ListObjects()
	require.NoError(t, err)
	for _, want := range []string{
		"Private Key Object; RSA", "Private Key Object; EC\n", "Private Key Object; EC_EDWARDS",
		"Public Key Object; RSA 2048 bits", "Public Key Object; EC_EDWARDS",
		"Certificate Object; type = X.509 cert",
		"label:      rsa2048", "label:      ecdsa-p256", "label:      ed25519",
		"ID:         01", "ID:         02", "ID:         03",
	} {
		assert.Contains(t, list, want, "pkcs11-tool -O lacks %q", want)
	}
	assert.Equal(t, 3, strings.Count(list, "Certificate Object"), "certificate objects")

	wantType := map[string]string{KeyRSA: "*rsa.PublicKey", KeyECDSA: "*ecdsa.PublicKey", KeyEd25519: "ed25519.PublicKey"}
	for name, k := range fx.Keys {
		assert.Equal(t, wantType[name], typeName(k.Public), "%s: public key type", name)
		assert.NoError(t, fx.PKI.Verify(k.Certificate), "%s: certificate does not chain to root", name)
		assert.True(t, publicEqual(k.Public, k.Certificate.PublicKey), "%s: certificate is not for the token key", name)
		// The certificate on the token is the one we issued, under the key's ID.
		der, err := fx.Token.PKCS11Tool("--read-object", "--type", "cert", "--id", k.IDHex())
		require.NoError(t, err)
		assert.Equal(t, k.Certificate.Raw, der, "%s: certificate on token differs", name)
	}
	assert.Len(t, fx.Keys, 3, "keys")
}

func typeName(v any) string {
	switch v.(type) {
	case *rsa.PublicKey:
		return "*rsa.PublicKey"
	case *ecdsa.PublicKey:
		return "*ecdsa.PublicKey"
	case ed25519.PublicKey:
		return "ed25519.PublicKey"
	}
	return "other"
}

func publicEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// Signatures made on the token verify with the public key read back, so the
// key pairs are what they claim to be.
func TestTokenKeySignsWithOpenSSLCheck(t *testing.T) {
	env := Shared()
	tok, err := env.CreateToken("sign-check", DefaultUserPIN, DefaultSOPIN)
	require.NoError(t, err)
	t.Cleanup(func() { tok.Remove() })
	k, err := tok.GenerateKey(KeySpec{Label: "p384", ID: []byte{0xab, 0xcd}, Type: ECP384})
	require.NoError(t, err)
	dir := t.TempDir()
	msg := filepath.Join(dir, "msg")
	sig := filepath.Join(dir, "sig")
	// SoftHSM 2.6 has CKM_ECDSA only (no ECDSA-SHA384): sign the digest.
	h := crypto.SHA384.New()
	h.Write([]byte("hello"))
	digest := h.Sum(nil)
	os.WriteFile(msg, digest, 0o600)
	_, err = tok.PKCS11Tool("--login", "--pin", tok.UserPIN, "--sign", "--mechanism", "ECDSA",
		"--signature-format", "openssl", "--id", k.IDHex(), "-i", msg, "-o", sig)
	require.NoError(t, err)
	der, _ := os.ReadFile(sig)
	require.True(t, ecdsa.VerifyASN1(k.Public.(*ecdsa.PublicKey), digest, der), "signature from token does not verify with the public key read back")
}

func TestAlwaysAuth(t *testing.T) {
	env := Shared()
	tok, err := env.CreateToken("always-auth", DefaultUserPIN, DefaultSOPIN)
	require.NoError(t, err)
	t.Cleanup(func() { tok.Remove() })
	_, err = tok.GenerateKey(KeySpec{Label: "aa", ID: []byte{9}, Type: ECP256, AlwaysAuth: true})
	require.NoError(t, err)
	list, err := tok.ListObjects()
	require.NoError(t, err)
	require.Contains(t, list, "always authenticate", "private key lacks CKA_ALWAYS_AUTHENTICATE")
}

func TestCreateTokenTwiceRefused(t *testing.T) {
	env := Shared()
	tok, err := env.CreateToken("twice", DefaultUserPIN, DefaultSOPIN)
	require.NoError(t, err)
	t.Cleanup(func() { tok.Remove() })
	_, err = env.CreateToken("twice", DefaultUserPIN, DefaultSOPIN)
	require.Error(t, err, "second token with the same label was created")
}

func TestErrorsDoNotContainPIN(t *testing.T) {
	env := Shared()
	tok, err := env.CreateToken("pin-leak", "98765432", "87654321")
	require.NoError(t, err)
	t.Cleanup(func() { tok.Remove() })
	bad := *tok
	bad.UserPIN = "11119999"
	_, err = bad.GenerateKey(KeySpec{Label: "x", ID: []byte{1}, Type: ECP256})
	require.Error(t, err, "wrong PIN accepted")
	for _, pin := range []string{"11119999", "98765432", "87654321"} {
		require.NotContains(t, err.Error(), pin, "error contains a PIN")
	}
}

func TestRemoveRecreateUnplug(t *testing.T) {
	env := Shared()
	fx := StandardToken(t, env, "")
	tok := fx.Token
	old := tok.Serial

	require.NoError(t, tok.Unplug())
	_, ok, _ := env.FindToken(tok.Label)
	require.False(t, ok, "token still listed after Unplug")
	require.NoError(t, tok.Replug())
	s, ok, _ := env.FindToken(tok.Label)
	require.True(t, ok, "token not listed after Replug")
	require.Equal(t, old, s, "serial after Replug")
	list, err := tok.ListObjects()
	require.NoError(t, err, "keys gone after Replug")
	require.Contains(t, list, "label:      ed25519", "keys gone after Replug")

	require.NoError(t, tok.Remove())
	_, ok, _ = env.FindToken(tok.Label)
	require.False(t, ok, "token still listed after Remove")
	require.NoError(t, tok.Remove(), "second Remove")
	require.NoError(t, tok.Recreate())
	require.NotEmpty(t, tok.Serial, "recreated token serial")
	require.NotEqual(t, old, tok.Serial, "recreated token serial")
	list, err = tok.ListObjects()
	require.NoError(t, err)
	require.NotContains(t, list, "Private Key Object", "recreated token is not empty")
}

func TestDeleteObjects(t *testing.T) {
	env := Shared()
	fx := StandardToken(t, env, "")
	require.NoError(t, fx.Token.DeleteObjects([]byte{0x02}))
	list, err := fx.Token.ListObjects()
	require.NoError(t, err)
	require.NotContains(t, list, "ecdsa-p256", "objects with ID 02 remain")
	require.Contains(t, list, "label:      rsa2048", "other objects were deleted")
}

func TestIssueOptions(t *testing.T) {
	p, err := NewPKI("Options")
	require.NoError(t, err)
	sk, err := GenerateSoftwareKey(RSA2048)
	require.NoError(t, err)
	oidTIN := asn1.ObjectIdentifier{1, 2, 860, 3, 16, 1, 1}
	oidPINFL := asn1.ObjectIdentifier{1, 2, 860, 3, 16, 1, 2}
	nb := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	na := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	cert, err := p.Issue(sk.Public(), IssueOptions{
		Subject: pkix.Name{CommonName: "ALIYEV VALI", Country: []string{"UZ"},
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidTIN, Value: "123456789"}, {Type: oidPINFL, Value: "31234567890123"}}},
		NotBefore: nb, NotAfter: na, SerialNumber: big.NewInt(4242),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	require.NoError(t, err)
	assert.Equal(t, int64(4242), cert.SerialNumber.Int64(), "serial not applied")
	assert.True(t, cert.NotBefore.Equal(nb), "NotBefore not applied: %v", cert.NotBefore)
	assert.True(t, cert.NotAfter.Equal(na), "NotAfter not applied: %v", cert.NotAfter)
	want := x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageKeyEncipherment
	assert.Equal(t, want, cert.KeyUsage, "RSA key usage")
	found := map[string]string{}
	for _, n := range cert.Subject.Names {
		found[n.Type.String()] = n.Value.(string)
	}
	assert.Equal(t, "123456789", found[oidTIN.String()], "subject extra names not encoded: %v", cert.Subject.Names)
	assert.Equal(t, "31234567890123", found[oidPINFL.String()], "subject extra names not encoded: %v", cert.Subject.Names)
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, cert.ExtKeyUsage, "ext key usage")
	// Default EKU, EC key usage.
	ek, _ := GenerateSoftwareKey(ECP256)
	c2, err := p.Issue(ek.Public(), IssueOptions{})
	require.NoError(t, err)
	assert.Equal(t, x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment, c2.KeyUsage, "EC key usage")
	assert.Len(t, c2.ExtKeyUsage, 2, "default ext key usage")
	assert.NoError(t, p.Verify(cert))
	if ch := p.Chain(); assert.Len(t, ch, 2, "Chain is not intermediate, root") {
		assert.Same(t, p.Intermediate, ch[0], "Chain is not intermediate, root")
		assert.Same(t, p.Root, ch[1], "Chain is not intermediate, root")
	}
	_, err = cert.Verify(x509.VerifyOptions{Roots: p.Roots(), Intermediates: p.Intermediates(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.NoError(t, err)
}

func TestPFX(t *testing.T) {
	_, err := exec.LookPath("openssl")
	require.NoError(t, err, "openssl not installed")
	dir := t.TempDir()
	keys := map[string]*SoftwareKey{}
	for _, typ := range []string{RSA2048, ECP256, Ed25519} {
		k, err := NewSoftwareKey(typ)
		require.NoError(t, err)
		keys[typ] = k
	}
	for _, enc := range []PFXEncoding{Modern, Legacy, LegacyDES} {
		for typ, k := range keys {
			for _, pw := range []string{"secret", "", "пароль-ğş"} {
				name := enc.String() + "-" + strings.NewReplacer(":", "_").Replace(typ) + "-" + pw
				t.Run(name, func(t *testing.T) {
					path := filepath.Join(dir, strings.ReplaceAll(name, "/", "_")+".pfx")
					require.NoError(t, k.WritePFX(path, pw, enc))
					data, err := os.ReadFile(path)
					require.NoError(t, err)
					priv, cert, chain, err := pkcs12.DecodeChain(data, pw)
					require.NoError(t, err, "DecodeChain")
					require.True(t, cert.Equal(k.Certificate), "certificate differs")
					require.Len(t, chain, 2, "chain")
					require.True(t, chain[1].Equal(k.Chain[1]), "chain differs")
					require.True(t, publicEqual(priv.(crypto.Signer).Public(), k.Key.Public()), "private key differs")
					_, _, _, err = pkcs12.DecodeChain(data, pw+"x")
					require.Error(t, err, "wrong password accepted")
					args := []string{"pkcs12", "-info", "-noout", "-in", path, "-passin", "pass:" + pw}
					if enc == Legacy {
						args = append(args, "-legacy")
					}
					out, err := exec.Command("openssl", args...).CombinedOutput()
					require.NoError(t, err, "openssl %s\n%s", strings.Join(args, " "), out)
					// openssl extracts the same certificate.
					args = []string{"pkcs12", "-in", path, "-passin", "pass:" + pw, "-nokeys", "-clcerts"}
					if enc == Legacy {
						args = append(args, "-legacy")
					}
					out, err = exec.Command("openssl", args...).Output()
					require.NoError(t, err, "openssl extract")
					b, _ := pem.Decode(out[bytes.Index(out, []byte("-----BEGIN")):])
					require.NotNil(t, b, "openssl extracted no certificate")
					require.Equal(t, k.Certificate.Raw, b.Bytes, "openssl extracted a different certificate")
				})
			}
		}
	}
}

// OpenSSL 3 refuses the RC2 legacy file without -legacy: the file really is
// legacy-encoded.
func TestPFXLegacyNeedsLegacyProvider(t *testing.T) {
	k, err := NewSoftwareKey(ECP256)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "l.pfx")
	require.NoError(t, k.WritePFX(path, "pw", Legacy))
	v, _ := exec.Command("openssl", "version").Output()
	if !bytes.HasPrefix(v, []byte("OpenSSL 3")) {
		t.Skipf("not OpenSSL 3: %s", v)
	}
	require.Error(t, exec.Command("openssl", "pkcs12", "-info", "-noout", "-in", path, "-passin", "pass:pw").Run(), "OpenSSL 3 read an RC2 file without -legacy")
}

func TestParseShowSlots(t *testing.T) {
	out := `Available slots:
Slot 1435930883
    Slot info:
        Description:      SoftHSM slot ID 0x55969103
    Token info:
        Serial number:    1ed8801555969103
        Initialized:      yes
        Label:            my token                        
Slot 1
    Slot info:
        Description:      SoftHSM slot ID 0x1
    Token info:
        Serial number:                    
        Initialized:      no
        Label:                                            
`
	got := parseShowSlots([]byte(out))
	require.Len(t, got, 1, "parseShowSlots = %+v", got)
	require.Equal(t, "my token", got[0].Label, "parseShowSlots")
	require.Equal(t, "1ed8801555969103", got[0].Serial, "parseShowSlots")
}

func TestParsePublicKey(t *testing.T) {
	sk, _ := GenerateSoftwareKey(Ed25519)
	pub := sk.Public().(ed25519.PublicKey)
	spki, _ := x509.MarshalPKIXPublicKey(pub)
	pemData := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	octet, _ := asn1.Marshal([]byte(pub))
	for name, in := range map[string][]byte{"der": spki, "pem": pemData, "raw": pub, "ec-point": octet} {
		got, err := ParsePublicKey(in)
		assert.NoError(t, err, "%s", name)
		assert.True(t, publicEqual(got, pub), "%s: a different key", name)
	}
	for _, bad := range [][]byte{nil, []byte("junk"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: spki})} {
		_, err := ParsePublicKey(bad)
		assert.Error(t, err, "accepted %q", bad)
	}
}

func FuzzParsePublicKey(f *testing.F) {
	for _, typ := range []string{RSA2048, ECP256, Ed25519} {
		k, _ := GenerateSoftwareKey(typ)
		der, _ := x509.MarshalPKIXPublicKey(k.Public())
		f.Add(der)
		f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	f.Add([]byte{0x04, 0x20})
	f.Fuzz(func(t *testing.T, data []byte) {
		pub, err := ParsePublicKey(data)
		if err == nil {
			require.NotNil(t, pub, "nil key without error")
		}
	})
}

func FuzzParseShowSlots(f *testing.F) {
	f.Add([]byte("Slot 1\n    Token info:\n        Serial number: 1\n        Label: x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tok := range parseShowSlots(data) {
			require.NotEmpty(t, tok.Serial, "token without serial")
		}
	})
}

func FuzzECPublicFromListing(f *testing.F) {
	f.Add("Public Key Object; EC  EC_POINT 256 bits\n  EC_POINT:   044104a139a31dd575acec0cb643e32665049bee4b4be91068d0408b73847eca2f3684dbf113fe0773a717f27a970a105a7ddd481d737aa0c2651737ae88bd3749f7bb\n  EC_PARAMS:  06082a8648ce3d030107\n  label:      ecdsa-p256\n  ID:         02\n", []byte{2})
	f.Fuzz(func(t *testing.T, list string, id []byte) {
		pub, err := ecPublicFromListing(list, id)
		if err == nil {
			require.NotNil(t, pub, "nil key without error")
		}
	})
}

func TestECPublicFromListing(t *testing.T) {
	list := "Public Key Object; EC  EC_POINT 256 bits\n  EC_POINT:   044104a139a31dd575acec0cb643e32665049bee4b4be91068d0408b73847eca2f3684dbf113fe0773a717f27a970a105a7ddd481d737aa0c2651737ae88bd3749f7bb\n  EC_PARAMS:  06082a8648ce3d030107\n  label:      ecdsa-p256\n  ID:         02\n"
	pub, err := ecPublicFromListing(list, []byte{2})
	require.NoError(t, err)
	require.IsType(t, &ecdsa.PublicKey{}, pub)
	_, err = ecPublicFromListing(list, []byte{3})
	require.Error(t, err, "found a key with the wrong ID")
}

// Tests in one binary create tokens in parallel.
func TestParallelFixtures(t *testing.T) {
	env := Shared()
	for i := 0; i < 4; i++ {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			fx := StandardToken(t, env, "")
			list, err := fx.Token.ListObjects()
			require.NoError(t, err)
			require.Equal(t, 3, strings.Count(list, "Private Key Object"), "private keys on %s", fx.Token.Label)
		})
	}
}
