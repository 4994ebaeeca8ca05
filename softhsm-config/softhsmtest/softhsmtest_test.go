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

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

func TestMain(m *testing.M) { Main(m) }

func TestMainSetsConf(t *testing.T) {
	env := Shared()
	if got := os.Getenv("SOFTHSM2_CONF"); got != env.ConfPath {
		t.Fatalf("SOFTHSM2_CONF = %q, want %q", got, env.ConfPath)
	}
	conf, err := os.ReadFile(env.ConfPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"directories.tokendir = " + env.TokenDir, "objectstore.backend = file", "log.level = ERROR", "slots.removable = true"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("softhsm2.conf lacks %q:\n%s", want, conf)
		}
	}
	if err := env.CheckTools(); err != nil {
		t.Fatal(err)
	}
}

func TestStandardToken(t *testing.T) {
	env := Shared()
	fx := StandardToken(t, env, "standard")
	if fx.Token.Serial == "" {
		t.Fatal("empty serial")
	}
	serial, ok, err := env.FindToken("standard")
	if err != nil || !ok || serial != fx.Token.Serial {
		t.Fatalf("FindToken = %q, %v, %v; want %q", serial, ok, err, fx.Token.Serial)
	}
	// pkcs11-tool -L reports the same serial for the label.
	out, err := env.Command(context.Background(), "pkcs11-tool", "--module", env.Module, "-L").CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool -L: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), fx.Token.Serial) {
		t.Errorf("pkcs11-tool -L does not show serial %s:\n%s", fx.Token.Serial, out)
	}

	list, err := fx.Token.ListObjects()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Private Key Object; RSA", "Private Key Object; EC\n", "Private Key Object; EC_EDWARDS",
		"Public Key Object; RSA 2048 bits", "Public Key Object; EC_EDWARDS",
		"Certificate Object; type = X.509 cert",
		"label:      rsa2048", "label:      ecdsa-p256", "label:      ed25519",
		"ID:         01", "ID:         02", "ID:         03",
	} {
		if !strings.Contains(list, want) {
			t.Errorf("pkcs11-tool -O lacks %q", want)
		}
	}
	if n := strings.Count(list, "Certificate Object"); n != 3 {
		t.Errorf("%d certificate objects, want 3", n)
	}

	wantType := map[string]string{KeyRSA: "*rsa.PublicKey", KeyECDSA: "*ecdsa.PublicKey", KeyEd25519: "ed25519.PublicKey"}
	for name, k := range fx.Keys {
		if got := typeName(k.Public); got != wantType[name] {
			t.Errorf("%s: public key %s, want %s", name, got, wantType[name])
		}
		if err := fx.PKI.Verify(k.Certificate); err != nil {
			t.Errorf("%s: certificate does not chain to root: %v", name, err)
		}
		if !publicEqual(k.Public, k.Certificate.PublicKey) {
			t.Errorf("%s: certificate is not for the token key", name)
		}
		// The certificate on the token is the one we issued, under the key's ID.
		der, err := fx.Token.PKCS11Tool("--read-object", "--type", "cert", "--id", k.IDHex())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(der, k.Certificate.Raw) {
			t.Errorf("%s: certificate on token differs", name)
		}
	}
	if len(fx.Keys) != 3 {
		t.Errorf("%d keys, want 3", len(fx.Keys))
	}
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
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Remove() })
	k, err := tok.GenerateKey(KeySpec{Label: "p384", ID: []byte{0xab, 0xcd}, Type: ECP384})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	msg := filepath.Join(dir, "msg")
	sig := filepath.Join(dir, "sig")
	// SoftHSM 2.6 has CKM_ECDSA only (no ECDSA-SHA384): sign the digest.
	h := crypto.SHA384.New()
	h.Write([]byte("hello"))
	digest := h.Sum(nil)
	os.WriteFile(msg, digest, 0o600)
	if _, err := tok.PKCS11Tool("--login", "--pin", tok.UserPIN, "--sign", "--mechanism", "ECDSA",
		"--signature-format", "openssl", "--id", k.IDHex(), "-i", msg, "-o", sig); err != nil {
		t.Fatal(err)
	}
	der, _ := os.ReadFile(sig)
	if !ecdsa.VerifyASN1(k.Public.(*ecdsa.PublicKey), digest, der) {
		t.Fatal("signature from token does not verify with the public key read back")
	}
}

func TestAlwaysAuth(t *testing.T) {
	env := Shared()
	tok, err := env.CreateToken("always-auth", DefaultUserPIN, DefaultSOPIN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Remove() })
	if _, err := tok.GenerateKey(KeySpec{Label: "aa", ID: []byte{9}, Type: ECP256, AlwaysAuth: true}); err != nil {
		t.Fatal(err)
	}
	list, err := tok.ListObjects()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list, "always authenticate") {
		t.Fatalf("private key lacks CKA_ALWAYS_AUTHENTICATE:\n%s", list)
	}
}

func TestCreateTokenTwiceRefused(t *testing.T) {
	env := Shared()
	tok, err := env.CreateToken("twice", DefaultUserPIN, DefaultSOPIN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Remove() })
	if _, err := env.CreateToken("twice", DefaultUserPIN, DefaultSOPIN); err == nil {
		t.Fatal("second token with the same label was created")
	}
}

func TestErrorsDoNotContainPIN(t *testing.T) {
	env := Shared()
	tok, err := env.CreateToken("pin-leak", "98765432", "87654321")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Remove() })
	bad := *tok
	bad.UserPIN = "11119999"
	_, err = bad.GenerateKey(KeySpec{Label: "x", ID: []byte{1}, Type: ECP256})
	if err == nil {
		t.Fatal("wrong PIN accepted")
	}
	for _, pin := range []string{"11119999", "98765432", "87654321"} {
		if strings.Contains(err.Error(), pin) {
			t.Fatalf("error contains a PIN: %v", err)
		}
	}
}

func TestRemoveRecreateUnplug(t *testing.T) {
	env := Shared()
	fx := StandardToken(t, env, "")
	tok := fx.Token
	old := tok.Serial

	if err := tok.Unplug(); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := env.FindToken(tok.Label); ok {
		t.Fatal("token still listed after Unplug")
	}
	if err := tok.Replug(); err != nil {
		t.Fatal(err)
	}
	if s, ok, _ := env.FindToken(tok.Label); !ok || s != old {
		t.Fatalf("after Replug: serial %q listed=%v, want %q", s, ok, old)
	}
	if list, err := tok.ListObjects(); err != nil || !strings.Contains(list, "label:      ed25519") {
		t.Fatalf("keys gone after Replug: %v", err)
	}

	if err := tok.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := env.FindToken(tok.Label); ok {
		t.Fatal("token still listed after Remove")
	}
	if err := tok.Remove(); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if err := tok.Recreate(); err != nil {
		t.Fatal(err)
	}
	if tok.Serial == "" || tok.Serial == old {
		t.Fatalf("recreated token serial %q (old %q)", tok.Serial, old)
	}
	list, err := tok.ListObjects()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(list, "Private Key Object") {
		t.Fatalf("recreated token is not empty:\n%s", list)
	}
}

func TestDeleteObjects(t *testing.T) {
	env := Shared()
	fx := StandardToken(t, env, "")
	if err := fx.Token.DeleteObjects([]byte{0x02}); err != nil {
		t.Fatal(err)
	}
	list, err := fx.Token.ListObjects()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(list, "ecdsa-p256") {
		t.Fatalf("objects with ID 02 remain:\n%s", list)
	}
	if !strings.Contains(list, "label:      rsa2048") {
		t.Fatalf("other objects were deleted:\n%s", list)
	}
}

func TestIssueOptions(t *testing.T) {
	p, err := NewPKI("Options")
	if err != nil {
		t.Fatal(err)
	}
	sk, err := GenerateSoftwareKey(RSA2048)
	if err != nil {
		t.Fatal(err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	if cert.SerialNumber.Int64() != 4242 || !cert.NotBefore.Equal(nb) || !cert.NotAfter.Equal(na) {
		t.Errorf("serial/validity not applied: %v %v %v", cert.SerialNumber, cert.NotBefore, cert.NotAfter)
	}
	want := x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment | x509.KeyUsageKeyEncipherment
	if cert.KeyUsage != want {
		t.Errorf("RSA key usage %v, want %v", cert.KeyUsage, want)
	}
	found := map[string]string{}
	for _, n := range cert.Subject.Names {
		found[n.Type.String()] = n.Value.(string)
	}
	if found[oidTIN.String()] != "123456789" || found[oidPINFL.String()] != "31234567890123" {
		t.Errorf("subject extra names not encoded: %v", cert.Subject.Names)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("ext key usage %v", cert.ExtKeyUsage)
	}
	// Default EKU, EC key usage.
	ek, _ := GenerateSoftwareKey(ECP256)
	c2, err := p.Issue(ek.Public(), IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c2.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment {
		t.Errorf("EC key usage %v", c2.KeyUsage)
	}
	if len(c2.ExtKeyUsage) != 2 {
		t.Errorf("default ext key usage %v", c2.ExtKeyUsage)
	}
	if err := p.Verify(cert); err != nil {
		t.Error(err)
	}
	if ch := p.Chain(); len(ch) != 2 || ch[0] != p.Intermediate || ch[1] != p.Root {
		t.Error("Chain is not intermediate, root")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: p.Roots(), Intermediates: p.Intermediates(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Error(err)
	}
}

func TestPFX(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl not installed")
	}
	dir := t.TempDir()
	keys := map[string]*SoftwareKey{}
	for _, typ := range []string{RSA2048, ECP256, Ed25519} {
		k, err := NewSoftwareKey(typ)
		if err != nil {
			t.Fatal(err)
		}
		keys[typ] = k
	}
	for _, enc := range []PFXEncoding{Modern, Legacy, LegacyDES} {
		for typ, k := range keys {
			for _, pw := range []string{"secret", "", "пароль-ğş"} {
				name := enc.String() + "-" + strings.NewReplacer(":", "_").Replace(typ) + "-" + pw
				t.Run(name, func(t *testing.T) {
					path := filepath.Join(dir, strings.ReplaceAll(name, "/", "_")+".pfx")
					if err := k.WritePFX(path, pw, enc); err != nil {
						t.Fatal(err)
					}
					data, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					priv, cert, chain, err := pkcs12.DecodeChain(data, pw)
					if err != nil {
						t.Fatalf("DecodeChain: %v", err)
					}
					if !cert.Equal(k.Certificate) || len(chain) != 2 || !chain[1].Equal(k.Chain[1]) {
						t.Fatalf("certificate or chain differ")
					}
					if !publicEqual(priv.(crypto.Signer).Public(), k.Key.Public()) {
						t.Fatalf("private key differs")
					}
					if _, _, _, err := pkcs12.DecodeChain(data, pw+"x"); err == nil {
						t.Fatal("wrong password accepted")
					}
					args := []string{"pkcs12", "-info", "-noout", "-in", path, "-passin", "pass:" + pw}
					if enc == Legacy {
						args = append(args, "-legacy")
					}
					if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
						t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
					}
					// openssl extracts the same certificate.
					args = []string{"pkcs12", "-in", path, "-passin", "pass:" + pw, "-nokeys", "-clcerts"}
					if enc == Legacy {
						args = append(args, "-legacy")
					}
					out, err := exec.Command("openssl", args...).Output()
					if err != nil {
						t.Fatalf("openssl extract: %v", err)
					}
					b, _ := pem.Decode(out[bytes.Index(out, []byte("-----BEGIN")):])
					if b == nil || !bytes.Equal(b.Bytes, k.Certificate.Raw) {
						t.Fatal("openssl extracted a different certificate")
					}
				})
			}
		}
	}
}

// OpenSSL 3 refuses the RC2 legacy file without -legacy: the file really is
// legacy-encoded.
func TestPFXLegacyNeedsLegacyProvider(t *testing.T) {
	k, err := NewSoftwareKey(ECP256)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "l.pfx")
	if err := k.WritePFX(path, "pw", Legacy); err != nil {
		t.Fatal(err)
	}
	v, _ := exec.Command("openssl", "version").Output()
	if !bytes.HasPrefix(v, []byte("OpenSSL 3")) {
		t.Skipf("not OpenSSL 3: %s", v)
	}
	if err := exec.Command("openssl", "pkcs12", "-info", "-noout", "-in", path, "-passin", "pass:pw").Run(); err == nil {
		t.Fatal("OpenSSL 3 read an RC2 file without -legacy")
	}
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
	if len(got) != 1 || got[0].Label != "my token" || got[0].Serial != "1ed8801555969103" {
		t.Fatalf("parseShowSlots = %+v", got)
	}
}

func TestParsePublicKey(t *testing.T) {
	sk, _ := GenerateSoftwareKey(Ed25519)
	pub := sk.Public().(ed25519.PublicKey)
	spki, _ := x509.MarshalPKIXPublicKey(pub)
	pemData := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	octet, _ := asn1.Marshal([]byte(pub))
	for name, in := range map[string][]byte{"der": spki, "pem": pemData, "raw": pub, "ec-point": octet} {
		got, err := ParsePublicKey(in)
		if err != nil || !publicEqual(got, pub) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, bad := range [][]byte{nil, []byte("junk"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: spki})} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
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
		if err == nil && pub == nil {
			t.Fatal("nil key without error")
		}
	})
}

func FuzzParseShowSlots(f *testing.F) {
	f.Add([]byte("Slot 1\n    Token info:\n        Serial number: 1\n        Label: x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tok := range parseShowSlots(data) {
			if tok.Serial == "" {
				t.Fatal("token without serial")
			}
		}
	})
}

func FuzzECPublicFromListing(f *testing.F) {
	f.Add("Public Key Object; EC  EC_POINT 256 bits\n  EC_POINT:   044104a139a31dd575acec0cb643e32665049bee4b4be91068d0408b73847eca2f3684dbf113fe0773a717f27a970a105a7ddd481d737aa0c2651737ae88bd3749f7bb\n  EC_PARAMS:  06082a8648ce3d030107\n  label:      ecdsa-p256\n  ID:         02\n", []byte{2})
	f.Fuzz(func(t *testing.T, list string, id []byte) {
		pub, err := ecPublicFromListing(list, id)
		if err == nil && pub == nil {
			t.Fatal("nil key without error")
		}
	})
}

func TestECPublicFromListing(t *testing.T) {
	list := "Public Key Object; EC  EC_POINT 256 bits\n  EC_POINT:   044104a139a31dd575acec0cb643e32665049bee4b4be91068d0408b73847eca2f3684dbf113fe0773a717f27a970a105a7ddd481d737aa0c2651737ae88bd3749f7bb\n  EC_PARAMS:  06082a8648ce3d030107\n  label:      ecdsa-p256\n  ID:         02\n"
	pub, err := ecPublicFromListing(list, []byte{2})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pub.(*ecdsa.PublicKey); !ok {
		t.Fatalf("%T", pub)
	}
	if _, err := ecPublicFromListing(list, []byte{3}); err == nil {
		t.Fatal("found a key with the wrong ID")
	}
}

// Tests in one binary create tokens in parallel.
func TestParallelFixtures(t *testing.T) {
	env := Shared()
	for i := 0; i < 4; i++ {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			fx := StandardToken(t, env, "")
			list, err := fx.Token.ListObjects()
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(list, "Private Key Object"); n != 3 {
				t.Fatalf("%d private keys on %s, want 3", n, fx.Token.Label)
			}
		})
	}
}
