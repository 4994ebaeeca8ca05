package dstukey

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/internal/limitread"
	"github.com/signet-agent/signet/sdk/dstu"
)

// Config says where the containers are and how they are unlocked.
type Config struct {
	// Dirs are scanned (not recursively) for *.dat containers and
	// certificates.
	Dirs []string
	// PasswordPrompt asks for a container's password (Kind hsm.Password).
	PasswordPrompt hsm.PINPrompt
	// Login says how long an unlocked key is kept.
	Login hsm.LoginPolicy
	// MaxAttempts is the number of password prompts per operation (default 3).
	MaxAttempts int
}

// keyAlias is the fragment of a container's one key.
const keyAlias = "key"

// maxCertFile bounds a certificate file read while matching.
const maxCertFile = 64 << 10

// Backend serves DSTU key containers.
type Backend struct {
	cfg  Config
	dirs []string

	mu       sync.Mutex
	unlocked map[string]*liveKey // by container path
	known    map[string]bool     // containers of the last listing
	problems []string
	closed   bool
}

type liveKey struct {
	key   *dstu.PrivateKey
	cert  *x509.Certificate // from a PKCS#12 file; nil: look in the directory
	chain []*x509.Certificate
	timer *time.Timer
}

var (
	_ hsm.Backend         = (*Backend)(nil)
	_ hsm.ProblemReporter = (*Backend)(nil)
	_ hsm.Locker          = (*Backend)(nil)
)

// Open returns a backend over cfg; it reads nothing yet.
func Open(cfg Config) (*Backend, error) {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	b := &Backend{cfg: cfg, unlocked: map[string]*liveKey{}, known: map[string]bool{}}
	for _, d := range cfg.Dirs {
		a, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("DSTU key directory %q: %w", d, err)
		}
		b.dirs = append(b.dirs, a)
	}
	return b, nil
}

// Close forgets every unlocked key.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.dropAllLocked()
	return nil
}

// Lock forgets the unlocked key of the container tokenURI names
// (hsm.Locker).
func (b *Backend) Lock(_ context.Context, tokenURI string) error {
	path, _, err := pfx.ParseURI(tokenURI)
	if err != nil {
		return fmt.Errorf("%w: %v", hsm.ErrInvalidRequest, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if lk := b.unlocked[path]; lk != nil {
		lk.drop()
		delete(b.unlocked, path)
	}
	return nil
}

func (b *Backend) dropAllLocked() {
	for path, lk := range b.unlocked {
		lk.drop()
		delete(b.unlocked, path)
	}
}

func (lk *liveKey) drop() {
	if lk.timer != nil {
		lk.timer.Stop()
	}
	clear(lk.key.D.Bits())
	lk.key.D.SetInt64(0)
}

// Problems describes what the last listing skipped.
func (b *Backend) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// Handles reports whether uri names a container in one of the directories.
func (b *Backend) Handles(uri string) bool {
	path, _, err := pfx.ParseURI(uri)
	if err != nil {
		return false
	}
	b.mu.Lock()
	ok := b.known[path]
	b.mu.Unlock()
	return ok || b.inDirs(path) && isContainer(path)
}

func (b *Backend) inDirs(path string) bool {
	for _, d := range b.dirs {
		if filepath.Dir(path) == d {
			return true
		}
	}
	return false
}

// isContainer reports whether path is a Key-6.dat, a GOST PBES2 key
// (*.dat) or a PKCS#12 file with a DSTU key (*.pfx, *.p12).
func isContainer(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".dat":
		data, err := limitread.File(path, dstu.MaxContainer)
		return err == nil && (dstu.IsKey6(data) || dstu.IsEncryptedPrivateKey(data))
	case ".pfx", ".p12":
		data, err := limitread.File(path, dstu.MaxContainer)
		return err == nil && dstu.IsPKCS12(data)
	}
	return false
}

// scan lists the containers of the directories, sorted.
func (b *Backend) scan() []string {
	var found, problems []string
	for _, d := range b.dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			problems = append(problems, fmt.Sprintf("DSTU key directory %s: %v", d, err))
			continue
		}
		for _, e := range ents {
			path := filepath.Join(d, e.Name())
			if e.Type().IsRegular() && isContainer(path) {
				found = append(found, path)
			}
		}
	}
	sort.Strings(found)
	b.mu.Lock()
	b.problems = problems
	b.known = map[string]bool{}
	for _, p := range found {
		b.known[p] = true
	}
	b.mu.Unlock()
	return found
}

func tokenInfo(path string) hsm.TokenInfo {
	return hsm.TokenInfo{
		URI:     pfx.FileURI(path),
		Backend: "dstu",
		Label:   filepath.Base(path),
		Model:   "DSTU 4145 key container",
		Flags:   hsm.TokenFlags{LoginRequired: true, PIN: hsm.PINState{Retries: -1}},
	}
}

// Tokens lists one token per container.
func (b *Backend) Tokens(context.Context) ([]hsm.TokenInfo, error) {
	var out []hsm.TokenInfo
	for _, p := range b.scan() {
		out = append(out, tokenInfo(p))
	}
	return out, nil
}

// Keys lists one key per container; an unlocked key shows its public key
// and matching certificate.
func (b *Backend) Keys(context.Context) ([]hsm.KeyInfo, error) {
	var out []hsm.KeyInfo
	for _, p := range b.scan() {
		out = append(out, b.keyInfo(p))
	}
	return out, nil
}

func (b *Backend) keyInfo(path string) hsm.KeyInfo {
	ki := hsm.KeyInfo{
		URI:           pfx.KeyURI(path, keyAlias),
		TokenURI:      pfx.FileURI(path),
		Label:         filepath.Base(path),
		HasPrivateKey: true,
		CanSign:       true,
	}
	b.mu.Lock()
	lk := b.unlocked[path]
	b.mu.Unlock()
	if lk == nil {
		return ki
	}
	pub := &lk.key.PublicKey
	ki.Algorithm, ki.Bits, ki.PublicKey = hsm.DSTU4145, pub.Curve.M, pub
	ki.Certificate, ki.Chain = lk.cert, lk.chain
	if ki.Certificate == nil {
		ki.Certificate = findCertificate(filepath.Dir(path), pub)
	}
	return ki
}

// findCertificate returns the certificate in dir whose DSTU public key is
// pub, or nil.
func findCertificate(dir string, pub *dstu.PublicKey) *x509.Certificate {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, e := range ents {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if !e.Type().IsRegular() || (ext != ".cer" && ext != ".crt" && ext != ".pem") {
			continue
		}
		data, err := limitread.File(filepath.Join(dir, e.Name()), maxCertFile)
		if err != nil {
			continue
		}
		if blk, _ := pem.Decode(data); blk != nil && blk.Type == "CERTIFICATE" {
			data = blk.Bytes
		}
		cert, err := x509.ParseCertificate(data)
		if err != nil {
			continue
		}
		if k, err := dstu.ParsePKIXPublicKey(cert.RawSubjectPublicKeyInfo); err == nil && k.Equal(pub) {
			return cert
		}
	}
	return nil
}

// Sign signs a digest (a GOST 34.311-95 hash for DSTU 4145; opts are not
// used) with the container's key, asking for its password first if needed.
// The signature is r‖s, each half little-endian.
func (b *Backend) Sign(ctx context.Context, keyURI string, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	path, alias, err := pfx.ParseURI(keyURI)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", hsm.ErrInvalidRequest, err)
	}
	if alias != "" && alias != keyAlias {
		return nil, fmt.Errorf("%s: %w", keyURI, hsm.ErrKeyNotFound)
	}
	key, err := b.unlock(ctx, path)
	if err != nil {
		return nil, err
	}
	sig, err := key.Sign(rand.Reader, digest, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", hsm.ErrInvalidRequest, err)
	}
	return sig, nil
}

// unlock returns the container's key, decrypting it with a prompted
// password when it is not in memory.
func (b *Backend) unlock(ctx context.Context, path string) (*dstu.PrivateKey, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errors.New("DSTU key backend is closed")
	}
	if lk := b.unlocked[path]; lk != nil {
		b.touchLocked(path, lk)
		b.mu.Unlock()
		return lk.key, nil
	}
	b.mu.Unlock()
	if !b.Handles(pfx.FileURI(path)) {
		return nil, fmt.Errorf("%s: %w", pfx.FileURI(path), hsm.ErrKeyNotFound)
	}
	data, err := limitread.File(path, dstu.MaxContainer)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pfx.FileURI(path), err)
	}
	lk, err := b.askAndOpen(ctx, path, data)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if old := b.unlocked[path]; old != nil { // unlocked meanwhile
		lk.drop()
		b.touchLocked(path, old)
		return old.key, nil
	}
	b.unlocked[path] = lk
	b.touchLocked(path, lk)
	return lk.key, nil
}

// touchLocked restarts lk's idle timer.
func (b *Backend) touchLocked(path string, lk *liveKey) {
	idle := b.cfg.Login.IdleTimeout
	if idle <= 0 {
		return
	}
	if lk.timer != nil {
		lk.timer.Stop()
	}
	lk.timer = time.AfterFunc(idle, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.unlocked[path] == lk {
			lk.drop()
			delete(b.unlocked, path)
		}
	})
}

func (b *Backend) askAndOpen(ctx context.Context, path string, data []byte) (*liveKey, error) {
	uri := pfx.FileURI(path)
	if b.cfg.PasswordPrompt == nil {
		return nil, fmt.Errorf("%s needs a password and no password prompt is configured: %w", uri, hsm.ErrCancelled)
	}
	tok := tokenInfo(path)
	ki := b.keyInfo(path)
	var last error
	for attempt := 1; attempt <= b.cfg.MaxAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("unlock %s: %w", uri, err)
		}
		resp, err := b.cfg.PasswordPrompt(ctx, hsm.PINRequest{
			Kind: hsm.Password, Token: tok, Key: &ki,
			State: hsm.PINState{Retries: -1}, Attempt: attempt, LastError: last,
		})
		if err != nil {
			hsm.Wipe(resp.PIN)
			return nil, fmt.Errorf("password for %s: %w", uri, err)
		}
		key, err := open(data, resp.PIN)
		hsm.Wipe(resp.PIN)
		if err == nil {
			return key, nil
		}
		if !errors.Is(err, dstu.ErrPassword) {
			return nil, fmt.Errorf("%s: %w", uri, err)
		}
		last = &hsm.PINError{Token: uri, State: hsm.PINState{Retries: -1}, Err: hsm.ErrPINIncorrect}
	}
	return nil, last
}

// open decrypts a container of any of the three kinds.
func open(data, password []byte) (*liveKey, error) {
	switch {
	case dstu.IsKey6(data):
		k, err := dstu.ParseKey6(data, password)
		if err != nil {
			return nil, err
		}
		return &liveKey{key: k}, nil
	case dstu.IsPKCS12(data):
		p, err := dstu.ParsePKCS12(data, password)
		if err != nil {
			return nil, err
		}
		return &liveKey{key: p.Key, cert: p.Certificate, chain: p.Others}, nil
	}
	k, err := dstu.ParseEncryptedPrivateKey(data, password)
	if err != nil {
		return nil, err
	}
	return &liveKey{key: k}, nil
}
