package pfx

import (
	"bytes"
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
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/softhsm-config/softhsmtest"
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
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	k, err := testPKI.NewSoftwareKey(typ, softhsmtest.IssueOptions{Subject: pkix.Name{CommonName: cn}})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePFX(t *testing.T, path string, k *softhsmtest.SoftwareKey, pw string, enc softhsmtest.PFXEncoding) {
	t.Helper()
	if err := k.WritePFX(path, pw, enc); err != nil {
		t.Fatal(err)
	}
}

// writeOpenSSLPFX makes a PFX with openssl pkcs12 -export and friendlyName
// alias; the password goes through the environment.
func writeOpenSSLPFX(t *testing.T, path string, k *softhsmtest.SoftwareKey, alias, pw string, extra ...string) {
	t.Helper()
	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := filepath.Join(dir, "key.pem")
	certPEM := filepath.Join(dir, "cert.pem")
	chainPEM := filepath.Join(dir, "chain.pem")
	must(t, os.WriteFile(keyPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	must(t, os.WriteFile(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Certificate.Raw}), 0o600))
	var chain []byte
	for _, c := range k.Chain {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	must(t, os.WriteFile(chainPEM, chain, 0o600))
	args := append([]string{"pkcs12", "-export", "-inkey", keyPEM, "-in", certPEM, "-certfile", chainPEM,
		"-name", alias, "-passout", "env:PFXPW", "-out", path}, extra...)
	cmd := exec.Command("openssl", args...)
	cmd.Env = append(os.Environ(), "PFXPW="+pw)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func openBackend(t *testing.T, cfg Config) *Backend {
	t.Helper()
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func keysOf(t *testing.T, b *Backend) []hsm.KeyInfo {
	t.Helper()
	keys, err := b.Keys(context.Background())
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	return keys
}

func onlyKey(t *testing.T, b *Backend) hsm.KeyInfo {
	t.Helper()
	keys := keysOf(t, b)
	if len(keys) != 1 {
		t.Fatalf("want 1 key, got %d: %+v", len(keys), keys)
	}
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
		must(t, err)
		must(t, rsa.VerifyPKCS1v15(p, crypto.SHA256, d[:], sig))
		pss := &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}
		sig, err = b.Sign(ctx, uri, d[:], pss)
		must(t, err)
		must(t, rsa.VerifyPSS(p, crypto.SHA256, d[:], sig, pss))
	case *ecdsa.PublicKey:
		sig, err := b.Sign(ctx, uri, d[:], crypto.SHA256)
		must(t, err)
		if !ecdsa.VerifyASN1(p, d[:], sig) {
			t.Fatal("ECDSA signature does not verify")
		}
	case ed25519.PublicKey:
		sig, err := b.Sign(ctx, uri, msg, crypto.Hash(0))
		must(t, err)
		if !ed25519.Verify(p, msg, sig) {
			t.Fatal("Ed25519 signature does not verify")
		}
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
				must(t, err)
				if len(toks) != 1 || toks[0].URI != "file://"+path || !toks[0].Flags.LoginRequired || toks[0].Backend != "pfx" {
					t.Fatalf("tokens: %+v", toks)
				}
				// Locked: the certificates are encrypted, the key bag is visible.
				ki := onlyKey(t, b)
				if !ki.HasPrivateKey || ki.Certificate != nil || ki.TokenURI != toks[0].URI {
					t.Fatalf("locked listing: %+v", ki)
				}
				if !strings.HasPrefix(ki.URI, "file://"+path+"#") {
					t.Fatalf("key URI %q", ki.URI)
				}
				if p.calls() != 0 {
					t.Fatal("listing prompted")
				}
				signAndVerify(t, b, ki.URI, k.Key.Public())
				if p.calls() != 1 {
					t.Fatalf("prompted %d times, want 1", p.calls())
				}
				req := p.reqs[0]
				if req.Kind != hsm.Password || req.Token.URI != toks[0].URI || req.Key == nil || req.Key.URI != ki.URI || req.Attempt != 1 {
					t.Fatalf("prompt request: %+v", req)
				}
				// Unlocked: same URI, now with certificate and chain.
				after := onlyKey(t, b)
				if after.URI != ki.URI {
					t.Fatalf("URI changed on unlock: %q -> %q", ki.URI, after.URI)
				}
				if after.Certificate == nil || !after.Certificate.Equal(k.Certificate) || len(after.Chain) != 2 ||
					!after.Chain[0].Equal(k.Chain[0]) || !after.Chain[1].Equal(k.Chain[1]) {
					t.Fatalf("unlocked listing: cert %v chain %d", after.Certificate != nil, len(after.Chain))
				}
				if after.Algorithm == "" || after.Bits == 0 {
					t.Fatalf("algorithm not known after unlock: %+v", after)
				}
				// A new backend (a restart) names the key the same way.
				b2 := openBackend(t, Config{Files: []string{path}})
				if got := onlyKey(t, b2).URI; got != ki.URI {
					t.Fatalf("URI not stable across restarts: %q vs %q", got, ki.URI)
				}
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
			if ki.Certificate == nil || !ki.Certificate.Equal(k.Certificate) || len(ki.Chain) != 2 || ki.Algorithm != hsm.ECDSA || ki.Bits != 256 {
				t.Fatalf("listing: %+v", ki)
			}
			toks, _ := b.Tokens(context.Background())
			if toks[0].Flags.LoginRequired {
				t.Fatal("empty-password file reported as needing a login")
			}
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
	if ki.URI != "file://"+path+"#my%20key" || ki.Label != "my key" {
		t.Fatalf("key: %q label %q", ki.URI, ki.Label)
	}
	signAndVerify(t, b, ki.URI, k.Key.Public())
	// The file URI alone names its only key.
	signAndVerify(t, b, "file://"+path, k.Key.Public())
	if p.calls() != 1 {
		t.Fatalf("prompted %d times", p.calls())
	}
}

func TestUnencryptedCertificatesListedWhileLocked(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, softhsmtest.ECP256, "Plain Certs")
	path := filepath.Join(dir, "plaincerts.pfx")
	writeOpenSSLPFX(t, path, k, "alias", "pw", "-certpbe", "NONE")
	b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: noPrompt(t)})
	ki := onlyKey(t, b)
	if ki.Certificate == nil || !ki.Certificate.Equal(k.Certificate) || len(ki.Chain) != 2 || !ki.HasPrivateKey {
		t.Fatalf("locked listing with plain certificates: %+v", ki)
	}
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
	if len(keys) != 2 {
		t.Fatalf("keys: %d", len(keys))
	}
	for _, ki := range keys {
		want := k.Key.Public()
		if strings.Contains(ki.URI, "openssl.pfx") {
			want = k2.Key.Public()
			if ki.Label != "кирилл" || !strings.HasSuffix(ki.URI, "#%D0%BA%D0%B8%D1%80%D0%B8%D0%BB%D0%BB") {
				t.Fatalf("non-ASCII alias: %q %q", ki.Label, ki.URI)
			}
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
	if p.calls() != 2 {
		t.Fatalf("prompts: %d", p.calls())
	}
	second := p.reqs[1]
	var pe *hsm.PINError
	if second.Attempt != 2 || !errors.As(second.LastError, &pe) || !errors.Is(second.LastError, hsm.ErrPINIncorrect) {
		t.Fatalf("second request: attempt %d, last error %v", second.Attempt, second.LastError)
	}
	if strings.Contains(second.LastError.Error(), "wrong-pw") {
		t.Fatal("error text contains the password")
	}
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
	if !errors.Is(err, hsm.ErrPINIncorrect) || !errors.As(err, &pe) {
		t.Fatalf("want PINError, got %v", err)
	}
	if strings.Contains(err.Error(), "bad-guess") || strings.Contains(err.Error(), "right-pw") {
		t.Fatalf("error contains a password: %v", err)
	}
	if p.calls() != 3 {
		t.Fatalf("prompts: %d, want 3", p.calls())
	}
}

func TestCancel(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, softhsmtest.ECP256, "Cancel")
	writePFX(t, filepath.Join(dir, "k.pfx"), k, "pw", softhsmtest.Modern)
	p := &prompter{cancelAt: 1}
	b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: p.prompt})
	ki := onlyKey(t, b)
	d := sha256.Sum256([]byte("x"))
	if _, err := b.Sign(context.Background(), ki.URI, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrCancelled) {
		t.Fatalf("want ErrCancelled, got %v", err)
	}
	// No prompt configured at all: a clear error, no hang.
	b2 := openBackend(t, Config{Dirs: []string{dir}})
	if _, err := b2.Sign(context.Background(), ki.URI, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrCancelled) {
		t.Fatalf("no prompt: %v", err)
	}
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
	if p.calls() != 1 {
		t.Fatalf("prompts before lock: %d", p.calls())
	}
	must(t, b.Lock(context.Background(), ki.TokenURI))
	// Certificates stay known after Lock; the key does not.
	if onlyKey(t, b).Certificate == nil {
		t.Fatal("certificate forgotten on Lock")
	}
	signAndVerify(t, b, ki.URI, k.Key.Public())
	if p.calls() != 2 {
		t.Fatalf("prompts after lock: %d", p.calls())
	}

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
	if p.calls() != 4 {
		t.Fatalf("prompts after idle timeout: %d, want 4", p.calls())
	}
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
				if err != nil || !ecdsa.VerifyASN1(k.Key.Public().(*ecdsa.PublicKey), d[:], sig) {
					t.Errorf("sign: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("prompted %d times", calls.Load())
	}
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
	must(t, err)
	pt, err := b.Decrypt(context.Background(), ki.URI, ct, nil)
	must(t, err)
	if !bytes.Equal(pt, msg) {
		t.Fatal("PKCS#1 v1.5 decrypt mismatch")
	}
	ct, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, msg, nil)
	must(t, err)
	pt, err = b.Decrypt(context.Background(), ki.URI, ct, &rsa.OAEPOptions{Hash: crypto.SHA256})
	must(t, err)
	if !bytes.Equal(pt, msg) {
		t.Fatal("OAEP decrypt mismatch")
	}
	// Not RSA: unsupported.
	k2 := newKey(t, softhsmtest.ECP256, "EC")
	writePFX(t, filepath.Join(dir, "ec.pfx"), k2, "", softhsmtest.Modern)
	for _, ki := range keysOf(t, b) {
		if strings.Contains(ki.URI, "ec.pfx") {
			if _, err := b.Decrypt(context.Background(), ki.URI, ct, nil); !errors.Is(err, hsm.ErrUnsupported) {
				t.Fatalf("EC decrypt: %v", err)
			}
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
		if _, err := b.Sign(ctx, c.uri, c.dig, c.opts); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if b.Handles("file://" + filepath.Join(other, "elsewhere.pfx")) {
		t.Error("Handles a file outside the configured directories")
	}
	if !b.Handles(ki.URI) || !b.Handles("file://"+filepath.Join(dir, "gone.pfx")) {
		t.Error("Handles does not claim its own files")
	}
	must(t, os.Remove(path))
	if _, err := b.Sign(ctx, ki.URI, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrTokenRemoved) || !strings.Contains(err.Error(), path) {
		t.Errorf("removed file: %v", err)
	}
}

func TestRemovedFileForgetsKeyAndComesBack(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, softhsmtest.ECP256, "USB stick")
	path := filepath.Join(dir, "k.pfx")
	writePFX(t, path, k, "pw", softhsmtest.Modern)
	data, err := os.ReadFile(path)
	must(t, err)
	p := &prompter{answers: []string{"pw"}}
	b := openBackend(t, Config{Dirs: []string{dir}, PasswordPrompt: p.prompt})
	ki := onlyKey(t, b)
	signAndVerify(t, b, ki.URI, k.Key.Public())
	must(t, os.Remove(path))
	if keys := keysOf(t, b); len(keys) != 0 {
		t.Fatalf("removed file still listed: %+v", keys)
	}
	b.mu.Lock()
	f := b.known[path]
	b.mu.Unlock()
	f.mu.Lock()
	unlocked := len(f.unlocked)
	f.mu.Unlock()
	if unlocked != 0 {
		t.Fatal("the listing did not forget the key of a removed file")
	}
	d := sha256.Sum256([]byte("x"))
	if _, err := b.Sign(context.Background(), ki.URI, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrTokenRemoved) {
		t.Fatalf("sign with removed file: %v", err)
	}
	// Put back: same URI, and the password is asked again.
	must(t, os.WriteFile(path, data, 0o600))
	if got := onlyKey(t, b).URI; got != ki.URI {
		t.Fatalf("URI after re-insertion %q, want %q", got, ki.URI)
	}
	signAndVerify(t, b, ki.URI, k.Key.Public())
	if p.calls() != 2 {
		t.Fatalf("prompts: %d, want 2", p.calls())
	}
}

func TestBrokenFilesDoNotHideOthers(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, softhsmtest.ECP256, "Good")
	writePFX(t, filepath.Join(dir, "good.pfx"), k, "", softhsmtest.Modern)
	must(t, os.WriteFile(filepath.Join(dir, "junk.pfx"), []byte("not a pfx"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "huge.p12"), make([]byte, MaxFileSize+1), 0o600))
	b := openBackend(t, Config{Dirs: []string{dir, filepath.Join(dir, "missing")}})
	keys, err := b.Keys(context.Background())
	if err != nil || len(keys) != 1 || !strings.Contains(keys[0].URI, "good.pfx") {
		t.Fatalf("keys: %+v, %v", keys, err)
	}
	probs := strings.Join(b.Problems(), "\n")
	for _, want := range []string{"junk.pfx", ErrMalformed.Error(), "huge.p12", ErrTooLarge.Error(), "missing"} {
		if !strings.Contains(probs, want) {
			t.Errorf("problems lack %q:\n%s", want, probs)
		}
	}
	// A broken file does not stop a good one from signing.
	d := sha256.Sum256([]byte("x"))
	if _, err := b.Sign(context.Background(), keys[0].URI, d[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Sign(context.Background(), FileURI(filepath.Join(dir, "junk.pfx")), d[:], crypto.SHA256); !errors.Is(err, ErrMalformed) {
		t.Fatalf("junk: %v", err)
	}
}

func TestEIMZOLayout(t *testing.T) {
	roots := []string{t.TempDir(), t.TempDir()}
	alias := "cn=familiya ism sharif,name=ism,surname=familiya,l=tuman,st=shahar,c=uz,o=kompaniya,uid=324543543," +
		"1.2.860.3.16.1.2=32610793225581,serialnumber=71c4eb12,validfrom=2022.04.25 17:42:58,validto=2024.04.25 23:59:59"
	k1 := newKey(t, softhsmtest.RSA2048, "FAMILIYA ISM SHARIF")
	k2 := newKey(t, softhsmtest.ECP256, "Root Key")
	must(t, os.Mkdir(filepath.Join(roots[0], "DSKEYS"), 0o700))
	p1 := filepath.Join(roots[0], "DSKEYS", "DS3261079322.pfx")
	writeOpenSSLPFX(t, p1, k1, alias, "parol")
	p2 := filepath.Join(roots[1], "root.pfx")
	writePFX(t, p2, k2, "parol", softhsmtest.Legacy)
	// Not part of the layout: deeper folders.
	must(t, os.MkdirAll(filepath.Join(roots[1], "deep", "DSKEYS"), 0o700))
	writePFX(t, filepath.Join(roots[1], "deep", "DSKEYS", "no.pfx"), k2, "", softhsmtest.Modern)

	p := &prompter{answers: []string{"parol"}}
	b := openBackend(t, Config{EIMZO: true, EIMZORoots: func() []string { return roots }, PasswordPrompt: p.prompt})
	keys := keysOf(t, b)
	if len(keys) != 2 {
		t.Fatalf("keys: %+v", keys)
	}
	byFile := map[string]hsm.KeyInfo{}
	for _, ki := range keys {
		path, a, err := ParseURI(ki.URI)
		must(t, err)
		byFile[path] = ki
		if path == p1 && a != alias {
			t.Fatalf("alias round trip: %q", a)
		}
	}
	if byFile[p1].Label != alias {
		t.Fatalf("label %q", byFile[p1].Label)
	}
	signAndVerify(t, b, byFile[p1].URI, k1.Key.Public())
	signAndVerify(t, b, byFile[p2].URI, k2.Key.Public())
	if !b.Handles(FileURI(filepath.Join(roots[0], "other.pfx"))) || b.Handles(FileURI(filepath.Join(roots[1], "deep", "DSKEYS", "no.pfx"))) {
		t.Fatal("Handles does not follow the E-IMZO layout")
	}
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	b := openBackend(t, Config{Dirs: []string{dir}, PollInterval: 5e6})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := b.Watch(ctx)
	must(t, err)
	k := newKey(t, softhsmtest.ECP256, "Watch")
	path := filepath.Join(dir, "new.pfx")
	writePFX(t, path, k, "", softhsmtest.Modern)
	ev := <-ch
	if ev.Removed || ev.Token.URI != FileURI(path) {
		t.Fatalf("insert event: %+v", ev)
	}
	must(t, os.Remove(path))
	ev = <-ch
	if !ev.Removed || ev.Token.URI != FileURI(path) {
		t.Fatalf("remove event: %+v", ev)
	}
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
		if got != c.uri {
			t.Errorf("KeyURI(%q, %q) = %q, want %q", c.path, c.alias, got, c.uri)
		}
		p, a, err := ParseURI(got)
		if err != nil || p != c.path || a != c.alias {
			t.Errorf("ParseURI(%q) = %q, %q, %v", got, p, a, err)
		}
	}
	p, a, err := ParseURI("file://localhost/keys/a.pfx#x")
	if err != nil || p != "/keys/a.pfx" || a != "x" {
		t.Errorf("localhost form: %q %q %v", p, a, err)
	}
	for _, bad := range []string{"file://host/a.pfx", "http://x/a.pfx", "file:a.pfx", "file:///a.pfx?q=1"} {
		if _, _, err := ParseURI(bad); !errors.Is(err, hsm.ErrInvalidURI) {
			t.Errorf("ParseURI(%q): %v", bad, err)
		}
	}
}

// TestOpenSSLVerifies cross-checks signature formats with openssl.
func TestOpenSSLVerifies(t *testing.T) {
	dir := t.TempDir()
	msg := []byte("verify me with openssl\n")
	msgPath := filepath.Join(dir, "msg")
	must(t, os.WriteFile(msgPath, msg, 0o600))
	for _, typ := range []string{softhsmtest.RSA2048, softhsmtest.ECP384, softhsmtest.Ed25519} {
		t.Run(typ, func(t *testing.T) {
			k := newKey(t, typ, "OpenSSL "+typ)
			kd := t.TempDir()
			writePFX(t, filepath.Join(kd, "k.pfx"), k, "pw", softhsmtest.Modern)
			p := &prompter{answers: []string{"pw"}}
			b := openBackend(t, Config{Dirs: []string{kd}, PasswordPrompt: p.prompt})
			ki := onlyKey(t, b)
			pubDER, err := x509.MarshalPKIXPublicKey(k.Key.Public())
			must(t, err)
			pubPath := filepath.Join(kd, "pub.pem")
			must(t, os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600))
			sigPath := filepath.Join(kd, "sig")
			ctx := context.Background()
			openssl := func(args ...string) {
				t.Helper()
				out, err := exec.Command("openssl", args...).CombinedOutput()
				if err != nil {
					t.Fatalf("openssl %v: %v\n%s", args, err, out)
				}
			}
			switch typ {
			case softhsmtest.Ed25519:
				sig, err := b.Sign(ctx, ki.URI, msg, crypto.Hash(0))
				must(t, err)
				must(t, os.WriteFile(sigPath, sig, 0o600))
				openssl("pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin", "-in", msgPath, "-sigfile", sigPath)
			case softhsmtest.ECP384:
				d := sha512.Sum384(msg)
				sig, err := b.Sign(ctx, ki.URI, d[:], crypto.SHA384)
				must(t, err)
				must(t, os.WriteFile(sigPath, sig, 0o600))
				openssl("dgst", "-sha384", "-verify", pubPath, "-signature", sigPath, msgPath)
			default:
				d := sha256.Sum256(msg)
				sig, err := b.Sign(ctx, ki.URI, d[:], crypto.SHA256)
				must(t, err)
				must(t, os.WriteFile(sigPath, sig, 0o600))
				openssl("dgst", "-sha256", "-verify", pubPath, "-signature", sigPath, msgPath)
				sig, err = b.Sign(ctx, ki.URI, d[:], &rsa.PSSOptions{Hash: crypto.SHA256})
				must(t, err)
				must(t, os.WriteFile(sigPath, sig, 0o600))
				digPath := filepath.Join(kd, "digest")
				must(t, os.WriteFile(digPath, d[:], 0o600))
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
	if _, ok := b.CachedKey(KeyURI(path, "")); ok {
		t.Fatal("CachedKey before the file was read reported a key")
	}
	ki := onlyKey(t, b)
	signAndVerify(t, b, ki.URI, k.Key.Public())
	got, ok := b.CachedKey(ki.URI)
	if !ok || got.Certificate == nil || got.Certificate.SerialNumber.Cmp(k.Certificate.SerialNumber) != 0 {
		t.Fatalf("CachedKey after unlock = %v, %v; want the certificate with serial %x", got.Certificate, ok, k.Certificate.SerialNumber)
	}
	if _, ok := b.CachedKey(KeyURI(path, "no-such-alias")); ok {
		t.Error("CachedKey reported an unknown alias")
	}
}
