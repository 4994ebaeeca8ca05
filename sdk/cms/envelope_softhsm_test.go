package cms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
	hsmp11 "github.com/signet-agent/signet/hsm/pkcs11"

	"github.com/signet-agent/signet/internal/softhsmtest"
)

// Decryption with keys that live on a real SoftHSM2 token. The token keys
// are driven with raw PKCS#11 (github.com/miekg/pkcs11) here, independent of
// the hsm/pkcs11 backend: RSA through C_Decrypt (CKM_RSA_PKCS,
// CKM_RSA_PKCS_OAEP) behind crypto.Decrypter, and EC through
// CKM_ECDH1_DERIVE behind KeyAgreer, the way the hsm layer is meant to
// implement it (see the KeyAgreer documentation).

// envSoftHSMEnv returns the package's shared SoftHSM environment when a
// TestMain ran softhsmtest.Main, else a private one for this test, removed
// when it ends. SOFTHSM2_CONF is read once per process, at C_Initialize, so
// the private one works only if nothing in this test binary initialised the
// module before.
func envSoftHSMEnv(t *testing.T) *softhsmtest.Env {
	t.Helper()
	if env := envSharedSoftHSM(); env != nil {
		return env
	}
	env, err := softhsmtest.NewEnv(t.TempDir())
	require.NoError(t, err, "SoftHSM env")
	t.Setenv("SOFTHSM2_CONF", env.ConfPath)
	return env
}

func envSharedSoftHSM() (env *softhsmtest.Env) {
	defer func() {
		if recover() != nil {
			env = nil
		}
	}()
	return softhsmtest.Shared()
}

// envP11Session is one logged-in session on a token.
type envP11Session struct {
	mu  sync.Mutex
	ctx *p11.Ctx
	sh  p11.SessionHandle
}

func envOpenP11(t *testing.T, label, pin string) *envP11Session {
	t.Helper()
	ctx := p11.New(softhsmtest.Module())
	require.NotNil(t, ctx, "load PKCS#11 module %s", softhsmtest.Module())
	if err := ctx.Initialize(); err != nil {
		var pe p11.Error
		require.ErrorAs(t, err, &pe, "C_Initialize")
		require.EqualValues(t, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED, pe, "C_Initialize")
	}
	slots, err := ctx.GetSlotList(true)
	require.NoError(t, err, "C_GetSlotList")
	var slot uint
	found := false
	for _, s := range slots {
		ti, err := ctx.GetTokenInfo(s)
		if err == nil && strings.TrimRight(ti.Label, " \x00") == label {
			slot, found = s, true
			break
		}
	}
	require.True(t, found, "token %q not visible (module initialised before the token was created?)", label)
	sh, err := ctx.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	require.NoError(t, err, "C_OpenSession")
	if err := ctx.Login(sh, p11.CKU_USER, pin); err != nil {
		var pe p11.Error
		require.True(t, errors.As(err, &pe) && pe == p11.CKR_USER_ALREADY_LOGGED_IN, "C_Login failed") // no PIN in the message
	}
	// No C_Logout (login state is per token, shared with any other user of
	// the module in this process) and no C_Finalize (hsm/pkcs11 keeps the
	// module initialised for the whole process, by design).
	t.Cleanup(func() { ctx.CloseSession(sh) })
	return &envP11Session{ctx: ctx, sh: sh}
}

func (s *envP11Session) privateKey(t *testing.T, id []byte) p11.ObjectHandle {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	tmpl := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_ID, id),
	}
	require.NoError(t, s.ctx.FindObjectsInit(s.sh, tmpl), "C_FindObjectsInit")
	objs, _, err := s.ctx.FindObjects(s.sh, 2)
	s.ctx.FindObjectsFinal(s.sh)
	require.NoError(t, err, "find private key %x: %d objects", id, len(objs))
	require.Len(t, objs, 1, "find private key %x: %d objects", id, len(objs))
	return objs[0]
}

// envTokenRSA is a crypto.Decrypter whose private key stays on the token.
type envTokenRSA struct {
	s    *envP11Session
	h    p11.ObjectHandle
	pub  *rsa.PublicKey
	opts []crypto.DecrypterOpts
}

func (k *envTokenRSA) Public() crypto.PublicKey { return k.pub }

func (k *envTokenRSA) Decrypt(_ io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	k.opts = append(k.opts, opts)
	var mech *p11.Mechanism
	switch o := opts.(type) {
	case nil:
		mech = p11.NewMechanism(p11.CKM_RSA_PKCS, nil)
	case *rsa.OAEPOptions:
		hashMech := map[crypto.Hash][2]uint{
			crypto.SHA1:   {p11.CKM_SHA_1, p11.CKG_MGF1_SHA1},
			crypto.SHA256: {p11.CKM_SHA256, p11.CKG_MGF1_SHA256},
		}
		h, ok1 := hashMech[o.Hash]
		m, ok2 := hashMech[o.MGFHash]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("token RSA: OAEP hash %v/%v not supported", o.Hash, o.MGFHash)
		}
		mech = p11.NewMechanism(p11.CKM_RSA_PKCS_OAEP, p11.NewOAEPParams(h[0], m[1], p11.CKZ_DATA_SPECIFIED, o.Label))
	default:
		return nil, fmt.Errorf("token RSA: options %T not supported", opts)
	}
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	if err := k.s.ctx.DecryptInit(k.s.sh, []*p11.Mechanism{mech}, k.h); err != nil {
		var pe p11.Error
		if errors.As(err, &pe) && (pe == p11.CKR_ARGUMENTS_BAD || pe == p11.CKR_MECHANISM_PARAM_INVALID || pe == p11.CKR_MECHANISM_INVALID) {
			return nil, fmt.Errorf("token RSA: C_DecryptInit: %w: %w", hsm.ErrUnsupported, err)
		}
		return nil, fmt.Errorf("token RSA: C_DecryptInit: %w", err)
	}
	out, err := k.s.ctx.Decrypt(k.s.sh, msg)
	if err != nil {
		var pe p11.Error
		if errors.As(err, &pe) && (pe == p11.CKR_ENCRYPTED_DATA_INVALID || pe == p11.CKR_ENCRYPTED_DATA_LEN_RANGE) {
			return nil, rsa.ErrDecryption
		}
		return nil, fmt.Errorf("token RSA: C_Decrypt: %w", err)
	}
	return out, nil
}

// envTokenECDH is a KeyAgreer whose private key stays on the token:
// CKM_ECDH1_DERIVE into a short-lived extractable generic secret.
type envTokenECDH struct {
	s     *envP11Session
	h     p11.ObjectHandle
	pub   *ecdsa.PublicKey
	calls int
}

func (k *envTokenECDH) Public() crypto.PublicKey { return k.pub }

func (k *envTokenECDH) ECDH(peer *ecdh.PublicKey) ([]byte, error) {
	k.calls++
	size := (k.pub.Curve.Params().BitSize + 7) / 8
	mech := p11.NewMechanism(p11.CKM_ECDH1_DERIVE, p11.NewECDH1DeriveParams(p11.CKD_NULL, nil, peer.Bytes()))
	tmpl := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_GENERIC_SECRET),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_SENSITIVE, false),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
		p11.NewAttribute(p11.CKA_VALUE_LEN, size),
	}
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	h, err := k.s.ctx.DeriveKey(k.s.sh, []*p11.Mechanism{mech}, k.h, tmpl)
	if err != nil {
		return nil, fmt.Errorf("token ECDH: C_DeriveKey: %w", err)
	}
	defer k.s.ctx.DestroyObject(k.s.sh, h)
	attrs, err := k.s.ctx.GetAttributeValue(k.s.sh, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
	if err != nil || len(attrs) != 1 {
		return nil, fmt.Errorf("token ECDH: read derived value: %v", err)
	}
	return attrs[0].Value, nil
}

// envSoftHSMChildEnv marks the child process that runs the SoftHSM test.
const envSoftHSMChildEnv = "SIGNET_CMS_ENVELOPE_SOFTHSM_CHILD"

// TestDecryptWithSoftHSMKeys runs its body in a child process (this test
// binary again, with -test.run): SoftHSM 2.6 fixes its token list at
// C_Initialize and hsm/pkcs11 never finalises the module, so a token this
// test creates after another test initialised the module would be
// invisible here, and the tokens other tests create after this one would be
// invisible to them. The child has its own SOFTHSM2_CONF (TestMain).
func TestDecryptWithSoftHSMKeys(t *testing.T) {
	if os.Getenv(envSoftHSMChildEnv) != "1" {
		envRunChild(t, "TestDecryptWithSoftHSMKeys")
		return
	}
	envDecryptWithSoftHSMKeys(t)
}

func envRunChild(t *testing.T, name string) {
	t.Helper()
	args := []string{"-test.run=^" + name + "$", "-test.v", "-test.count=1"}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envSoftHSMChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child test process: %v\n%s", err, out)
	require.True(t, bytes.Contains(out, []byte("--- PASS: "+name)), "child test process did not run %s:\n%s", name, out)
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "--- ") || strings.Contains(line, "envelope_softhsm_test.go") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

func envDecryptWithSoftHSMKeys(t *testing.T) {
	env := envSoftHSMEnv(t)
	if err := env.CheckTools(); err != nil {
		t.Skipf("SoftHSM tools: %v", err)
	}
	const label = "cms-envelope"
	fx, err := softhsmtest.NewFixture(env, label, softhsmtest.DefaultUserPIN, softhsmtest.DefaultSOPIN, []softhsmtest.KeySpec{
		{Label: "rsa", ID: []byte{0x11}, Type: softhsmtest.RSA2048},
		{Label: "p256", ID: []byte{0x12}, Type: softhsmtest.ECP256},
		{Label: "p384", ID: []byte{0x13}, Type: softhsmtest.ECP384},
	})
	if fx != nil {
		t.Cleanup(func() { fx.Token.Remove() })
	}
	require.NoError(t, err, "SoftHSM fixture")
	rsaKey := fx.Keys["rsa"]
	content := envContent(3000)

	t.Run("hsm/pkcs11 backend", func(t *testing.T) {
		// The production path: hsm/pkcs11.Backend.Decrypt behind a
		// crypto.Decrypter, with the PIN asked through the prompt.
		prompts := 0
		be, err := hsmp11.Open(hsmp11.Config{
			Module: softhsmtest.Module(),
			PINPrompt: func(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
				prompts++
				return hsm.PINResponse{PIN: []byte(softhsmtest.DefaultUserPIN)}, nil
			},
		})
		require.NoError(t, err, "open backend")
		defer be.Close()
		keys, err := be.Keys(context.Background())
		require.NoError(t, err, "Keys")
		var ki *hsm.KeyInfo
		for i := range keys {
			if keys[i].Certificate != nil && keys[i].Certificate.Equal(rsaKey.Certificate) {
				ki = &keys[i]
			}
		}
		require.NotNil(t, ki, "RSA key with certificate not listed as a decryption key: %+v", ki)
		require.True(t, ki.CanDecrypt, "RSA key with certificate not listed as a decryption key: %+v", ki)
		dec := &envHSMDecrypter{b: be, uri: ki.URI, pub: ki.PublicKey}
		for _, kt := range []KeyTransport{RSAPKCS1v15, RSAOAEPSHA1} {
			for _, ce := range []ContentEncryption{AES256CBC, AES256GCM} {
				der, err := Encrypt(content, []*x509.Certificate{ki.Certificate}, EncryptOptions{RSAKeyTransport: kt, ContentEncryption: ce})
				require.NoError(t, err)
				got, err := Decrypt(der, ki.Certificate, dec)
				require.NoError(t, err, "transport %d, cipher %d: Decrypt through hsm/pkcs11", kt, ce)
				require.Equal(t, content, got, "transport %d, cipher %d: Decrypt through hsm/pkcs11", kt, ce)
			}
		}
		assert.Equal(t, 1, prompts, "PIN prompted %d times, want 1 (lazy login, kept)", prompts)
		// A tampered encrypted key must never yield content.
		der, err := Encrypt(content, []*x509.Certificate{ki.Certificate}, EncryptOptions{RSAKeyTransport: RSAOAEPSHA1})
		require.NoError(t, err)
		env, err := parseEnvelopedData(der)
		require.NoError(t, err)
		ri := env.recipients[0]
		bad := append([]byte{}, der...)
		bad[bytes.Index(der, ri)+len(ri)-5] ^= 0x40
		_, err = Decrypt(bad, ki.Certificate, dec)
		require.ErrorIs(t, err, ErrDecryptionFailed, "tampered key through hsm/pkcs11: err = %v, want the bare ErrDecryptionFailed", err)
		require.Equal(t, ErrDecryptionFailed.Error(), err.Error(), "tampered key through hsm/pkcs11: err = %v, want the bare ErrDecryptionFailed", err)
		// OAEP with SHA-256: SoftHSM 2.6 refuses the mechanism parameters.
		der, err = Encrypt(content, []*x509.Certificate{ki.Certificate}, EncryptOptions{RSAKeyTransport: RSAOAEPSHA256})
		require.NoError(t, err)
		if got, err := Decrypt(der, ki.Certificate, dec); err != nil {
			require.ErrorIs(t, err, hsm.ErrUnsupported, "OAEP SHA-256 through hsm/pkcs11")
		} else {
			require.Equal(t, content, got, "OAEP SHA-256 through hsm/pkcs11: wrong content")
		}

		// A dismissed PIN prompt comes out as hsm.ErrCancelled.
		cancelled, err := hsmp11.Open(hsmp11.Config{
			Module: softhsmtest.Module(),
			PINPrompt: func(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
				return hsm.PINResponse{}, fmt.Errorf("person closed the dialog: %w", hsm.ErrCancelled)
			},
		})
		require.NoError(t, err)
		defer cancelled.Close()
		require.NoError(t, be.Lock(context.Background(), ki.TokenURI), "Lock")
		der, _ = Encrypt(content, []*x509.Certificate{ki.Certificate}, EncryptOptions{})
		_, err = Decrypt(der, ki.Certificate, &envHSMDecrypter{b: cancelled, uri: ki.URI, pub: ki.PublicKey})
		require.ErrorIs(t, err, hsm.ErrCancelled, "cancelled PIN prompt: err = %v, want hsm.ErrCancelled", err)
	})

	s := envOpenP11(t, label, softhsmtest.DefaultUserPIN)
	tokRSA := &envTokenRSA{s: s, h: s.privateKey(t, rsaKey.ID), pub: rsaKey.Public.(*rsa.PublicKey)}

	t.Run("RSA", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			kt   KeyTransport
		}{{"PKCS1v15", RSAPKCS1v15}, {"OAEP SHA-1", RSAOAEPSHA1}} {
			t.Run(tc.name, func(t *testing.T) {
				der, err := Encrypt(content, []*x509.Certificate{rsaKey.Certificate}, EncryptOptions{RSAKeyTransport: tc.kt})
				require.NoError(t, err)
				got, err := Decrypt(der, rsaKey.Certificate, tokRSA)
				require.NoError(t, err, "Decrypt with token key")
				require.Equal(t, content, got, "Decrypt with token key")
			})
		}
		t.Run("OAEP SHA-256 is refused by SoftHSM 2.6", func(t *testing.T) {
			// SoftHSM 2.6 implements CKM_RSA_PKCS_OAEP with SHA-1 only;
			// the error is the token's, wrapped, not a decryption failure.
			der, err := Encrypt(content, []*x509.Certificate{rsaKey.Certificate}, EncryptOptions{RSAKeyTransport: RSAOAEPSHA256})
			require.NoError(t, err)
			got, err := Decrypt(der, rsaKey.Certificate, tokRSA)
			if err == nil {
				require.Equal(t, content, got, "wrong content")
				t.Log("this SoftHSM build does OAEP with SHA-256")
				return
			}
			var pe p11.Error
			require.ErrorIs(t, err, hsm.ErrUnsupported, "err = %v, want hsm.ErrUnsupported wrapping the token's PKCS#11 error", err)
			require.ErrorAs(t, err, &pe, "err = %v, want hsm.ErrUnsupported wrapping the token's PKCS#11 error", err)
			t.Logf("SoftHSM: %v", err)
		})
		t.Run("OpenSSL-encrypted", func(t *testing.T) {
			envNeedOpenSSL(t)
			dir := t.TempDir()
			certPath := dir + "/rsa.crt"
			require.NoError(t, os.WriteFile(certPath, envPEMCert(rsaKey.Certificate), 0o600))
			der := envOpenSSL(t, content, "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-recip", certPath)
			got, err := Decrypt(der, rsaKey.Certificate, tokRSA)
			require.NoError(t, err, "Decrypt with token key")
			require.Equal(t, content, got, "Decrypt with token key")
		})
	})

	for _, name := range []string{"p256", "p384"} {
		t.Run("ECDH "+name, func(t *testing.T) {
			k := fx.Keys[name]
			tok := &envTokenECDH{s: s, h: s.privateKey(t, k.ID), pub: k.Public.(*ecdsa.PublicKey)}
			der, err := Encrypt(content, []*x509.Certificate{k.Certificate, rsaKey.Certificate}, EncryptOptions{})
			require.NoError(t, err)
			got, err := Decrypt(der, k.Certificate, tok)
			require.NoError(t, err, "Decrypt with token ECDH")
			require.Equal(t, content, got, "Decrypt with token ECDH")
			require.Equal(t, 1, tok.calls, "ECDH called %d times", tok.calls)
			if _, err := exec.LookPath("openssl"); err == nil {
				dir := t.TempDir()
				certPath := dir + "/ec.crt"
				require.NoError(t, os.WriteFile(certPath, envPEMCert(k.Certificate), 0o600))
				der := envOpenSSL(t, content, "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-recip", certPath)
				got, err := Decrypt(der, k.Certificate, tok)
				require.NoError(t, err, "Decrypt OpenSSL's envelope with token ECDH")
				require.Equal(t, content, got, "Decrypt OpenSSL's envelope with token ECDH")
			}
		})
	}
}

func envPEMCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// envHSMDecrypter is the crypto.Decrypter a host builds over an
// hsm.Decrypter: the key stays on the token, only Decrypt crosses.
type envHSMDecrypter struct {
	b   hsm.Decrypter
	uri string
	pub crypto.PublicKey
}

func (d *envHSMDecrypter) Public() crypto.PublicKey { return d.pub }

func (d *envHSMDecrypter) Decrypt(_ io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	return d.b.Decrypt(context.Background(), d.uri, msg, opts)
}
