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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/softhsmtest"
)

func goodPrompt() *prompt { return newPrompt(pinAnswer(softhsmtest.DefaultUserPIN)) }

func TestTokensAndKeys(t *testing.T) {
	p := goodPrompt()
	b, _ := openTest(t, Config{PINPrompt: p.fn}, false)
	ctx := context.Background()
	toks, err := b.Tokens(ctx)
	require.NoError(t, err)
	labels := map[string]hsm.TokenInfo{}
	for _, tk := range toks {
		labels[tk.Label] = tk
	}
	for _, want := range []string{"alpha", "beta", "always", "pin", "gen"} {
		tk, ok := labels[want]
		require.True(t, ok, "token %q not listed (have %v)", want, toks)
		if assert.True(t, tk.Flags.LoginRequired, "token %q: %+v", want, tk) {
			if assert.Equal(t, "pkcs11", tk.Backend, "token %q: %+v", want, tk) {
				if assert.NotEmpty(t, tk.Serial, "token %q: %+v", want, tk) {
					assert.True(t, strings.HasPrefix(tk.URI, "pkcs11:token="+want+";"), "token %q: %+v", want, tk)
				}
			}
		}
		assert.True(t, b.Handles(tk.URI), "Handles(%s) = false", tk.URI)
	}
	if assert.False(t, b.Handles("pkcs11:token=nosuchtoken"), "Handles claims foreign URIs") {
		if assert.False(t, b.Handles("file:///x.pfx"), "Handles claims foreign URIs") {
			assert.False(t, b.Handles("pkcs11:token=alpha?module-path=/usr/lib/opensc-pkcs11.so"), "Handles claims foreign URIs")
		}
	}
	assert.True(t, b.Handles("pkcs11:token=alpha?module-path="+softhsmtest.Shared().Module), "Handles refuses a URI naming its module")

	// Listing before login (Ed25519 key present), then after login: same keys, same URIs.
	before := keysOf(t, b, "alpha")
	_, err = b.Sign(ctx, before["rsa2048"].URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err)
	after := keysOf(t, b, "alpha")
	for _, name := range []string{softhsmtest.KeyRSA, softhsmtest.KeyECDSA, softhsmtest.KeyEd25519} {
		k1, k2 := before[name], after[name]
		if assert.NotEmpty(t, k1.URI, "%s: URI before login %q, after %q", name, k1.URI, k2.URI) {
			assert.Equal(t, k2.URI, k1.URI, "%s: URI before login %q, after %q", name, k1.URI, k2.URI)
		}
		if assert.True(t, k2.HasPrivateKey, "%s: %+v", name, k2) {
			if assert.True(t, k2.CanSign, "%s: %+v", name, k2) {
				if assert.NotNil(t, k2.Certificate, "%s: %+v", name, k2) {
					assert.NotNil(t, k2.PublicKey, "%s: %+v", name, k2)
				}
			}
		}
		want := fx.alpha.Keys[name]
		assert.True(t, k2.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(want.Public), "%s: public key differs from the token's", name)
	}
	a := after[softhsmtest.KeyEd25519].Algorithm
	assert.Equal(t, hsm.Ed25519, a, "ed25519 algorithm %q", a)
	k := after[softhsmtest.KeyRSA]
	if assert.Equal(t, hsm.RSA, k.Algorithm, "rsa: %+v", k) {
		if assert.Equal(t, 2048, k.Bits, "rsa: %+v", k) {
			assert.True(t, k.CanDecrypt, "rsa: %+v", k)
		}
	}
	k = after[softhsmtest.KeyECDSA]
	if assert.Equal(t, hsm.ECDSA, k.Algorithm, "ecdsa: %+v", k) {
		assert.Equal(t, 256, k.Bits, "ecdsa: %+v", k)
	}
	// the store finds a key by a reordered URI
	st := hsm.NewStore(b)
	u, _ := hsm.ParseURI(after[softhsmtest.KeyRSA].URI)
	reordered := fmt.Sprintf("pkcs11:type=private;object=%s;id=%%01;serial=%s;model=SoftHSM%%20v2;manufacturer=SoftHSM%%20project;token=alpha", u.Object, u.Serial)
	k, err = st.Key(ctx, reordered)
	if assert.NoError(t, err, "Store.Key(%s) = %v", reordered, k.URI) {
		assert.Equal(t, after[softhsmtest.KeyRSA].URI, k.URI, "Store.Key(%s) = %v", reordered, k.URI)
	}
	assert.Empty(t, b.Problems(), "problems")
}

func keysOf(t *testing.T, b *Backend, token string) map[string]hsm.KeyInfo {
	t.Helper()
	keys, err := b.Keys(context.Background())
	require.NoError(t, err)
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
				require.NoError(t, err, "Sign")
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
				require.NoError(t, err, "stdlib verify")
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
	n := len(p.requests())
	assert.False(t, n > 2, "%d PIN prompts for two tokens", n)
	// refusals before touching the token
	k := keysOf(t, b, "alpha")
	_, err := b.Sign(ctx, k[softhsmtest.KeyEd25519].URI, digest[:], crypto.SHA256)
	assert.ErrorIs(t, err, hsm.ErrUnsupported, "Ed25519 with a hash: %v, want ErrUnsupported", err)
	_, err = b.Sign(ctx, k[softhsmtest.KeyECDSA].URI, digest[:20], crypto.SHA256)
	assert.ErrorIs(t, err, hsm.ErrInvalidRequest, "short digest: %v, want ErrInvalidRequest", err)
	_, err = b.Sign(ctx, "pkcs11:token=alpha;object=nosuchkey;type=private", digest[:], crypto.SHA256)
	assert.ErrorIs(t, err, hsm.ErrKeyNotFound, "missing key: %v, want ErrKeyNotFound", err)
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
	require.NoError(t, err)
	//lint:ignore SA1019 testing PKCS #1 v1.5 decryption, which CMS key transport and tokens still use
	for _, opts := range []crypto.DecrypterOpts{nil, &rsa.PKCS1v15DecryptOptions{}} {
		got, err := b.Decrypt(ctx, k.URI, ct, opts)
		require.NoError(t, err, "PKCS#1 v1.5 decrypt (%T) = %q", opts, got)
		require.Equal(t, secret, got, "PKCS#1 v1.5 decrypt (%T) = %q", opts, got)
	}
	ct, err = rsa.EncryptOAEP(crypto.SHA1.New(), rand.Reader, pub, secret, nil)
	require.NoError(t, err)
	got, err := b.Decrypt(ctx, k.URI, ct, &rsa.OAEPOptions{Hash: crypto.SHA1})
	require.NoError(t, err, "OAEP-SHA1 decrypt = %q", got)
	require.Equal(t, secret, got, "OAEP-SHA1 decrypt = %q", got)
	ct, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, secret, nil)
	require.NoError(t, err)
	got, err = b.Decrypt(ctx, k.URI, ct, &rsa.OAEPOptions{Hash: crypto.SHA256})
	if err == nil {
		require.Equal(t, secret, got, "OAEP-SHA256 decrypt = %q", got)
	} else {
		require.ErrorIs(t, err, hsm.ErrUnsupported, "OAEP-SHA256: want success or ErrUnsupported")
		t.Logf("OAEP-SHA256 refused as expected: %v", err)
	}
	// an EC key cannot decrypt
	_, err = b.Decrypt(ctx, keysOf(t, b, "alpha")[softhsmtest.KeyECDSA].URI, ct, nil)
	assert.ErrorIs(t, err, hsm.ErrUnsupported, "EC decrypt: %v, want ErrUnsupported", err)
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
		require.NoError(t, err, "GenerateKey(%s %d)", req.Algorithm, req.Bits)
		t.Cleanup(func() { _ = b.Delete(context.Background(), k.URI) }) // so the test can run again (-count)
		require.Equal(t, req.Algorithm, k.Algorithm, "generated %+v", k)
		require.NotEmpty(t, k.ID, "generated %+v", k)
		require.True(t, k.HasPrivateKey, "generated %+v", k)
		require.Equal(t, req.Label, k.Label, "generated %+v", k)
		if req.ID != nil {
			assert.Equal(t, req.ID, k.ID, "ID")
		}
		opts := crypto.SignerOpts(crypto.SHA256)
		msg := sha(t, "m")
		if req.Algorithm == hsm.Ed25519 {
			opts, msg = crypto.Hash(0), []byte("whole message")
		}
		sig, err := hsm.Signer(ctx, b, k.URI, k.PublicKey).Sign(nil, msg, opts)
		require.NoError(t, err, "sign with generated %s", req.Label)
		ok := false
		switch pub := k.PublicKey.(type) {
		case *rsa.PublicKey:
			ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, msg, sig) == nil
		case *ecdsa.PublicKey:
			ok = ecdsa.VerifyASN1(pub, msg, sig)
		case ed25519.PublicKey:
			ok = ed25519.Verify(pub, msg, sig)
		}
		assert.True(t, ok, "signature of generated %s does not verify", req.Label)
		generated = append(generated, k)
	}

	// import a certificate and its chain for the RSA key
	rsaKey := generated[0]
	cert, err := fx.gen.PKI.Issue(rsaKey.PublicKey, softhsmtest.IssueOptions{})
	require.NoError(t, err)
	k, err := b.ImportCertificate(ctx, hsm.ImportCertificateRequest{KeyURI: rsaKey.URI, Certificate: cert, Chain: fx.gen.PKI.Chain()})
	require.NoError(t, err, "ImportCertificate")
	require.NotNil(t, k.Certificate, "after import: %+v", k)
	require.Equal(t, cert.Raw, k.Certificate.Raw, "after import: %+v", k)
	require.Equal(t, rsaKey.URI, k.URI, "after import: %+v", k)
	assert.NotEmpty(t, k.Chain, "chain not found next to the key")
	// by token only: found by public key
	ecCert, err := fx.gen.PKI.Issue(generated[1].PublicKey, softhsmtest.IssueOptions{})
	require.NoError(t, err)
	k, err = b.ImportCertificate(ctx, hsm.ImportCertificateRequest{TokenURI: tokURI, Certificate: ecCert})
	require.NoError(t, err, "import by public key: %v", k.ID)
	require.Equal(t, generated[1].ID, k.ID, "import by public key: %v", k.ID)
	// a certificate for another key is refused
	_, err = b.ImportCertificate(ctx, hsm.ImportCertificateRequest{KeyURI: generated[2].URI, Certificate: ecCert})
	assert.ErrorIs(t, err, hsm.ErrInvalidRequest, "mismatched certificate: %v, want ErrInvalidRequest", err)

	// delete the RSA key: private, public key and certificate go
	require.NoError(t, b.Delete(ctx, rsaKey.URI), "Delete")
	for _, k := range keysOf(t, b, "gen") {
		assert.False(t, bytes.Equal(k.ID, rsaKey.ID), "deleted key still listed: %+v", k)
	}
	_, err = b.Sign(ctx, rsaKey.URI, sha(t, "m"), crypto.SHA256)
	assert.ErrorIs(t, err, hsm.ErrKeyNotFound, "sign with deleted key: %v, want ErrKeyNotFound", err)
	err = b.Delete(ctx, rsaKey.URI)
	assert.ErrorIs(t, err, hsm.ErrKeyNotFound, "second delete: %v, want ErrKeyNotFound", err)
}

// pinToken returns a backend with a fault seam, the "pin" token's key and
// slot, logged out.
func pinToken(t *testing.T, p *prompt) (*Backend, *faultAPI, hsm.KeyInfo, uint) {
	b, fa := openTest(t, Config{PINPrompt: p.fn}, true)
	k := keysOf(t, b, "pin")["ecdsa"]
	require.NoError(t, b.Lock(context.Background(), k.TokenURI))
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
	require.ErrorIs(t, err, hsm.ErrCancelled, "err = %v, want ErrCancelled with a PINError", err)
	require.ErrorAs(t, err, &pe, "err = %v, want ErrCancelled with a PINError", err)
	require.ErrorIs(t, pe, hsm.ErrPINIncorrect, "err = %v, want ErrCancelled with a PINError", err)
	if assert.ErrorContains(t, err, "pin", "error should name the token and never the PIN") {
		assert.NotContains(t, err.Error(), "0000", "error should name the token and never the PIN")
	}
	reqs := p.requests()
	require.Len(t, reqs, 2, "prompts: %+v", reqs)
	require.Equal(t, 1, reqs[0].Attempt, "prompts: %+v", reqs)
	require.Equal(t, 2, reqs[1].Attempt, "prompts: %+v", reqs)
	require.ErrorAs(t, reqs[1].LastError, &pe, "prompts: %+v", reqs)
	require.Equal(t, "pin", reqs[0].Token.Label, "prompts: %+v", reqs)
	require.NotNil(t, reqs[0].Key, "prompts: %+v", reqs)
	require.Equal(t, hsm.UserPIN, reqs[0].Kind, "prompts: %+v", reqs)
	// always wrong: gives up after three tries with the PINError
	p2 := newPrompt(pinAnswer("0000"))
	b.cfg.PINPrompt = p2.fn
	_, err = b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.ErrorAs(t, err, &pe, "err = %v after %d prompts", err, len(p2.requests()))
	require.ErrorIs(t, err, hsm.ErrPINIncorrect, "err = %v after %d prompts", err, len(p2.requests()))
	require.Len(t, p2.requests(), maxPINAttempts, "err = %v after %d prompts", err, len(p2.requests()))
	assert.ErrorContains(t, err, "CKR_PIN_INCORRECT", "PKCS#11 code name missing")
	// wrong then right
	p3 := newPrompt(nil, pinAnswer("0000"), pinAnswer(softhsmtest.DefaultUserPIN))
	b.cfg.PINPrompt = p3.fn
	_, err = b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err, "wrong then right")
}

func TestCancelledPrompt(t *testing.T) {
	p := newPrompt(cancelAnswer)
	b, fa, k, _ := pinToken(t, p)
	_, err := b.Sign(context.Background(), k.URI, sha(t, "x"), crypto.SHA256)
	require.ErrorIs(t, err, hsm.ErrCancelled, "err = %v, want ErrCancelled", err)
	n := len(fa.loginCalls())
	assert.Equal(t, 0, n, "%d C_Login calls after a cancelled prompt", n)
}

func TestFinalTry(t *testing.T) {
	ctx := context.Background()
	p := newPrompt(pinAnswer(softhsmtest.DefaultUserPIN)) // does not confirm
	b, fa, k, slot := pinToken(t, p)
	fa.setFlags(slot, p11.CKF_USER_PIN_FINAL_TRY|p11.CKF_USER_PIN_COUNT_LOW)
	_, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.ErrorIs(t, err, hsm.ErrFinalTry, "err = %v, want ErrFinalTry", err)
	n := len(fa.loginCalls())
	require.Equal(t, 0, n, "a PIN was tried on the final try without confirmation (%d C_Login)", n)
	r := p.requests()
	require.Len(t, r, 1, "prompt did not show final try: %+v", r)
	require.True(t, r[0].State.FinalTry, "prompt did not show final try: %+v", r)
	require.True(t, r[0].State.CountLow, "prompt did not show final try: %+v", r)
	// confirmed: the PIN is tried
	b.cfg.PINPrompt = newPrompt(func(req hsm.PINRequest) (hsm.PINResponse, error) {
		return hsm.PINResponse{PIN: []byte(softhsmtest.DefaultUserPIN), ConfirmFinalTry: req.State.FinalTry}, nil
	}).fn
	_, err = b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err, "confirmed final try")
	n = len(fa.loginCalls())
	require.Equal(t, 1, n, "%d C_Login calls, want 1", n)
}

func TestLockedPIN(t *testing.T) {
	p := goodPrompt()
	b, fa, k, slot := pinToken(t, p)
	fa.setFlags(slot, p11.CKF_USER_PIN_LOCKED)
	_, err := b.Sign(context.Background(), k.URI, sha(t, "x"), crypto.SHA256)
	var pe *hsm.PINError
	require.ErrorIs(t, err, hsm.ErrPINLocked, "err = %v, want ErrPINLocked PINError", err)
	require.ErrorAs(t, err, &pe, "err = %v, want ErrPINLocked PINError", err)
	require.True(t, pe.State.Locked, "err = %v, want ErrPINLocked PINError", err)
	require.Empty(t, p.requests(), "prompted or tried a PIN on a locked token")
	require.Empty(t, fa.loginCalls(), "prompted or tried a PIN on a locked token")
}

func TestPINPad(t *testing.T) {
	p := goodPrompt()
	b, fa, k, slot := pinToken(t, p)
	fa.setFlags(slot, p11.CKF_PROTECTED_AUTHENTICATION_PATH)
	_, err := b.Sign(context.Background(), k.URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err, "PIN pad sign")
	assert.Empty(t, p.requests(), "prompted for a PIN on a PIN-pad token")
	got := fa.loginCalls()
	assert.True(t, slices.Equal(got, []string{"user:pad"}), "logins %v, want one C_Login with no PIN", got)
}

func TestAlwaysAuthenticate(t *testing.T) {
	p := goodPrompt()
	b, fa := openTest(t, Config{PINPrompt: p.fn}, true)
	ctx := context.Background()
	k := keysOf(t, b, "always")["rsa-always"]
	_ = b.Lock(ctx, k.TokenURI)
	for i := 0; i < 2; i++ {
		sig, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
		require.NoError(t, err, "sign %d", i)
		require.NoError(t, rsa.VerifyPKCS1v15(k.PublicKey.(*rsa.PublicKey), crypto.SHA256, sha(t, "x"), sig))
	}
	var kinds []hsm.PINKind
	for _, r := range p.requests() {
		kinds = append(kinds, r.Kind)
	}
	assert.True(t, slices.Equal(kinds, []hsm.PINKind{hsm.UserPIN, hsm.ContextPIN, hsm.ContextPIN}), "prompts %v, want user PIN then a key PIN before each use", kinds)
	got := fa.loginCalls()
	assert.True(t, slices.Equal(got, []string{"user", "context", "context"}), "logins %v", got)
	// cancelling the key PIN fails this signature only
	b.cfg.PINPrompt = newPrompt(cancelAnswer).fn
	_, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.ErrorIs(t, err, hsm.ErrCancelled, "cancelled key PIN")
	b.cfg.PINPrompt = p.fn
	_, err = b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err, "after a cancelled key PIN")
}

func TestDeviceRemovedMidSign(t *testing.T) {
	p := goodPrompt()
	b, fa := openTest(t, Config{PINPrompt: p.fn}, true)
	ctx := context.Background()
	k := keysOf(t, b, "beta")[softhsmtest.KeyECDSA]
	_, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err)
	fa.mu.Lock()
	fa.signFault = []error{p11.Error(p11.CKR_DEVICE_REMOVED)}
	fa.mu.Unlock()
	_, err = b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.ErrorIs(t, err, hsm.ErrTokenRemoved, "err = %v, want ErrTokenRemoved naming token beta and CKR_DEVICE_REMOVED", err)
	require.ErrorContains(t, err, `"beta"`, "err = %v, want ErrTokenRemoved naming token beta and CKR_DEVICE_REMOVED", err)
	require.ErrorContains(t, err, "CKR_DEVICE_REMOVED", "err = %v, want ErrTokenRemoved naming token beta and CKR_DEVICE_REMOVED", err)
	// the same backend works again (the token answered the rescan)
	sig, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err, "after removal")
	require.True(t, ecdsa.VerifyASN1(k.PublicKey.(*ecdsa.PublicKey), sha(t, "x"), sig), "after removal")
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
	require.NoError(t, err)
	k := keysOf(t, b, "removal")["ecdsa"]
	_, err = b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err)
	ki, ok := b.CachedKey(k.URI)
	require.True(t, ok, "CachedKey after sign = %v, want the key with its certificate", ok)
	require.NotNil(t, ki.Certificate, "CachedKey after sign = %v, want the key with its certificate", ok)
	tok := fx.removal.Token

	// pulled out while in use
	require.NoError(t, tok.Unplug())
	_, err = b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.ErrorIs(t, err, hsm.ErrTokenRemoved, "sign on pulled token: %v, want ErrTokenRemoved naming it", err)
	require.ErrorContains(t, err, `"removal"`, "sign on pulled token: %v, want ErrTokenRemoved naming it", err)
	_, ok = b.CachedKey(k.URI)
	assert.False(t, ok, "CachedKey of a pulled token's key reported a key")
	// fails fast again, naming it
	_, err = b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.ErrorIs(t, err, hsm.ErrTokenRemoved, "second sign")
	require.ErrorContains(t, err, `"removal"`, "second sign")
	waitEvent(t, events, "removal", true)
	assert.True(t, b.Handles(k.URI), "backend should still handle the URI of a removed token")

	// put back (same serial and keys): SoftHSM needs re-initialising to see it
	require.NoError(t, tok.Replug())
	stopWatch()
	for range events { // wait for the watcher to stop
	}
	reinitModule(t)
	wctx, stopWatch = context.WithCancel(ctx)
	events, err = b.Watch(wctx)
	require.NoError(t, err)
	sig, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err, "after re-insertion")
	require.True(t, ecdsa.VerifyASN1(k.PublicKey.(*ecdsa.PublicKey), sha(t, "x"), sig), "after re-insertion")
	waitEvent(t, events, "removal", false)
	stopWatch()
	for range events {
	}

	// deleted and re-created with the same label (new serial, new key)
	require.NoError(t, tok.Recreate())
	_, err = b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.ErrorIs(t, err, hsm.ErrTokenRemoved, "sign on deleted token")
	require.ErrorContains(t, err, `"removal"`, "sign on deleted token")
	// (with a certificate, as the fixture had, so the test can run again: -count)
	nk, err := tok.AddKeyWithCert(fx.removal.PKI, softhsmtest.KeySpec{Label: "ecdsa", ID: []byte{0x31}, Type: softhsmtest.ECP256}, softhsmtest.IssueOptions{})
	require.NoError(t, err)
	reinitModule(t)
	byLabel := "pkcs11:token=removal;object=ecdsa;type=private"
	sig, err = b.Sign(ctx, byLabel, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err, "after re-creation")
	require.True(t, ecdsa.VerifyASN1(nk.Public.(*ecdsa.PublicKey), sha(t, "x"), sig), "after re-creation")
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
				assert.NoError(t, err)
			}
		})
	}
	for slot, n := range fa.maxSessions() {
		assert.False(t, n > 4, "slot %d had %d sessions open, cap 4", slot, n)
	}
	assert.False(t, len(p.requests()) > 2, "%d PIN prompts for two tokens under concurrency", len(p.requests()))
	// no leak: closing the backend closes every session it opened
	b.Close()
	fa.mu.Lock()
	defer fa.mu.Unlock()
	for slot, n := range fa.open {
		assert.Equal(t, 0, n, "slot %d: %d sessions left open after Close", slot, n)
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
	require.NoError(t, err)
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
	err = <-done
	require.ErrorIs(t, err, hsm.ErrCancelled, "err = %v, want ErrCancelled", err)
	require.ErrorIs(t, err, context.Canceled, "err = %v, want ErrCancelled", err)
	pl.put(h, false)
	_, err = b.Sign(context.Background(), k.URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err, "after the cancelled wait")
	_, err = b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.ErrorIs(t, err, hsm.ErrCancelled, "sign with a cancelled context: %v, want ErrCancelled", err)
}

func TestPoolFIFO(t *testing.T) {
	setup(t)
	b, fa := openTest(t, Config{MaxSessions: 1}, true)
	slot := slotOf(t, b, "gen")
	pl := newPool(fa, slot, "gen", 1)
	defer pl.shutdown(errPoolClosed)
	h, err := pl.get(context.Background())
	require.NoError(t, err)
	order := make(chan int, 5)
	for i := 0; i < 5; i++ {
		go func() {
			h, err := pl.get(context.Background())
			if !assert.NoError(t, err) {
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
		got := <-order
		require.Equal(t, i, got, "waiter %d served at position %d", got, i)
	}
}

func TestParsePublicKeyForms(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	wrapped := append([]byte{0x04, 0x20}, pub...)
	for _, params := range [][]byte{derOIDEd25519, derNameEd25519} {
		for _, point := range [][]byte{pub, wrapped} {
			got, err := ecPublic(params, point)
			if assert.NoError(t, err, "ecPublic(%x, %d bytes) = %v", params, len(point), got) {
				assert.True(t, pub.Equal(got), "ecPublic(%x, %d bytes) = %v", params, len(point), got)
			}
		}
	}
	_, err := ecPublic([]byte{0x06, 0x01, 0x00}, pub)
	assert.Error(t, err, "unknown curve accepted")
}

func TestKnownModules(t *testing.T) {
	for _, goos := range []string{"linux", "darwin", "windows"} {
		mods := strings.Join(KnownModules(goos), "\n")
		for _, want := range []string{"softhsm", "opensc", "rtpkcs11ecp", "jcPKCS11-2", "eTPkcs11", "avpkcs11"} {
			assert.Contains(t, strings.ToLower(mods), strings.ToLower(want), "%s: no %s module", goos, want)
		}
	}
	if runtime.GOOS == "linux" {
		found := false
		for _, p := range Probe() {
			if strings.Contains(p, "libsofthsm2.so") {
				found = true
			}
		}
		assert.True(t, found, "Probe() = %v, want SoftHSM", Probe())
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
		_, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
		require.NoError(t, err)
	}
	sign()
	sign()
	n := len(p.requests())
	require.Equal(t, 1, n, "%d prompts for two signatures, want 1 (login cached)", n)
	require.NoError(t, b.Lock(ctx, k.TokenURI))
	sign()
	n = len(p.requests())
	require.Equal(t, 2, n, "%d prompts after Lock, want 2", n)
	// the PIN slices handed to the backend were wiped
	mu.Lock()
	for _, pin := range pins {
		assert.Empty(t, strings.Trim(string(pin), "\x00"), "PIN slice not wiped: %q", pin)
	}
	mu.Unlock()

	// idle timeout: a login unused for longer than the policy is dropped
	b2, _ := openTest(t, Config{PINPrompt: p.fn, Login: hsm.LoginPolicy{IdleTimeout: 30 * time.Millisecond}, PollInterval: 10 * time.Millisecond}, false)
	_ = b.Lock(ctx, k.TokenURI)
	before := len(p.requests())
	_, err := b2.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	_, err = b2.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err)
	n = len(p.requests()) - before
	require.Equal(t, 2, n, "%d prompts across an idle timeout, want 2", n)
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
		_, err = x509.MarshalPKIXPublicKey(k)
		require.NoError(t, err, "accepted key does not re-encode")
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
	_, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err)
	before := len(p.requests())
	reinitModule(t)
	sig, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err, "after re-initialisation")
	require.NoError(t, rsa.VerifyPKCS1v15(k.PublicKey.(*rsa.PublicKey), crypto.SHA256, sha(t, "x"), sig))
	n := len(p.requests()) - before
	assert.Equal(t, 1, n, "%d prompts after re-initialisation, want 1 (the login was lost)", n)
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
			require.NoError(t, err, "ecdsaDER(%x) = %x, %v; want %x", raw, got, err, want)
			require.Equal(t, want, got, "ecdsaDER(%x) = %x, %v; want %x", raw, got, err, want)
		}
	}
	_, err := ecdsaDER(make([]byte, 3))
	assert.Error(t, err, "odd length accepted")
}

// An object the backend cannot parse is skipped and reported; the listing
// goes on.
func TestOddObjectSkipped(t *testing.T) {
	p := goodPrompt()
	b, _ := openTest(t, Config{PINPrompt: p.fn}, false)
	ctx := context.Background()
	k := keysOf(t, b, "beta")[softhsmtest.KeyRSA]
	_, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256) // log in
	require.NoError(t, err)
	s, err := b.findToken(&hsm.URI{Token: "beta"})
	require.NoError(t, err)
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
	require.NoError(t, err)
	defer s.pool.withSession(ctx, func(h p11.SessionHandle) error { return b.api.DestroyObject(h, odd) })
	keys := keysOf(t, b, "beta")
	require.Len(t, keys, 3, "listing with an odd object: %v", keys)
	require.NotEmpty(t, keys[softhsmtest.KeyEd25519].URI, "listing with an odd object: %v", keys)
	_, ok := keys["garbage"]
	assert.False(t, ok, "garbage object listed")
	probs := b.Problems()
	if assert.Len(t, probs, 1, "problems: %v", probs) {
		assert.Contains(t, probs[0], "beta", "problems: %v", probs)
	}
}

func TestCachedKey(t *testing.T) {
	p := goodPrompt()
	b, _ := openTest(t, Config{PINPrompt: p.fn}, false)
	ctx := context.Background()
	k := keysOf(t, b, "alpha")[softhsmtest.KeyECDSA]
	_, ok := b.CachedKey(k.URI)
	require.False(t, ok, "CachedKey before any use reported a key")
	_, err := b.Sign(ctx, k.URI, sha(t, "x"), crypto.SHA256)
	require.NoError(t, err)
	got, ok := b.CachedKey(k.URI)
	want := fx.alpha.Keys[softhsmtest.KeyECDSA].Certificate
	require.True(t, ok, "CachedKey after sign = %+v, %v; want the certificate with serial %x", got.Certificate, ok, want.SerialNumber)
	require.NotNil(t, got.Certificate, "CachedKey after sign = %+v, %v; want the certificate with serial %x", got.Certificate, ok, want.SerialNumber)
	require.Zero(t, got.Certificate.SerialNumber.Cmp(want.SerialNumber), "CachedKey after sign = %+v, %v; want the certificate with serial %x", got.Certificate, ok, want.SerialNumber)
	if assert.NotNil(t, got.PublicKey, "CachedKey = %+v, want URI, public key and private key flag", got) {
		if assert.True(t, got.HasPrivateKey, "CachedKey = %+v, want URI, public key and private key flag", got) {
			assert.NotEmpty(t, got.URI, "CachedKey = %+v, want URI, public key and private key flag", got)
		}
	}
}
