package pkcs11

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/softhsm-config/softhsmtest"
)

func goodPrompt() *prompt { return newPrompt(pinAnswer(softhsmtest.DefaultUserPIN)) }

func TestTokensAndKeys(t *testing.T) {
	p := goodPrompt()
	b, _ := openTest(t, Config{PINPrompt: p.fn}, false)
	ctx := context.Background()
	toks, err := b.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]hsm.TokenInfo{}
	for _, tk := range toks {
		labels[tk.Label] = tk
	}
	for _, want := range []string{"alpha", "beta", "always", "pin", "gen"} {
		tk, ok := labels[want]
		if !ok {
			t.Fatalf("token %q not listed (have %v)", want, toks)
		}
		if !tk.Flags.LoginRequired || tk.Backend != "pkcs11" || tk.Serial == "" || !strings.HasPrefix(tk.URI, "pkcs11:token="+want+";") {
			t.Errorf("token %q: %+v", want, tk)
		}
		if !b.Handles(tk.URI) {
			t.Errorf("Handles(%s) = false", tk.URI)
		}
	}
	if b.Handles("pkcs11:token=nosuchtoken") || b.Handles("file:///x.pfx") ||
		b.Handles("pkcs11:token=alpha?module-path=/usr/lib/opensc-pkcs11.so") {
		t.Error("Handles claims foreign URIs")
	}
	if !b.Handles("pkcs11:token=alpha?module-path=" + softhsmtest.Shared().Module) {
		t.Error("Handles refuses a URI naming its module")
	}

	// Listing before login (Ed25519 key present), then after login: same keys, same URIs.
	before := keysOf(t, b, "alpha")
	if _, err := b.Sign(ctx, before["rsa2048"].URI, sha(t, "x"), crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	after := keysOf(t, b, "alpha")
	for _, name := range []string{softhsmtest.KeyRSA, softhsmtest.KeyECDSA, softhsmtest.KeyEd25519} {
		k1, k2 := before[name], after[name]
		if k1.URI == "" || k1.URI != k2.URI {
			t.Errorf("%s: URI before login %q, after %q", name, k1.URI, k2.URI)
		}
		if !k2.HasPrivateKey || !k2.CanSign || k2.Certificate == nil || k2.PublicKey == nil {
			t.Errorf("%s: %+v", name, k2)
		}
		want := fx.alpha.Keys[name]
		if !k2.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(want.Public) {
			t.Errorf("%s: public key differs from the token's", name)
		}
	}
	if a := after[softhsmtest.KeyEd25519].Algorithm; a != hsm.Ed25519 {
		t.Errorf("ed25519 algorithm %q", a)
	}
	if k := after[softhsmtest.KeyRSA]; k.Algorithm != hsm.RSA || k.Bits != 2048 || !k.CanDecrypt {
		t.Errorf("rsa: %+v", k)
	}
	if k := after[softhsmtest.KeyECDSA]; k.Algorithm != hsm.ECDSA || k.Bits != 256 {
		t.Errorf("ecdsa: %+v", k)
	}
	// the store finds a key by a reordered URI
	st := hsm.NewStore(b)
	u, _ := hsm.ParseURI(after[softhsmtest.KeyRSA].URI)
	reordered := fmt.Sprintf("pkcs11:type=private;object=%s;id=%%01;serial=%s;model=SoftHSM%%20v2;manufacturer=SoftHSM%%20project;token=alpha", u.Object, u.Serial)
	if k, err := st.Key(ctx, reordered); err != nil || k.URI != after[softhsmtest.KeyRSA].URI {
		t.Errorf("Store.Key(%s) = %v, %v", reordered, k.URI, err)
	}
	if p := b.Problems(); len(p) != 0 {
		t.Errorf("problems: %v", p)
	}
}

func keysOf(t *testing.T, b *Backend, token string) map[string]hsm.KeyInfo {
	t.Helper()
	keys, err := b.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]hsm.KeyInfo{}
	for _, k := range keys {
		u, _ := hsm.ParseURI(k.TokenURI)
		if u.Token == token {
			m[k.Label] = k
		}
	}
	return m
}

func sha(t testing.TB, s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

func TestSignVerify(t *testing.T) {
	p := goodPrompt()
	b, _ := openTest(t, Config{PINPrompt: p.fn}, false)
	ctx := context.Background()
	msg := []byte("signet signs this message")
	digest := sha256.Sum256(msg)
	for _, token := range []string{"alpha", "beta"} {
		keys := keysOf(t, b, token)
		tests := []struct {
			name   string
			key    string
			opts   crypto.SignerOpts
			verify []string // openssl arguments after the file names are filled in
		}{
			{"rsa-pkcs1", softhsmtest.KeyRSA, crypto.SHA256, []string{"dgst", "-sha256"}},
			{"rsa-pss-hash", softhsmtest.KeyRSA, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256},
				[]string{"dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"}},
			{"rsa-pss-auto", softhsmtest.KeyRSA, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256},
				[]string{"dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:auto"}},
			{"ecdsa", softhsmtest.KeyECDSA, crypto.SHA256, []string{"dgst", "-sha256"}},
			{"ed25519", softhsmtest.KeyEd25519, crypto.Hash(0), []string{"pkeyutl", "-rawin"}},
		}
		for _, tt := range tests {
			t.Run(token+"/"+tt.name, func(t *testing.T) {
				k := keys[tt.key]
				in := digest[:]
				if tt.key == softhsmtest.KeyEd25519 {
					in = msg
				}
				signer := hsm.Signer(ctx, b, k.URI, k.PublicKey)
				sig, err := signer.Sign(rand.Reader, in, tt.opts)
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				switch pub := k.PublicKey.(type) {
				case *rsa.PublicKey:
					if pss, ok := tt.opts.(*rsa.PSSOptions); ok {
						err = rsa.VerifyPSS(pub, crypto.SHA256, in, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
						_ = pss
					} else {
						err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, in, sig)
					}
				case *ecdsa.PublicKey:
					if !ecdsa.VerifyASN1(pub, in, sig) {
						err = errors.New("ECDSA signature does not verify")
					}
				case ed25519.PublicKey:
					if !ed25519.Verify(pub, msg, sig) {
						err = errors.New("Ed25519 signature does not verify")
					}
				}
				if err != nil {
					t.Fatalf("stdlib verify: %v", err)
				}
				dir := t.TempDir()
				pemPath := writePEM(t, dir, k.PublicKey)
				sigPath := writeFile(t, dir, "sig", sig)
				msgPath := writeFile(t, dir, "msg", msg)
				args := append([]string{}, tt.verify...)
				if args[0] == "dgst" {
					args = append(args, "-verify", pemPath, "-signature", sigPath, msgPath)
				} else {
					args = append(args, "-verify", "-pubin", "-inkey", pemPath, "-sigfile", sigPath, "-in", msgPath)
				}
				openssl(t, args...)
				if tt.name == "rsa-pkcs1" { // and pkeyutl over the digest
					dPath := writeFile(t, dir, "digest", digest[:])
					openssl(t, "pkeyutl", "-verify", "-pubin", "-inkey", pemPath, "-sigfile", sigPath, "-in", dPath, "-pkeyopt", "digest:sha256")
				}
			})
		}
	}
	// one prompt per token, none per signature
	if n := len(p.requests()); n > 2 {
		t.Errorf("%d PIN prompts for two tokens", n)
	}
	// refusals before touching the token
	k := keysOf(t, b, "alpha")
	if _, err := b.Sign(ctx, k[softhsmtest.KeyEd25519].URI, digest[:], crypto.SHA256); !errors.Is(err, hsm.ErrUnsupported) {
		t.Errorf("Ed25519 with a hash: %v, want ErrUnsupported", err)
	}
	if _, err := b.Sign(ctx, k[softhsmtest.KeyECDSA].URI, digest[:20], crypto.SHA256); !errors.Is(err, hsm.ErrInvalidRequest) {
		t.Errorf("short digest: %v, want ErrInvalidRequest", err)
	}
	if _, err := b.Sign(ctx, "pkcs11:token=alpha;object=nosuchkey;type=private", digest[:], crypto.SHA256); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Errorf("missing key: %v, want ErrKeyNotFound", err)
	}
}

func TestDecrypt(t *testing.T) {
	p := goodPrompt()
	b, _ := openTest(t, Config{PINPrompt: p.fn}, false)
	ctx := context.Background()
	k := keysOf(t, b, "alpha")[softhsmtest.KeyRSA]
	pub := k.PublicKey.(*rsa.PublicKey)
	secret := []byte("session key 0123456789abcdef")

	//lint:ignore SA1019 testing PKCS #1 v1.5 decryption, which CMS key transport and tokens still use
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, secret)
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 testing PKCS #1 v1.5 decryption, which CMS key transport and tokens still use
	for _, opts := range []crypto.DecrypterOpts{nil, &rsa.PKCS1v15DecryptOptions{}} {
		got, err := b.Decrypt(ctx, k.URI, ct, opts)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("PKCS#1 v1.5 decrypt (%T) = %q, %v", opts, got, err)
		}
	}
	ct, err = rsa.EncryptOAEP(crypto.SHA1.New(), rand.Reader, pub, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Decrypt(ctx, k.URI, ct, &rsa.OAEPOptions{Hash: crypto.SHA1})
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("OAEP-SHA1 decrypt = %q, %v", got, err)
	}
	ct, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err = b.Decrypt(ctx, k.URI, ct, &rsa.OAEPOptions{Hash: crypto.SHA256})
	if err == nil {
		if !bytes.Equal(got, secret) {
			t.Fatalf("OAEP-SHA256 decrypt = %q", got)
		}
	} else if !errors.Is(err, hsm.ErrUnsupported) {
		t.Fatalf("OAEP-SHA256: %v, want success or ErrUnsupported", err)
	} else {
		t.Logf("OAEP-SHA256 refused as expected: %v", err)
	}
	// an EC key cannot decrypt
	if _, err := b.Decrypt(ctx, keysOf(t, b, "alpha")[softhsmtest.KeyECDSA].URI, ct, nil); !errors.Is(err, hsm.ErrUnsupported) {
		t.Errorf("EC decrypt: %v, want ErrUnsupported", err)
	}
}

func TestKeygenImportDelete(t *testing.T) {
	p := goodPrompt()
	b, _ := openTest(t, Config{PINPrompt: p.fn}, false)
	ctx := context.Background()
	tokURI := ""
	toks, _ := b.Tokens(ctx)
	for _, tk := range toks {
		if tk.Label == "gen" {
			tokURI = tk.URI
		}
	}
	reqs := []hsm.GenerateKeyRequest{
		{Algorithm: hsm.RSA, Label: "gen-rsa"},
		{Algorithm: hsm.ECDSA, Bits: 256, Label: "gen-p256", ID: []byte{0xaa, 0x01}},
		{Algorithm: hsm.ECDSA, Bits: 384, Label: "gen-p384"},
		{Algorithm: hsm.ECDSA, Bits: 521, Label: "gen-p521"},
		{Algorithm: hsm.Ed25519, Label: "gen-ed25519"},
	}
	var generated []hsm.KeyInfo
	for _, req := range reqs {
		req.TokenURI = tokURI
		k, err := b.GenerateKey(ctx, req)
		if err != nil {
			t.Fatalf("GenerateKey(%s %d): %v", req.Algorithm, req.Bits, err)
		}
		t.Cleanup(func() { _ = b.Delete(context.Background(), k.URI) }) // so the test can run again (-count)
		if k.Algorithm != req.Algorithm || len(k.ID) == 0 || !k.HasPrivateKey || k.Label != req.Label {
			t.Fatalf("generated %+v", k)
		}
		if req.ID != nil && !bytes.Equal(k.ID, req.ID) {
			t.Errorf("ID %x, want %x", k.ID, req.ID)
		}
		opts := crypto.SignerOpts(crypto.SHA256)
		msg := sha(t, "m")
		if req.Algorithm == hsm.Ed25519 {
			opts, msg = crypto.Hash(0), []byte("whole message")
		}
		sig, err := hsm.Signer(ctx, b, k.URI, k.PublicKey).Sign(nil, msg, opts)
		if err != nil {
			t.Fatalf("sign with generated %s: %v", req.Label, err)
		}
		ok := false
		switch pub := k.PublicKey.(type) {
		case *rsa.PublicKey:
			ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, msg, sig) == nil
		case *ecdsa.PublicKey:
			ok = ecdsa.VerifyASN1(pub, msg, sig)
		case ed25519.PublicKey:
			ok = ed25519.Verify(pub, msg, sig)
		}
		if !ok {
			t.Errorf("signature of generated %s does not verify", req.Label)
		}
		generated = append(generated, k)
	}

	// import a certificate and its chain for the RSA key
	rsaKey := generated[0]
	cert, err := fx.gen.PKI.Issue(rsaKey.PublicKey, softhsmtest.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k, err := b.ImportCertificate(ctx, hsm.ImportCertificateRequest{KeyURI: rsaKey.URI, Certificate: cert, Chain: fx.gen.PKI.Chain()})
	if err != nil {
		t.Fatalf("ImportCertificate: %v", err)
	}
	if k.Certificate == nil || !bytes.Equal(k.Certificate.Raw, cert.Raw) || k.URI != rsaKey.URI {
		t.Fatalf("after import: %+v", k)
	}
	if len(k.Chain) == 0 {
		t.Errorf("chain not found next to the key")
	}
	// by token only: found by public key
	ecCert, err := fx.gen.PKI.Issue(generated[1].PublicKey, softhsmtest.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := b.ImportCertificate(ctx, hsm.ImportCertificateRequest{TokenURI: tokURI, Certificate: ecCert}); err != nil || !bytes.Equal(k.ID, generated[1].ID) {
		t.Fatalf("import by public key: %v %v", k.ID, err)
	}
	// a certificate for another key is refused
	if _, err := b.ImportCertificate(ctx, hsm.ImportCertificateRequest{KeyURI: generated[2].URI, Certificate: ecCert}); !errors.Is(err, hsm.ErrInvalidRequest) {
		t.Errorf("mismatched certificate: %v, want ErrInvalidRequest", err)
	}

	// delete the RSA key: private, public key and certificate go
	if err := b.Delete(ctx, rsaKey.URI); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for _, k := range keysOf(t, b, "gen") {
		if bytes.Equal(k.ID, rsaKey.ID) {
			t.Errorf("deleted key still listed: %+v", k)
		}
	}
	if _, err := b.Sign(ctx, rsaKey.URI, sha(t, "m"), crypto.SHA256); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Errorf("sign with deleted key: %v, want ErrKeyNotFound", err)
	}
	if err := b.Delete(ctx, rsaKey.URI); !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Errorf("second delete: %v, want ErrKeyNotFound", err)
	}
}

// pinToken returns a backend with a fault seam, the "pin" token's key and
// slot, logged out.
func pinToken(t *testing.T, p *prompt) (*Backend, *faultAPI, hsm.KeyInfo, uint) {
	b, fa := openTest(t, Config{PINPrompt: p.fn}, true)
	k := keysOf(t, b, "pin")["ecdsa"]
	if err := b.Lock(context.Background(), k.TokenURI); err != nil {
		t.Fatal(err)
	}
	return b, fa, k, slotOf(t, b, "pin")
}

func TestWrongPIN(t *testing.T) {
	ctx := context.Background()
	// wrong, then cancelled: the second prompt shows the PINError; the
	// result is ErrCancelled and still carries the PINError.
	p := newPrompt(nil, pinAnswer("0000"), cancelAnswer)
	b, _, k, _ := pinToken(t, p)
	_, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	var pe *hsm.PINError
	if !errors.Is(err, hsm.ErrCancelled) || !errors.As(err, &pe) || !errors.Is(pe, hsm.ErrPINIncorrect) {
		t.Fatalf("err = %v, want ErrCancelled with a PINError", err)
	}
	if !strings.Contains(err.Error(), "pin") || strings.Contains(err.Error(), "0000") {
		t.Errorf("error should name the token and never the PIN: %v", err)
	}
	reqs := p.requests()
	if len(reqs) != 2 || reqs[0].Attempt != 1 || reqs[1].Attempt != 2 || !errors.As(reqs[1].LastError, &pe) ||
		reqs[0].Token.Label != "pin" || reqs[0].Key == nil || reqs[0].Kind != hsm.UserPIN {
		t.Fatalf("prompts: %+v", reqs)
	}
	// always wrong: gives up after three tries with the PINError
	p2 := newPrompt(pinAnswer("0000"))
	b.cfg.PINPrompt = p2.fn
	_, err = b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	if !errors.As(err, &pe) || !errors.Is(err, hsm.ErrPINIncorrect) || len(p2.requests()) != maxPINAttempts {
		t.Fatalf("err = %v after %d prompts", err, len(p2.requests()))
	}
	if !strings.Contains(err.Error(), "CKR_PIN_INCORRECT") {
		t.Errorf("PKCS#11 code name missing: %v", err)
	}
	// wrong then right
	p3 := newPrompt(nil, pinAnswer("0000"), pinAnswer(softhsmtest.DefaultUserPIN))
	b.cfg.PINPrompt = p3.fn
	if _, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256); err != nil {
		t.Fatalf("wrong then right: %v", err)
	}
}

func TestCancelledPrompt(t *testing.T) {
	p := newPrompt(cancelAnswer)
	b, fa, k, _ := pinToken(t, p)
	_, err := b.Sign(context.Background(), k.URI, sha(t, "x"), crypto.SHA256)
	if !errors.Is(err, hsm.ErrCancelled) {
		t.Fatalf("err = %v, want ErrCancelled", err)
	}
	if n := len(fa.loginCalls()); n != 0 {
		t.Errorf("%d C_Login calls after a cancelled prompt", n)
	}
}

func TestFinalTry(t *testing.T) {
	ctx := context.Background()
	p := newPrompt(pinAnswer(softhsmtest.DefaultUserPIN)) // does not confirm
	b, fa, k, slot := pinToken(t, p)
	fa.setFlags(slot, p11.CKF_USER_PIN_FINAL_TRY|p11.CKF_USER_PIN_COUNT_LOW)
	_, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	if !errors.Is(err, hsm.ErrFinalTry) {
		t.Fatalf("err = %v, want ErrFinalTry", err)
	}
	if n := len(fa.loginCalls()); n != 0 {
		t.Fatalf("a PIN was tried on the final try without confirmation (%d C_Login)", n)
	}
	if r := p.requests(); len(r) != 1 || !r[0].State.FinalTry || !r[0].State.CountLow {
		t.Fatalf("prompt did not show final try: %+v", r)
	}
	// confirmed: the PIN is tried
	b.cfg.PINPrompt = newPrompt(func(req hsm.PINRequest) (hsm.PINResponse, error) {
		return hsm.PINResponse{PIN: []byte(softhsmtest.DefaultUserPIN), ConfirmFinalTry: req.State.FinalTry}, nil
	}).fn
	if _, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256); err != nil {
		t.Fatalf("confirmed final try: %v", err)
	}
	if n := len(fa.loginCalls()); n != 1 {
		t.Fatalf("%d C_Login calls, want 1", n)
	}
}

func TestLockedPIN(t *testing.T) {
	p := goodPrompt()
	b, fa, k, slot := pinToken(t, p)
	fa.setFlags(slot, p11.CKF_USER_PIN_LOCKED)
	_, err := b.Sign(context.Background(), k.URI, sha(t, "x"), crypto.SHA256)
	var pe *hsm.PINError
	if !errors.Is(err, hsm.ErrPINLocked) || !errors.As(err, &pe) || !pe.State.Locked {
		t.Fatalf("err = %v, want ErrPINLocked PINError", err)
	}
	if len(p.requests()) != 0 || len(fa.loginCalls()) != 0 {
		t.Fatal("prompted or tried a PIN on a locked token")
	}
}

func TestPINPad(t *testing.T) {
	p := goodPrompt()
	b, fa, k, slot := pinToken(t, p)
	fa.setFlags(slot, p11.CKF_PROTECTED_AUTHENTICATION_PATH)
	if _, err := b.Sign(context.Background(), k.URI, sha(t, "x"), crypto.SHA256); err != nil {
		t.Fatalf("PIN pad sign: %v", err)
	}
	if len(p.requests()) != 0 {
		t.Error("prompted for a PIN on a PIN-pad token")
	}
	if got := fa.loginCalls(); !slices.Equal(got, []string{"user:pad"}) {
		t.Errorf("logins %v, want one C_Login with no PIN", got)
	}
}

func TestAlwaysAuthenticate(t *testing.T) {
	p := goodPrompt()
	b, fa := openTest(t, Config{PINPrompt: p.fn}, true)
	ctx := context.Background()
	k := keysOf(t, b, "always")["rsa-always"]
	_ = b.Lock(ctx, k.TokenURI)
	for i := 0; i < 2; i++ {
		sig, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
		if err != nil {
			t.Fatalf("sign %d: %v", i, err)
		}
		if err := rsa.VerifyPKCS1v15(k.PublicKey.(*rsa.PublicKey), crypto.SHA256, sha(t, "x"), sig); err != nil {
			t.Fatal(err)
		}
	}
	var kinds []hsm.PINKind
	for _, r := range p.requests() {
		kinds = append(kinds, r.Kind)
	}
	if !slices.Equal(kinds, []hsm.PINKind{hsm.UserPIN, hsm.ContextPIN, hsm.ContextPIN}) {
		t.Errorf("prompts %v, want user PIN then a key PIN before each use", kinds)
	}
	if got := fa.loginCalls(); !slices.Equal(got, []string{"user", "context", "context"}) {
		t.Errorf("logins %v", got)
	}
	// cancelling the key PIN fails this signature only
	b.cfg.PINPrompt = newPrompt(cancelAnswer).fn
	if _, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256); !errors.Is(err, hsm.ErrCancelled) {
		t.Fatalf("cancelled key PIN: %v", err)
	}
	b.cfg.PINPrompt = p.fn
	if _, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256); err != nil {
		t.Fatalf("after a cancelled key PIN: %v", err)
	}
}

func TestDeviceRemovedMidSign(t *testing.T) {
	p := goodPrompt()
	b, fa := openTest(t, Config{PINPrompt: p.fn}, true)
	ctx := context.Background()
	k := keysOf(t, b, "beta")[softhsmtest.KeyECDSA]
	if _, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	fa.mu.Lock()
	fa.signFault = []error{p11.Error(p11.CKR_DEVICE_REMOVED)}
	fa.mu.Unlock()
	_, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	if !errors.Is(err, hsm.ErrTokenRemoved) || !strings.Contains(err.Error(), `"beta"`) || !strings.Contains(err.Error(), "CKR_DEVICE_REMOVED") {
		t.Fatalf("err = %v, want ErrTokenRemoved naming token beta and CKR_DEVICE_REMOVED", err)
	}
	// the same backend works again (the token answered the rescan)
	sig, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(k.PublicKey.(*ecdsa.PublicKey), sha(t, "x"), sig) {
		t.Fatalf("after removal: %v", err)
	}
}

func TestTokenRemovedAndBack(t *testing.T) {
	p := goodPrompt()
	b, _ := openTest(t, Config{PINPrompt: p.fn, PollInterval: 20 * time.Millisecond}, false)
	ctx := context.Background()
	// Watch until the module is re-initialised below: C_Finalize must not
	// run while another thread is inside the module (SoftHSM crashes).
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	events, err := b.Watch(wctx)
	if err != nil {
		t.Fatal(err)
	}
	k := keysOf(t, b, "removal")["ecdsa"]
	if _, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if ki, ok := b.CachedKey(k.URI); !ok || ki.Certificate == nil {
		t.Fatalf("CachedKey after sign = %v, want the key with its certificate", ok)
	}
	tok := fx.removal.Token

	// pulled out while in use
	if err := tok.Unplug(); err != nil {
		t.Fatal(err)
	}
	_, err = b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	if !errors.Is(err, hsm.ErrTokenRemoved) || !strings.Contains(err.Error(), `"removal"`) {
		t.Fatalf("sign on pulled token: %v, want ErrTokenRemoved naming it", err)
	}
	if _, ok := b.CachedKey(k.URI); ok {
		t.Error("CachedKey of a pulled token's key reported a key")
	}
	// fails fast again, naming it
	if _, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256); !errors.Is(err, hsm.ErrTokenRemoved) || !strings.Contains(err.Error(), `"removal"`) {
		t.Fatalf("second sign: %v", err)
	}
	waitEvent(t, events, "removal", true)
	if !b.Handles(k.URI) {
		t.Error("backend should still handle the URI of a removed token")
	}

	// put back (same serial and keys): SoftHSM needs re-initialising to see it
	if err := tok.Replug(); err != nil {
		t.Fatal(err)
	}
	stopWatch()
	for range events { // wait for the watcher to stop
	}
	reinitModule(t)
	wctx, stopWatch = context.WithCancel(ctx)
	events, err = b.Watch(wctx)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(k.PublicKey.(*ecdsa.PublicKey), sha(t, "x"), sig) {
		t.Fatalf("after re-insertion: %v", err)
	}
	waitEvent(t, events, "removal", false)
	stopWatch()
	for range events {
	}

	// deleted and re-created with the same label (new serial, new key)
	if err := tok.Recreate(); err != nil {
		t.Fatal(err)
	}
	_, err = b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	if !errors.Is(err, hsm.ErrTokenRemoved) || !strings.Contains(err.Error(), `"removal"`) {
		t.Fatalf("sign on deleted token: %v", err)
	}
	// (with a certificate, as the fixture had, so the test can run again: -count)
	nk, err := tok.AddKeyWithCert(fx.removal.PKI, softhsmtest.KeySpec{Label: "ecdsa", ID: []byte{0x31}, Type: softhsmtest.ECP256}, softhsmtest.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reinitModule(t)
	byLabel := "pkcs11:token=removal;object=ecdsa;type=private"
	sig, err = b.Sign(ctx, byLabel, sha(t, "x"), crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(nk.Public.(*ecdsa.PublicKey), sha(t, "x"), sig) {
		t.Fatalf("after re-creation: %v", err)
	}
}

func waitEvent(t *testing.T, events <-chan hsm.TokenEvent, label string, removed bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Token.Label == label && ev.Removed == removed {
				return
			}
		case <-timeout:
			t.Fatalf("no event for %q removed=%v", label, removed)
		}
	}
}

func TestConcurrentSign(t *testing.T) {
	p := goodPrompt()
	b, fa := openTest(t, Config{PINPrompt: p.fn, MaxSessions: 4}, true)
	ctx := context.Background()
	alpha := keysOf(t, b, "alpha")
	beta := keysOf(t, b, "beta")
	for _, tc := range []struct {
		name string
		keys []hsm.KeyInfo
	}{
		{"one-token", []hsm.KeyInfo{alpha[softhsmtest.KeyECDSA]}},
		{"two-tokens", []hsm.KeyInfo{alpha[softhsmtest.KeyECDSA], beta[softhsmtest.KeyECDSA], alpha[softhsmtest.KeyEd25519]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 16*8)
			for g := 0; g < 16; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 8; i++ {
						k := tc.keys[(g+i)%len(tc.keys)]
						msg, opts := sha(t, fmt.Sprint(g, i)), crypto.SignerOpts(crypto.SHA256)
						if k.Algorithm == hsm.Ed25519 {
							opts = crypto.Hash(0)
						}
						sig, err := b.Sign(ctx, k.URI, msg, opts)
						if err == nil {
							switch pub := k.PublicKey.(type) {
							case *ecdsa.PublicKey:
								if !ecdsa.VerifyASN1(pub, msg, sig) {
									err = errors.New("bad ECDSA signature")
								}
							case ed25519.PublicKey:
								if !ed25519.Verify(pub, msg, sig) {
									err = errors.New("bad Ed25519 signature")
								}
							}
						}
						if err != nil {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
	for slot, n := range fa.maxSessions() {
		if n > 4 {
			t.Errorf("slot %d had %d sessions open, cap 4", slot, n)
		}
	}
	if len(p.requests()) > 2 {
		t.Errorf("%d PIN prompts for two tokens under concurrency", len(p.requests()))
	}
	// no leak: closing the backend closes every session it opened
	b.Close()
	fa.mu.Lock()
	defer fa.mu.Unlock()
	for slot, n := range fa.open {
		if n != 0 {
			t.Errorf("slot %d: %d sessions left open after Close", slot, n)
		}
	}
}

func TestSessionWaitCancelled(t *testing.T) {
	p := goodPrompt()
	b, _ := openTest(t, Config{PINPrompt: p.fn, MaxSessions: 1}, false)
	k := keysOf(t, b, "alpha")[softhsmtest.KeyECDSA]
	b.mu.RLock()
	var pl *pool
	for _, tk := range b.tokens {
		if tk.label == "alpha" {
			pl = tk.pool
		}
	}
	b.mu.RUnlock()
	h, err := pl.get(context.Background()) // hold the only session
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
		done <- err
	}()
	// wait until the signer queues, then cancel it
	for {
		pl.mu.Lock()
		n := len(pl.waiters)
		pl.mu.Unlock()
		if n == 1 {
			break
		}
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, hsm.ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want ErrCancelled", err)
	}
	pl.put(h, false)
	if _, err := b.Sign(context.Background(), k.URI, sha(t, "x"), crypto.SHA256); err != nil {
		t.Fatalf("after the cancelled wait: %v", err)
	}
	if _, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256); !errors.Is(err, hsm.ErrCancelled) {
		t.Fatalf("sign with a cancelled context: %v, want ErrCancelled", err)
	}
}

func TestPoolFIFO(t *testing.T) {
	setup(t)
	b, fa := openTest(t, Config{MaxSessions: 1}, true)
	slot := slotOf(t, b, "gen")
	pl := newPool(fa, slot, "gen", 1)
	defer pl.shutdown(errPoolClosed)
	h, err := pl.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 5)
	for i := 0; i < 5; i++ {
		go func() {
			h, err := pl.get(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			order <- i
			pl.put(h, false)
		}()
		for { // queue them one after another
			pl.mu.Lock()
			n := len(pl.waiters)
			pl.mu.Unlock()
			if n == i+1 {
				break
			}
			runtime.Gosched()
		}
	}
	pl.put(h, false)
	for i := 0; i < 5; i++ {
		if got := <-order; got != i {
			t.Fatalf("waiter %d served at position %d", got, i)
		}
	}
}

func TestParsePublicKeyForms(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	wrapped := append([]byte{0x04, 0x20}, pub...)
	for _, params := range [][]byte{derOIDEd25519, derNameEd25519} {
		for _, point := range [][]byte{pub, wrapped} {
			got, err := ecPublic(params, point)
			if err != nil || !pub.Equal(got) {
				t.Errorf("ecPublic(%x, %d bytes) = %v, %v", params, len(point), got, err)
			}
		}
	}
	if _, err := ecPublic([]byte{0x06, 0x01, 0x00}, pub); err == nil {
		t.Error("unknown curve accepted")
	}
}

func TestKnownModules(t *testing.T) {
	for _, goos := range []string{"linux", "darwin", "windows"} {
		mods := strings.Join(KnownModules(goos), "\n")
		for _, want := range []string{"softhsm", "opensc", "rtpkcs11ecp", "jcPKCS11-2", "eTPkcs11", "avpkcs11"} {
			if !strings.Contains(strings.ToLower(mods), strings.ToLower(want)) {
				t.Errorf("%s: no %s module", goos, want)
			}
		}
	}
	if runtime.GOOS == "linux" {
		found := false
		for _, p := range Probe() {
			if strings.Contains(p, "libsofthsm2.so") {
				found = true
			}
		}
		if !found {
			t.Errorf("Probe() = %v, want SoftHSM", Probe())
		}
	}
}

func TestLockAndIdleLogout(t *testing.T) {
	var pins [][]byte
	var mu sync.Mutex
	p := newPrompt(func(hsm.PINRequest) (hsm.PINResponse, error) {
		pin := []byte(softhsmtest.DefaultUserPIN)
		mu.Lock()
		pins = append(pins, pin)
		mu.Unlock()
		return hsm.PINResponse{PIN: pin}, nil
	})
	b, _, k, _ := pinToken(t, p)
	ctx := context.Background()
	sign := func() {
		t.Helper()
		if _, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256); err != nil {
			t.Fatal(err)
		}
	}
	sign()
	sign()
	if n := len(p.requests()); n != 1 {
		t.Fatalf("%d prompts for two signatures, want 1 (login cached)", n)
	}
	if err := b.Lock(ctx, k.TokenURI); err != nil {
		t.Fatal(err)
	}
	sign()
	if n := len(p.requests()); n != 2 {
		t.Fatalf("%d prompts after Lock, want 2", n)
	}
	// the PIN slices handed to the backend were wiped
	mu.Lock()
	for _, pin := range pins {
		if strings.Trim(string(pin), "\x00") != "" {
			t.Errorf("PIN slice not wiped: %q", pin)
		}
	}
	mu.Unlock()

	// idle timeout: a login unused for longer than the policy is dropped
	b2, _ := openTest(t, Config{PINPrompt: p.fn, Login: hsm.LoginPolicy{IdleTimeout: 30 * time.Millisecond}, PollInterval: 10 * time.Millisecond}, false)
	_ = b.Lock(ctx, k.TokenURI)
	before := len(p.requests())
	if _, err := b2.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := b2.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if n := len(p.requests()) - before; n != 2 {
		t.Fatalf("%d prompts across an idle timeout, want 2", n)
	}
}

// FuzzECPublic feeds arbitrary CKA_EC_PARAMS / CKA_EC_POINT values (what a
// token returns) to the key parser: it must never panic, and a key it
// accepts must re-encode.
func FuzzECPublic(f *testing.F) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	point, _ := ec.PublicKey.Bytes()
	wrapped, _ := asn1.Marshal(point)
	p256, _ := asn1.Marshal(oidP256)
	f.Add(derOIDEd25519, []byte(pub))
	f.Add(derNameEd25519, append([]byte{0x04, 0x20}, pub...))
	f.Add(p256, wrapped)
	f.Add(p256, point)
	f.Fuzz(func(t *testing.T, params, point []byte) {
		k, err := ecPublic(params, point)
		if err != nil {
			return
		}
		if _, err := x509.MarshalPKIXPublicKey(k); err != nil {
			t.Fatalf("accepted key does not re-encode: %v", err)
		}
	})
}

// After the module is re-initialised every session handle is stale
// (CKR_SESSION_HANDLE_INVALID) and the login is gone, while the tokens are
// still there in new slots: the backend recovers by itself.
func TestStaleSessionsRecover(t *testing.T) {
	p := goodPrompt()
	b, _ := openTest(t, Config{PINPrompt: p.fn}, false)
	ctx := context.Background()
	k := keysOf(t, b, "beta")[softhsmtest.KeyRSA]
	if _, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	before := len(p.requests())
	reinitModule(t)
	sig, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	if err != nil {
		t.Fatalf("after re-initialisation: %v", err)
	}
	if err := rsa.VerifyPKCS1v15(k.PublicKey.(*rsa.PublicKey), crypto.SHA256, sha(t, "x"), sig); err != nil {
		t.Fatal(err)
	}
	if n := len(p.requests()) - before; n != 1 {
		t.Errorf("%d prompts after re-initialisation, want 1 (the login was lost)", n)
	}
}

func TestECDSADER(t *testing.T) {
	for _, size := range []int{32, 48, 66} {
		for i := 0; i < 200; i++ {
			raw := make([]byte, 2*size)
			rand.Read(raw)
			switch i % 4 { // leading zeros and high bits
			case 1:
				raw[0], raw[1] = 0, 0
			case 2:
				raw[0], raw[size] = 0xff, 0x80
			case 3:
				clear(raw[:size-1])
			}
			want, _ := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:size]), new(big.Int).SetBytes(raw[size:])})
			got, err := ecdsaDER(raw)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("ecdsaDER(%x) = %x, %v; want %x", raw, got, err, want)
			}
		}
	}
	if _, err := ecdsaDER(make([]byte, 3)); err == nil {
		t.Error("odd length accepted")
	}
}

// An object the backend cannot parse is skipped and reported; the listing
// goes on.
func TestOddObjectSkipped(t *testing.T) {
	p := goodPrompt()
	b, _ := openTest(t, Config{PINPrompt: p.fn}, false)
	ctx := context.Background()
	k := keysOf(t, b, "beta")[softhsmtest.KeyRSA]
	if _, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256); err != nil { // log in
		t.Fatal(err)
	}
	s, err := b.findToken(&hsm.URI{Token: "beta"})
	if err != nil {
		t.Fatal(err)
	}
	var odd p11.ObjectHandle
	err = s.pool.withSession(ctx, func(h p11.SessionHandle) error {
		var err error
		odd, err = b.api.CreateObject(h, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_CERTIFICATE),
			p11.NewAttribute(p11.CKA_CERTIFICATE_TYPE, p11.CKC_X_509),
			p11.NewAttribute(p11.CKA_TOKEN, false), // session object: gone with the session
			p11.NewAttribute(p11.CKA_ID, []byte{0x77}),
			p11.NewAttribute(p11.CKA_LABEL, "garbage"),
			p11.NewAttribute(p11.CKA_SUBJECT, []byte{0x30, 0x00}),
			p11.NewAttribute(p11.CKA_VALUE, []byte("not a certificate")),
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.pool.withSession(ctx, func(h p11.SessionHandle) error { return b.api.DestroyObject(h, odd) })
	keys := keysOf(t, b, "beta")
	if len(keys) != 3 || keys[softhsmtest.KeyEd25519].URI == "" {
		t.Fatalf("listing with an odd object: %v", keys)
	}
	if _, ok := keys["garbage"]; ok {
		t.Error("garbage object listed")
	}
	if probs := b.Problems(); len(probs) != 1 || !strings.Contains(probs[0], "beta") {
		t.Errorf("problems: %v", probs)
	}
}

func TestCachedKey(t *testing.T) {
	p := goodPrompt()
	b, _ := openTest(t, Config{PINPrompt: p.fn}, false)
	ctx := context.Background()
	k := keysOf(t, b, "alpha")[softhsmtest.KeyECDSA]
	if _, ok := b.CachedKey(k.URI); ok {
		t.Fatal("CachedKey before any use reported a key")
	}
	if _, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	got, ok := b.CachedKey(k.URI)
	want := fx.alpha.Keys[softhsmtest.KeyECDSA].Certificate
	if !ok || got.Certificate == nil || got.Certificate.SerialNumber.Cmp(want.SerialNumber) != 0 {
		t.Fatalf("CachedKey after sign = %+v, %v; want the certificate with serial %x", got.Certificate, ok, want.SerialNumber)
	}
	if got.PublicKey == nil || !got.HasPrivateKey || got.URI == "" {
		t.Errorf("CachedKey = %+v, want URI, public key and private key flag", got)
	}
}
