package pfx

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/softhsmtest"
)

// prompter answers password prompts from a list and records the requests.
type prompter struct {
	mu       sync.Mutex
	answers  []string // "" with cancel set means cancel
	cancelAt int      // 1-based call that cancels; 0 never
	reqs     []hsm.PINRequest
}

func (p *prompter) prompt(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, req)
	n := len(p.reqs)
	if n == p.cancelAt {
		return hsm.PINResponse{}, fmt.Errorf("dialog closed: %w", hsm.ErrCancelled)
	}
	if len(p.answers) == 0 {
		return hsm.PINResponse{}, fmt.Errorf("test prompter: no more answers: %w", hsm.ErrCancelled)
	}
	a := p.answers[0]
	if len(p.answers) > 1 {
		p.answers = p.answers[1:]
	}
	return hsm.PINResponse{PIN: []byte(a)}, nil
}

func (p *prompter) calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.reqs)
}

func noPrompt(t *testing.T) hsm.PINPrompt {
	return func(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
		t.Errorf("unexpected password prompt for %s", req.Token.URI)
		return hsm.PINResponse{}, hsm.ErrCancelled
	}
}

var (
	pkiOnce sync.Once
	testPKI *softhsmtest.PKI
	pkiErr  error
)

func newKey(t *testing.T, typ, cn string) *softhsmtest.SoftwareKey {
	t.Helper()
	pkiOnce.Do(func() { testPKI, pkiErr = softhsmtest.NewPKI("PFX Test") })
	require.NoError(t, pkiErr)
	k, err := testPKI.NewSoftwareKey(typ, softhsmtest.IssueOptions{Subject: pkix.Name{CommonName: cn}})
	require.NoError(t, err)
	return k
}

func writePFX(t *testing.T, path string, k *softhsmtest.SoftwareKey, pw string, enc softhsmtest.PFXEncoding) {
	t.Helper()
	require.NoError(t, k.WritePFX(path, pw, enc))
}

// writeOpenSSLPFX makes a PFX with openssl pkcs12 -export and friendlyName
// alias; the password goes through the environment.
func writeOpenSSLPFX(t *testing.T, path string, k *softhsmtest.SoftwareKey, alias, pw string, extra ...string) {
	t.Helper()
	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	require.NoError(t, err)
	keyPEM := filepath.Join(dir, "key.pem")
	certPEM := filepath.Join(dir, "cert.pem")
	chainPEM := filepath.Join(dir, "chain.pem")
	require.NoError(t, os.WriteFile(keyPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Certificate.Raw}), 0o600))
	var chain []byte
	for _, c := range k.Chain {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	require.NoError(t, os.WriteFile(chainPEM, chain, 0o600))
	args := append([]string{"pkcs12", "-export", "-inkey", keyPEM, "-in", certPEM, "-certfile", chainPEM,
		"-name", alias, "-passout", "env:PFXPW", "-out", path}, extra...)
	cmd := exec.Command("openssl", args...)
	cmd.Env = append(os.Environ(), "PFXPW="+pw)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "openssl %v: %v\n%s", args, err, out)
}

func openBackend(t *testing.T, cfg Config) *Backend {
	t.Helper()
	b, err := Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	return b
}

func keysOf(t *testing.T, b *Backend) []hsm.KeyInfo {
	t.Helper()
	keys, err := b.Keys(context.Background())
	require.NoError(t, err, "Keys")
	return keys
}

func onlyKey(t *testing.T, b *Backend) hsm.KeyInfo {
	t.Helper()
	keys := keysOf(t, b)
	require.Len(t, keys, 1, "want 1 key, got %d: %+v", len(keys), keys)
	return keys[0]
}

// signAndVerify signs a message with uri and verifies with the standard
// library against pub.
func signAndVerify(t *testing.T, b hsm.KeyStore, uri string, pub crypto.PublicKey) {
	t.Helper()
	ctx := context.Background()
	msg := []byte("signet pfx test message")
	d := sha256.Sum256(msg)
	switch p := pub.(type) {
	case *rsa.PublicKey:
		sig, err := b.Sign(ctx, uri, d[:], crypto.SHA256)
		require.NoError(t, err)
		require.NoError(t, rsa.VerifyPKCS1v15(p, crypto.SHA256, d[:], sig))
		pss := &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}
		sig, err = b.Sign(ctx, uri, d[:], pss)
		require.NoError(t, err)
		require.NoError(t, rsa.VerifyPSS(p, crypto.SHA256, d[:], sig, pss))
	case *ecdsa.PublicKey:
		sig, err := b.Sign(ctx, uri, d[:], crypto.SHA256)
		require.NoError(t, err)
		require.True(t, ecdsa.VerifyASN1(p, d[:], sig), "ECDSA signature does not verify")
	case ed25519.PublicKey:
		sig, err := b.Sign(ctx, uri, msg, crypto.Hash(0))
		require.NoError(t, err)
		require.True(t, ed25519.Verify(p, msg, sig), "Ed25519 signature does not verify")
	default:
		t.Fatalf("no public key (%T)", pub)
	}
}

func TestEncodings(t *testing.T) {
	for _, enc := range []softhsmtest.PFXEncoding{softhsmtest.Legacy, softhsmtest.LegacyDES, softhsmtest.Modern} {
		for _, typ := range []string{softhsmtest.RSA2048, softhsmtest.ECP256, softhsmtest.Ed25519} {
			t.Run(enc.String()+"/"+typ, func(t *testing.T) {
				dir := t.TempDir()
				k := newKey(t, typ, "Holder "+typ)
				path := filepath.Join(dir, "key.pfx")
				writePFX(t, path, k, "s3cret", enc)
				p := &prompter{answers: []string{"s3cret"}}
				b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: p.prompt})

				toks, err := b.Tokens(context.Background())
				require.NoError(t, err)
				require.Len(t, toks, 1, "tokens: %+v", toks)
				require.Equal(t, "file://"+path, toks[0].URI, "tokens: %+v", toks)
				require.True(t, toks[0].Flags.LoginRequired, "tokens: %+v", toks)
				require.Equal(t, "pfx", toks[0].Backend, "tokens: %+v", toks)
				// Locked: the certificates are encrypted, the key bag is visible.
				ki := onlyKey(t, b)
				require.True(t, ki.HasPrivateKey, "locked listing: %+v", ki)
				require.Nil(t, ki.Certificate, "locked listing: %+v", ki)
				require.Equal(t, toks[0].URI, ki.TokenURI, "locked listing: %+v", ki)
				require.True(t, strings.HasPrefix(ki.URI, "file://"+path+"#"), "key URI %q", ki.URI)
				require.Equal(t, 0, p.calls(), "listing prompted")
				signAndVerify(t, b, ki.URI, k.Key.Public())
				require.Equal(t, 1, p.calls(), "prompted %d times, want 1", p.calls())
				req := p.reqs[0]
				require.Equal(t, hsm.Password, req.Kind, "prompt request: %+v", req)
				require.Equal(t, toks[0].URI, req.Token.URI, "prompt request: %+v", req)
				require.NotNil(t, req.Key, "prompt request: %+v", req)
				require.Equal(t, ki.URI, req.Key.URI, "prompt request: %+v", req)
				require.Equal(t, 1, req.Attempt, "prompt request: %+v", req)
				// Unlocked: same URI, now with certificate and chain.
				after := onlyKey(t, b)
				require.Equal(t, ki.URI, after.URI, "URI changed on unlock: %q -> %q", ki.URI, after.URI)
				require.NotNil(t, after.Certificate, "unlocked listing: cert %v chain %d", after.Certificate != nil, len(after.Chain))
				require.True(t, after.Certificate.Equal(k.Certificate), "unlocked listing: cert %v chain %d", after.Certificate != nil, len(after.Chain))
				require.Len(t, after.Chain, 2, "unlocked listing: cert %v chain %d", after.Certificate != nil, len(after.Chain))
				require.True(t, after.Chain[0].Equal(k.Chain[0]), "unlocked listing: cert %v chain %d", after.Certificate != nil, len(after.Chain))
				require.True(t, after.Chain[1].Equal(k.Chain[1]), "unlocked listing: cert %v chain %d", after.Certificate != nil, len(after.Chain))
				require.NotEmpty(t, after.Algorithm, "algorithm not known after unlock: %+v", after)
				require.NotEqual(t, 0, after.Bits, "algorithm not known after unlock: %+v", after)
				// A new backend (a restart) names the key the same way.
				b2 := openBackend(t, Config{Files: []string{path}})
				got := onlyKey(t, b2).URI
				require.Equal(t, ki.URI, got, "URI not stable across restarts: %q vs %q", got, ki.URI)
			})
		}
	}
}

func TestEmptyPasswordListsWithoutPrompt(t *testing.T) {
	for _, enc := range []softhsmtest.PFXEncoding{softhsmtest.Legacy, softhsmtest.Modern} {
		t.Run(enc.String(), func(t *testing.T) {
			dir := t.TempDir()
			k := newKey(t, softhsmtest.ECP256, "Empty Password")
			writePFX(t, filepath.Join(dir, "open.p12"), k, "", enc)
			b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: noPrompt(t)})
			ki := onlyKey(t, b)
			require.NotNil(t, ki.Certificate, "listing: %+v", ki)
			require.True(t, ki.Certificate.Equal(k.Certificate), "listing: %+v", ki)
			require.Len(t, ki.Chain, 2, "listing: %+v", ki)
			require.Equal(t, hsm.ECDSA, ki.Algorithm, "listing: %+v", ki)
			require.Equal(t, 256, ki.Bits, "listing: %+v", ki)
			toks, _ := b.Tokens(context.Background())
			require.False(t, toks[0].Flags.LoginRequired, "empty-password file reported as needing a login")
			signAndVerify(t, b, ki.URI, k.Key.Public())
		})
	}
}

func TestOpenSSLFileWithFriendlyName(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, softhsmtest.RSA2048, "Ism Familiya")
	path := filepath.Join(dir, "openssl.pfx")
	writeOpenSSLPFX(t, path, k, "my key", "pw")
	p := &prompter{answers: []string{"pw"}}
	b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: p.prompt})
	ki := onlyKey(t, b)
	require.Equal(t, "file://"+path+"#my%20key", ki.URI, "key: %q label %q", ki.URI, ki.Label)
	require.Equal(t, "my key", ki.Label, "key: %q label %q", ki.URI, ki.Label)
	signAndVerify(t, b, ki.URI, k.Key.Public())
	// The file URI alone names its only key.
	signAndVerify(t, b, "file://"+path, k.Key.Public())
	require.Equal(t, 1, p.calls(), "prompted %d times", p.calls())
}

func TestUnencryptedCertificatesListedWhileLocked(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, softhsmtest.ECP256, "Plain Certs")
	path := filepath.Join(dir, "plaincerts.pfx")
	writeOpenSSLPFX(t, path, k, "alias", "pw", "-certpbe", "NONE")
	b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: noPrompt(t)})
	ki := onlyKey(t, b)
	require.NotNil(t, ki.Certificate, "locked listing with plain certificates: %+v", ki)
	require.True(t, ki.Certificate.Equal(k.Certificate), "locked listing with plain certificates: %+v", ki)
	require.Len(t, ki.Chain, 2, "locked listing with plain certificates: %+v", ki)
	require.True(t, ki.HasPrivateKey, "locked listing with plain certificates: %+v", ki)
}

func TestNonASCIIPassword(t *testing.T) {
	const pw = "Пароль-ключ №1"
	dir := t.TempDir()
	k := newKey(t, softhsmtest.RSA2048, "Кириллица")
	writePFX(t, filepath.Join(dir, "go.pfx"), k, pw, softhsmtest.Modern)
	k2 := newKey(t, softhsmtest.ECP256, "Кириллица 2")
	writeOpenSSLPFX(t, filepath.Join(dir, "openssl.pfx"), k2, "кирилл", pw)
	p := &prompter{answers: []string{pw}}
	b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: p.prompt})
	keys := keysOf(t, b)
	require.Len(t, keys, 2, "keys: %d", len(keys))
	for _, ki := range keys {
		want := k.Key.Public()
		if strings.Contains(ki.URI, "openssl.pfx") {
			want = k2.Key.Public()
			require.Equal(t, "кирилл", ki.Label, "non-ASCII alias: %q %q", ki.Label, ki.URI)
			require.True(t, strings.HasSuffix(ki.URI, "#%D0%BA%D0%B8%D1%80%D0%B8%D0%BB%D0%BB"), "non-ASCII alias: %q %q", ki.Label, ki.URI)
		}
		signAndVerify(t, b, ki.URI, want)
	}
}

func TestWrongPasswordThenRight(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, softhsmtest.RSA2048, "Retry")
	writePFX(t, filepath.Join(dir, "k.pfx"), k, "right-pw", softhsmtest.Modern)
	p := &prompter{answers: []string{"wrong-pw", "right-pw"}}
	b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: p.prompt})
	ki := onlyKey(t, b)
	signAndVerify(t, b, ki.URI, k.Key.Public())
	require.Equal(t, 2, p.calls(), "prompts: %d", p.calls())
	second := p.reqs[1]
	var pe *hsm.PINError
	require.Equal(t, 2, second.Attempt, "second request: attempt %d, last", second.Attempt)
	require.ErrorAs(t, second.LastError, &pe, "second request: attempt %d, last", second.Attempt)
	require.ErrorIs(t, second.LastError, hsm.ErrPINIncorrect, "second request: attempt %d, last", second.Attempt)
	require.NotContains(t, second.LastError.Error(), "wrong-pw", "error text contains the password")
}

func TestWrongPasswordEveryTime(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, softhsmtest.ECP256, "Wrong")
	writePFX(t, filepath.Join(dir, "k.pfx"), k, "right-pw", softhsmtest.Legacy)
	p := &prompter{answers: []string{"bad-guess"}}
	b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: p.prompt, MaxAttempts: 3})
	ki := onlyKey(t, b)
	d := sha256.Sum256([]byte("x"))
	_, err := b.Sign(context.Background(), ki.URI, d[:], crypto.SHA256)
	var pe *hsm.PINError
	require.ErrorIs(t, err, hsm.ErrPINIncorrect, "want PINError")
	require.ErrorAs(t, err, &pe, "want PINError")
	require.NotContains(t, err.Error(), "bad-guess", "error contains a password: %v", err)
	require.NotContains(t, err.Error(), "right-pw", "error contains a password: %v", err)
	require.Equal(t, 3, p.calls(), "prompts: %d, want 3", p.calls())
}

func TestCancel(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, softhsmtest.ECP256, "Cancel")
	writePFX(t, filepath.Join(dir, "k.pfx"), k, "pw", softhsmtest.Modern)
	p := &prompter{cancelAt: 1}
	b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: p.prompt})
	ki := onlyKey(t, b)
	d := sha256.Sum256([]byte("x"))
	_, err := b.Sign(context.Background(), ki.URI, d[:], crypto.SHA256)
	require.ErrorIs(t, err, hsm.ErrCancelled, "want ErrCancelled")
	// No prompt configured at all: a clear error, no hang.
	b2 := openBackend(t, Config{Dirs: []string{dir}})
	_, err = b2.Sign(context.Background(), ki.URI, d[:], crypto.SHA256)
	require.ErrorIs(t, err, hsm.ErrCancelled, "no prompt")
}

func TestLockAndIdleTimeout(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, softhsmtest.ECP256, "Lock")
	path := filepath.Join(dir, "k.pfx")
	writePFX(t, path, k, "pw", softhsmtest.Modern)
	p := &prompter{answers: []string{"pw"}}
	b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: p.prompt})
	ki := onlyKey(t, b)
	signAndVerify(t, b, ki.URI, k.Key.Public())
	signAndVerify(t, b, ki.URI, k.Key.Public())
	require.Equal(t, 1, p.calls(), "prompts before lock: %d", p.calls())
	require.NoError(t, b.Lock(context.Background(), ki.TokenURI))
	// Certificates stay known after Lock; the key does not.
	require.NotNil(t, onlyKey(t, b).Certificate, "certificate forgotten on Lock")
	signAndVerify(t, b, ki.URI, k.Key.Public())
	require.Equal(t, 2, p.calls(), "prompts after lock: %d", p.calls())

	// Idle timeout: the key is dropped by the timer; the next use prompts.
	b2 := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: p.prompt, Login: hsm.LoginPolicy{IdleTimeout: 1}})
	signAndVerify(t, b2, ki.URI, k.Key.Public())
	f, _ := b2.get(path)
	for {
		f.mu.Lock()
		n := len(f.unlocked)
		f.mu.Unlock()
		if n == 0 {
			break
		}
		runtime.Gosched()
	}
	signAndVerify(t, b2, ki.URI, k.Key.Public())
	require.Equal(t, 4, p.calls(), "prompts after idle timeout: %d, want 4", p.calls())
}

func TestConcurrentSignersPromptOnce(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, softhsmtest.ECP256, "Concurrent")
	writePFX(t, filepath.Join(dir, "k.pfx"), k, "pw", softhsmtest.Modern)
	var calls atomic.Int32
	prompt := func(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
		calls.Add(1)
		return hsm.PINResponse{PIN: []byte("pw")}, nil
	}
	b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: prompt, Login: hsm.LoginPolicy{IdleTimeout: 1e9}})
	ki := onlyKey(t, b)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				d := sha256.Sum256([]byte{byte(i), byte(j)})
				sig, err := b.Sign(context.Background(), ki.URI, d[:], crypto.SHA256)
				if assert.NoError(t, err, "sign") {
					assert.True(t, ecdsa.VerifyASN1(k.Key.Public().(*ecdsa.PublicKey), d[:], sig), "sign")
				}
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 1, calls.Load(), "prompted %d times", calls.Load())
}

func TestDecrypt(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, softhsmtest.RSA2048, "Decrypt")
	writePFX(t, filepath.Join(dir, "k.pfx"), k, "pw", softhsmtest.LegacyDES)
	p := &prompter{answers: []string{"pw"}}
	b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: p.prompt})
	ki := onlyKey(t, b)
	pub := k.Key.Public().(*rsa.PublicKey)
	msg := []byte("session key")
	//lint:ignore SA1019 testing PKCS #1 v1.5 decryption, which CMS key transport and tokens still use
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, msg)
	require.NoError(t, err)
	pt, err := b.Decrypt(context.Background(), ki.URI, ct, nil)
	require.NoError(t, err)
	require.Equal(t, msg, pt, "PKCS#1 v1.5 decrypt mismatch")
	ct, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, msg, nil)
	require.NoError(t, err)
	pt, err = b.Decrypt(context.Background(), ki.URI, ct, &rsa.OAEPOptions{Hash: crypto.SHA256})
	require.NoError(t, err)
	require.Equal(t, msg, pt, "OAEP decrypt mismatch")
	// Not RSA: unsupported.
	k2 := newKey(t, softhsmtest.ECP256, "EC")
	writePFX(t, filepath.Join(dir, "ec.pfx"), k2, "", softhsmtest.Modern)
	for _, ki := range keysOf(t, b) {
		if strings.Contains(ki.URI, "ec.pfx") {
			_, err := b.Decrypt(context.Background(), ki.URI, ct, nil)
			require.ErrorIs(t, err, hsm.ErrUnsupported, "EC decrypt")
		}
	}
}

func TestBadRequests(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, softhsmtest.RSA2048, "Bad")
	path := filepath.Join(dir, "k.pfx")
	writePFX(t, path, k, "", softhsmtest.Modern)
	other := t.TempDir()
	writePFX(t, filepath.Join(other, "elsewhere.pfx"), k, "", softhsmtest.Modern)
	b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: noPrompt(t)})
	ki := onlyKey(t, b)
	ctx := context.Background()
	d := sha256.Sum256([]byte("x"))
	cases := []struct {
		name string
		uri  string
		dig  []byte
		opts crypto.SignerOpts
		want error
	}{
		{"short digest", ki.URI, d[:10], crypto.SHA256, hsm.ErrInvalidRequest},
		{"no hash", ki.URI, d[:], crypto.Hash(0), hsm.ErrInvalidRequest},
		{"unknown alias", "file://" + path + "#nope", d[:], crypto.SHA256, hsm.ErrKeyNotFound},
		{"file outside the configured dirs", "file://" + filepath.Join(other, "elsewhere.pfx"), d[:], crypto.SHA256, hsm.ErrKeyNotFound},
		{"not a file URI", "pkcs11:token=x", d[:], crypto.SHA256, hsm.ErrInvalidURI},
		{"relative", "file:k.pfx", d[:], crypto.SHA256, hsm.ErrInvalidURI},
	}
	for _, c := range cases {
		_, err := b.Sign(ctx, c.uri, c.dig, c.opts)
		assert.ErrorIs(t, err, c.want, "%s: got %v, want %v", c.name, err, c.want)
	}
	assert.False(t, b.Handles("file://"+filepath.Join(other, "elsewhere.pfx")), "Handles a file outside the configured directories")
	if assert.True(t, b.Handles(ki.URI), "Handles does not claim its own files") {
		assert.True(t, b.Handles("file://"+filepath.Join(dir, "gone.pfx")), "Handles does not claim its own files")
	}
	require.NoError(t, os.Remove(path))
	_, err := b.Sign(ctx, ki.URI, d[:], crypto.SHA256)
	if assert.ErrorIs(t, err, hsm.ErrTokenRemoved, "removed file") {
		assert.ErrorContains(t, err, path, "removed file")
	}
}

func TestRemovedFileForgetsKeyAndComesBack(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, softhsmtest.ECP256, "USB stick")
	path := filepath.Join(dir, "k.pfx")
	writePFX(t, path, k, "pw", softhsmtest.Modern)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	p := &prompter{answers: []string{"pw"}}
	b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: p.prompt})
	ki := onlyKey(t, b)
	signAndVerify(t, b, ki.URI, k.Key.Public())
	require.NoError(t, os.Remove(path))
	keys := keysOf(t, b)
	require.Empty(t, keys, "removed file still listed: %+v", keys)
	b.mu.Lock()
	f := b.known[path]
	b.mu.Unlock()
	f.mu.Lock()
	unlocked := len(f.unlocked)
	f.mu.Unlock()
	require.Equal(t, 0, unlocked, "the listing did not forget the key of a removed file")
	d := sha256.Sum256([]byte("x"))
	_, err = b.Sign(context.Background(), ki.URI, d[:], crypto.SHA256)
	require.ErrorIs(t, err, hsm.ErrTokenRemoved, "sign with removed file")
	// Put back: same URI, and the password is asked again.
	require.NoError(t, os.WriteFile(path, data, 0o600))
	got := onlyKey(t, b).URI
	require.Equal(t, ki.URI, got, "URI after re-insertion %q, want %q", got, ki.URI)
	signAndVerify(t, b, ki.URI, k.Key.Public())
	require.Equal(t, 2, p.calls(), "prompts: %d, want 2", p.calls())
}

func TestBrokenFilesDoNotHideOthers(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, softhsmtest.ECP256, "Good")
	writePFX(t, filepath.Join(dir, "good.pfx"), k, "", softhsmtest.Modern)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "junk.pfx"), []byte("not a pfx"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "huge.p12"), make([]byte, MaxFileSize+1), 0o600))
	b := openBackend(t, Config{Dirs: []string{dir, filepath.Join(dir, "missing")}})
	keys, err := b.Keys(context.Background())
	require.NoError(t, err, "keys: %+v", keys)
	require.Len(t, keys, 1, "keys: %+v", keys)
	require.Contains(t, keys[0].URI, "good.pfx", "keys: %+v", keys)
	probs := strings.Join(b.Problems(), "\n")
	for _, want := range []string{"junk.pfx", ErrMalformed.Error(), "huge.p12", ErrTooLarge.Error(), "missing"} {
		assert.Contains(t, probs, want, "problems lack %q:\n%s", want, probs)
	}
	// A broken file does not stop a good one from signing.
	d := sha256.Sum256([]byte("x"))
	_, err = b.Sign(context.Background(), keys[0].URI, d[:], crypto.SHA256)
	require.NoError(t, err)
	_, err = b.Sign(context.Background(), FileURI(filepath.Join(dir, "junk.pfx")), d[:], crypto.SHA256)
	require.ErrorIs(t, err, ErrMalformed, "junk")
}

func TestEIMZOLayout(t *testing.T) {
	roots := []string{t.TempDir(), t.TempDir()}
	alias := "cn=familiya ism sharif,name=ism,surname=familiya,l=tuman,st=shahar,c=uz,o=kompaniya,uid=324543543," +
		"1.2.860.3.16.1.2=32610793225581,serialnumber=71c4eb12,validfrom=2022.04.25 17:42:58,validto=2024.04.25 23:59:59"
	k1 := newKey(t, softhsmtest.RSA2048, "FAMILIYA ISM SHARIF")
	k2 := newKey(t, softhsmtest.ECP256, "Root Key")
	require.NoError(t, os.Mkdir(filepath.Join(roots[0], "DSKEYS"), 0o700))
	p1 := filepath.Join(roots[0], "DSKEYS", "DS3261079322.pfx")
	writeOpenSSLPFX(t, p1, k1, alias, "parol")
	p2 := filepath.Join(roots[1], "root.pfx")
	writePFX(t, p2, k2, "parol", softhsmtest.Legacy)
	// Not part of the layout: deeper folders.
	require.NoError(t, os.MkdirAll(filepath.Join(roots[1], "deep", "DSKEYS"), 0o700))
	writePFX(t, filepath.Join(roots[1], "deep", "DSKEYS", "no.pfx"), k2, "", softhsmtest.Modern)

	p := &prompter{answers: []string{"parol"}}
	b := openBackend(t, Config{EIMZO: true, EIMZORoots: func() []string { return roots }, PasswordPrompt: p.prompt})
	keys := keysOf(t, b)
	require.Len(t, keys, 2, "keys: %+v", keys)
	byFile := map[string]hsm.KeyInfo{}
	for _, ki := range keys {
		path, a, err := ParseURI(ki.URI)
		require.NoError(t, err)
		byFile[path] = ki
		if path == p1 {
			require.Equal(t, alias, a, "alias round trip")
		}
	}
	require.Equal(t, alias, byFile[p1].Label, "label %q", byFile[p1].Label)
	signAndVerify(t, b, byFile[p1].URI, k1.Key.Public())
	signAndVerify(t, b, byFile[p2].URI, k2.Key.Public())
	require.True(t, b.Handles(FileURI(filepath.Join(roots[0], "other.pfx"))), "Handles does not follow the E-IMZO layout")
	require.False(t, b.Handles(FileURI(filepath.Join(roots[1], "deep", "DSKEYS", "no.pfx"))), "Handles does not follow the E-IMZO layout")
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	b := openBackend(t, Config{Dirs: []string{dir}, PollInterval: 5e6})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := b.Watch(ctx)
	require.NoError(t, err)
	k := newKey(t, softhsmtest.ECP256, "Watch")
	path := filepath.Join(dir, "new.pfx")
	writePFX(t, path, k, "", softhsmtest.Modern)
	ev := <-ch
	require.False(t, ev.Removed, "insert event: %+v", ev)
	require.Equal(t, FileURI(path), ev.Token.URI, "insert event: %+v", ev)
	require.NoError(t, os.Remove(path))
	ev = <-ch
	require.True(t, ev.Removed, "remove event: %+v", ev)
	require.Equal(t, FileURI(path), ev.Token.URI, "remove event: %+v", ev)
	cancel()
	for range ch {
	}
}

func TestURIs(t *testing.T) {
	cases := []struct{ path, alias, uri string }{
		{"/keys/a.pfx", "my key", "file:///keys/a.pfx#my%20key"},
		{"/keys/with space/a.pfx", "cn=a,o=b", "file:///keys/with%20space/a.pfx#cn=a,o=b"},
		{"/k/a.pfx", "a#b%c/d?", "file:///k/a.pfx#a%23b%25c%2Fd%3F"},
	}
	for _, c := range cases {
		got := KeyURI(c.path, c.alias)
		assert.Equal(t, c.uri, got, "KeyURI(%q, %q) = %q, want %q", c.path, c.alias, got, c.uri)
		p, a, err := ParseURI(got)
		if assert.NoError(t, err, "ParseURI(%q) = %q, %q", got, p, a) {
			if assert.Equal(t, c.path, p, "ParseURI(%q) = %q, %q", got, p, a) {
				assert.Equal(t, c.alias, a, "ParseURI(%q) = %q, %q", got, p, a)
			}
		}
	}
	p, a, err := ParseURI("file://localhost/keys/a.pfx#x")
	if assert.NoError(t, err, "localhost form: %q %q", p, a) {
		if assert.Equal(t, "/keys/a.pfx", p, "localhost form: %q %q", p, a) {
			assert.Equal(t, "x", a, "localhost form: %q %q", p, a)
		}
	}
	for _, bad := range []string{"file://host/a.pfx", "http://x/a.pfx", "file:a.pfx", "file:///a.pfx?q=1"} {
		_, _, err := ParseURI(bad)
		assert.ErrorIs(t, err, hsm.ErrInvalidURI, "ParseURI(%q)", bad)
	}
}

// TestOpenSSLVerifies cross-checks signature formats with openssl.
func TestOpenSSLVerifies(t *testing.T) {
	dir := t.TempDir()
	msg := []byte("verify me with openssl\n")
	msgPath := filepath.Join(dir, "msg")
	require.NoError(t, os.WriteFile(msgPath, msg, 0o600))
	for _, typ := range []string{softhsmtest.RSA2048, softhsmtest.ECP384, softhsmtest.Ed25519} {
		t.Run(typ, func(t *testing.T) {
			k := newKey(t, typ, "OpenSSL "+typ)
			kd := t.TempDir()
			writePFX(t, filepath.Join(kd, "k.pfx"), k, "pw", softhsmtest.Modern)
			p := &prompter{answers: []string{"pw"}}
			b := openBackend(t, Config{Dirs: []string{kd}, PasswordPrompt: p.prompt})
			ki := onlyKey(t, b)
			pubDER, err := x509.MarshalPKIXPublicKey(k.Key.Public())
			require.NoError(t, err)
			pubPath := filepath.Join(kd, "pub.pem")
			require.NoError(t, os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600))
			sigPath := filepath.Join(kd, "sig")
			ctx := context.Background()
			openssl := func(args ...string) {
				t.Helper()
				out, err := exec.Command("openssl", args...).CombinedOutput()
				require.NoError(t, err, "openssl %v: %v\n%s", args, err, out)
			}
			switch typ {
			case softhsmtest.Ed25519:
				sig, err := b.Sign(ctx, ki.URI, msg, crypto.Hash(0))
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(sigPath, sig, 0o600))
				openssl("pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin", "-in", msgPath, "-sigfile", sigPath)
			case softhsmtest.ECP384:
				d := sha512.Sum384(msg)
				sig, err := b.Sign(ctx, ki.URI, d[:], crypto.SHA384)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(sigPath, sig, 0o600))
				openssl("dgst", "-sha384", "-verify", pubPath, "-signature", sigPath, msgPath)
			default:
				d := sha256.Sum256(msg)
				sig, err := b.Sign(ctx, ki.URI, d[:], crypto.SHA256)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(sigPath, sig, 0o600))
				openssl("dgst", "-sha256", "-verify", pubPath, "-signature", sigPath, msgPath)
				sig, err = b.Sign(ctx, ki.URI, d[:], &rsa.PSSOptions{Hash: crypto.SHA256})
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(sigPath, sig, 0o600))
				digPath := filepath.Join(kd, "digest")
				require.NoError(t, os.WriteFile(digPath, d[:], 0o600))
				openssl("pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-in", digPath, "-sigfile", sigPath,
					"-pkeyopt", "digest:sha256", "-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:auto")
			}
		})
	}
}

func TestCachedKey(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, softhsmtest.RSA2048, "Cached")
	path := filepath.Join(dir, "k.pfx")
	writePFX(t, path, k, "pw", softhsmtest.Modern)
	p := &prompter{answers: []string{"pw"}}
	b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: p.prompt})
	_, ok := b.CachedKey(KeyURI(path, ""))
	require.False(t, ok, "CachedKey before the file was read reported a key")
	ki := onlyKey(t, b)
	signAndVerify(t, b, ki.URI, k.Key.Public())
	got, ok := b.CachedKey(ki.URI)
	require.True(t, ok, "CachedKey after unlock = %v, %v; want the certificate with serial %x", got.Certificate, ok, k.Certificate.SerialNumber)
	require.NotNil(t, got.Certificate, "CachedKey after unlock = %v, %v; want the certificate with serial %x", got.Certificate, ok, k.Certificate.SerialNumber)
	require.Zero(t, got.Certificate.SerialNumber.Cmp(k.Certificate.SerialNumber), "CachedKey after unlock = %v, %v; want the certificate with serial %x", got.Certificate, ok, k.Certificate.SerialNumber)
	_, ok = b.CachedKey(KeyURI(path, "no-such-alias"))
	assert.False(t, ok, "CachedKey reported an unknown alias")
}
