// Package pfx is the hsm backend for PFX/PKCS#12 key files, including the
// E-IMZO layout (key files in disk roots and their DSKEYS folders).
//
// # Naming
//
// A file is a token, named by its RFC 8089 URI (file:///abs/path.pfx). A
// key is an entry of the file, named file:///abs/path.pfx#alias with the
// alias percent-encoded. The alias is the key bag's friendlyName (E-IMZO's
// "cn=…,serialnumber=…,validfrom=…" alias), else the hex of its localKeyId,
// else "key<N>" (its position). Only attributes readable without the
// password are used, so a key's URI is the same locked or unlocked and
// across restarts. A URI without an alias names the file's only key.
//
// # Listing without a password
//
// Listing reads the file's unencrypted parts itself (the structure, key-bag
// attributes, unencrypted certificates) and then silently tries the empty
// password with go-pkcs12: many files keep their certificates encrypted
// under "" or have no password at all. When that fails, the file's
// certificates are usually in an encrypted bag (OpenSSL, Windows and
// go-pkcs12 all do this), and the entry is listed with HasPrivateKey set,
// its alias, and no certificate, algorithm or public key until the first
// unlock. The listing never prompts, and never fails because of one file:
// unreadable files and missing directories are skipped and described by
// Problems (as the pkcs11 backend does). A password-protected file that
// holds certificates only, all encrypted, is indistinguishable from one
// whose key bags are encrypted and is listed with the "key0" placeholder
// until unlocked. After an unlock the certificates stay
// known (they are public) even when the key is forgotten again. Files whose
// key bags are themselves encrypted show one entry "key0" until unlocked.
//
// # Unlocking and secrets
//
// The first Sign or Decrypt asks for the password through
// Config.PasswordPrompt (Kind hsm.Password), up to MaxAttempts times; a
// wrong password is reported to the next prompt, and after the last attempt
// returned, as an *hsm.PINError (ErrPINIncorrect). A cancelled prompt
// returns its error (wrapping hsm.ErrCancelled). The decrypted keys live in
// memory only: dropped after Login.IdleTimeout without use, on Lock, on
// Close, and when the file changes on disk; dropped keys are overwritten
// (best effort, see wipeKey). Passwords are wiped after use and never
// appear in errors.
//
// # Concurrency
//
// Backend is safe for concurrent use. Each file has a one-slot semaphore
// that serialises its unlock (one prompt for many concurrent signers; others
// wait, honouring ctx); signing with an unlocked key runs in parallel. A key
// in use is never wiped under a signer: it is wiped when its last user
// returns.
//
// # Limits
//
// Files over MaxFileSize (1 MiB) are refused. KDF iteration counts over one
// million are refused before any password is tried. go-pkcs12 reads
// DER-encoded files only (BER files from some Java tools are reported as
// unreadable); a file with several keys is read with go-pkcs12's ToPEM,
// which handles RSA and ECDSA keys only.
package pfx

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/signet-agent/signet/hsm"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Config says where the backend finds PFX files and how it unlocks them.
type Config struct {
	// Dirs are scanned (not recursively) for *.pfx and *.p12 files.
	Dirs []string
	// Files are PFX files named one by one.
	Files []string
	// EIMZO adds the E-IMZO layout: every disk root and its DSKEYS folder.
	EIMZO bool
	// EIMZORoots returns the disk roots; nil means DefaultEIMZORoots.
	// Tests inject fake roots here.
	EIMZORoots func() []string
	// PasswordPrompt asks for a file's password (Kind hsm.Password).
	PasswordPrompt hsm.PINPrompt
	// Login says how long an unlocked key is kept.
	Login hsm.LoginPolicy
	// MaxAttempts is the number of password prompts per operation (default 3).
	MaxAttempts int
	// PollInterval is Watch's rescan interval (default 2s).
	PollInterval time.Duration
}

// Backend serves the keys of PFX files. See the package documentation.
type Backend struct {
	cfg   Config
	dirs  []string
	files []string

	mu       sync.Mutex
	known    map[string]*file // by absolute path
	closed   bool
	problems []string // of the last listing
}

// file is one PFX file: what its listing shows and its unlocked keys.
type file struct {
	path string
	uri  string
	sem  chan struct{} // serialises unlocking this file

	mu       sync.Mutex
	size     int64
	modTime  time.Time
	list     *listing
	open     bool // the empty password opens it
	entries  []*entry
	unlocked map[string]*liveKey // by alias
	lastUse  time.Time
	timer    *time.Timer
}

// entry is one key (or, in a file without keys, one certificate).
type entry struct {
	alias string
	label string
	id    []byte
	key   bool
	pub   crypto.PublicKey
	cert  *x509.Certificate
	chain []*x509.Certificate
	plain crypto.Signer // an unencrypted key bag
}

// liveKey is an unlocked private key and the operations using it.
type liveKey struct {
	signer  crypto.Signer
	refs    int
	dropped bool
}

var (
	_ hsm.Backend         = (*Backend)(nil)
	_ hsm.Decrypter       = (*Backend)(nil)
	_ hsm.KeyCache        = (*Backend)(nil)
	_ hsm.Locker          = (*Backend)(nil)
	_ hsm.ProblemReporter = (*Backend)(nil)
	_ hsm.Watcher         = (*Backend)(nil)
)

// Open returns a backend over cfg. It does not read any file yet; missing
// or unreadable directories are reported by Tokens and Keys.
func Open(cfg Config) (*Backend, error) {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.EIMZORoots == nil {
		cfg.EIMZORoots = DefaultEIMZORoots
	}
	b := &Backend{cfg: cfg, known: map[string]*file{}}
	for _, d := range cfg.Dirs {
		a, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("pfx directory %q: %w", d, err)
		}
		b.dirs = append(b.dirs, a)
	}
	for _, f := range cfg.Files {
		a, err := filepath.Abs(f)
		if err != nil {
			return nil, fmt.Errorf("pfx file %q: %w", f, err)
		}
		b.files = append(b.files, a)
	}
	return b, nil
}

func isPFXName(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".pfx" || ext == ".p12"
}

// searchDirs returns the directories scanned for key files and whether a
// missing one is an error (configured) or normal (E-IMZO roots).
func (b *Backend) searchDirs() (configured, optional []string) {
	configured = b.dirs
	if b.cfg.EIMZO {
		for _, r := range b.cfg.EIMZORoots() {
			optional = append(optional, r, filepath.Join(r, "DSKEYS"))
		}
	}
	return configured, optional
}

// scan returns the paths of every key file now present, sorted.
func (b *Backend) scan() ([]string, error) {
	var errs []error
	seen := map[string]bool{}
	var paths []string
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	for _, f := range b.files {
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("pfx file: %w", err))
			continue
		}
		add(f)
	}
	configured, optional := b.searchDirs()
	scanDir := func(d string, mustExist bool) {
		ents, err := os.ReadDir(d)
		if err != nil {
			if mustExist {
				errs = append(errs, fmt.Errorf("pfx directory: %w", err))
			}
			return
		}
		for _, e := range ents {
			if isPFXName(e.Name()) && e.Type().IsRegular() {
				add(filepath.Join(d, e.Name()))
			}
		}
	}
	for _, d := range configured {
		scanDir(d, true)
	}
	for _, d := range optional {
		scanDir(d, false)
	}
	sort.Strings(paths)
	return paths, errors.Join(errs...)
}

// Handles reports whether uri names a file this backend serves: a
// configured file, or a key file in a scanned directory (present or not).
func (b *Backend) Handles(uri string) bool {
	path, _, err := ParseURI(uri)
	if err != nil {
		return false
	}
	return b.allowed(path)
}

func (b *Backend) allowed(path string) bool {
	b.mu.Lock()
	_, ok := b.known[path]
	b.mu.Unlock()
	if ok {
		return true
	}
	for _, f := range b.files {
		if f == path {
			return true
		}
	}
	if !isPFXName(path) {
		return false
	}
	dir := filepath.Dir(path)
	configured, optional := b.searchDirs()
	for _, d := range append(configured, optional...) {
		if filepath.Clean(d) == dir {
			return true
		}
	}
	return false
}

// get returns the file at path, read and listed (again if it changed).
func (b *Backend) get(path string) (*file, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errors.New("pfx backend closed")
	}
	f := b.known[path]
	if f == nil {
		f = &file{path: path, uri: FileURI(path), sem: make(chan struct{}, 1), unlocked: map[string]*liveKey{}}
		b.known[path] = f
	}
	b.mu.Unlock()
	return f, f.refresh()
}

// refresh re-reads the file when its size or time changed. A changed file
// loses its unlocked keys.
func (f *file) refresh() error {
	st, err := os.Stat(f.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// Gone (a USB stick pulled out): forget its keys, like a
			// logout on token removal.
			f.mu.Lock()
			f.dropAllLocked()
			f.list, f.entries = nil, nil
			f.mu.Unlock()
			return fmt.Errorf("%s: %w", f.uri, hsm.ErrTokenRemoved)
		}
		return fmt.Errorf("%s: %w", f.uri, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.list != nil && st.Size() == f.size && st.ModTime().Equal(f.modTime) {
		return nil
	}
	data, err := readBounded(f.path)
	if err != nil {
		return fmt.Errorf("%s: %w", f.uri, err)
	}
	l, err := parseListing(data)
	if err != nil {
		return fmt.Errorf("%s: %w", f.uri, err)
	}
	f.dropAllLocked()
	f.list, f.size, f.modTime, f.open = l, st.Size(), st.ModTime(), false
	var dec *decoded
	if d, err := decode(data, nil); err == nil {
		f.open, dec = true, d
	}
	f.entries = buildEntries(l, dec, nil)
	if dec != nil {
		for _, k := range dec.keys {
			wipeKey(k.key)
		}
	}
	return nil
}

func readBounded(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w (over %d bytes)", ErrTooLarge, MaxFileSize)
	}
	return data, nil
}

// buildEntries names the file's keys from what the listing shows and fills
// in certificates and public keys from dec when the file was decrypted.
// If keys is non-nil it receives the index in dec.keys of each alias's key.
func buildEntries(l *listing, dec *decoded, keys map[string]int) []*entry {
	var ents []*entry
	used := map[string]bool{}
	uniq := func(a string) string {
		base, n := a, 2
		for used[a] {
			a = base + "-" + strconv.Itoa(n)
			n++
		}
		used[a] = true
		return a
	}
	for i, k := range l.keys {
		e := &entry{alias: uniq(derivedAlias(k, i)), label: k.friendlyName, id: k.localKeyID, key: true}
		if k.plain != nil {
			if s, ok := k.plain.(crypto.Signer); ok {
				e.plain, e.pub = s, s.Public()
			}
		}
		ents = append(ents, e)
	}
	if len(l.keys) == 0 && l.encrypted {
		// The key bags are encrypted too: name them by position.
		n := 1
		if dec != nil {
			n = len(dec.keys)
		}
		for i := 0; i < n; i++ {
			ents = append(ents, &entry{alias: uniq("key" + strconv.Itoa(i)), key: true})
		}
	}
	// Pair decrypted keys with entries: by localKeyId, friendlyName, then position.
	if dec != nil {
		taken := make([]bool, len(dec.keys))
		for i, e := range ents {
			j := -1
			for jj, dk := range dec.keys {
				if taken[jj] {
					continue
				}
				if (len(e.id) > 0 && string(dk.localKeyID) == string(e.id)) ||
					(e.label != "" && dk.friendlyName == e.label) {
					j = jj
					break
				}
			}
			if j < 0 && len(dec.keys) == len(ents) && !taken[i] {
				j = i
			}
			if j < 0 {
				continue
			}
			taken[j] = true
			dk := dec.keys[j]
			e.pub = dk.key.Public()
			if e.label == "" {
				e.label = dk.friendlyName
			}
			if keys != nil {
				keys[e.alias] = j
			}
		}
	}
	certs := make([]*x509.Certificate, 0, len(l.certs))
	for _, c := range l.certs {
		certs = append(certs, c.cert)
	}
	if dec != nil && len(dec.certs) > 0 {
		certs = dec.certs
	}
	for _, e := range ents {
		if e.pub != nil {
			e.cert, e.chain = leafAndChain(certs, e.pub)
			continue
		}
		// Locked: pair a visible certificate by localKeyId, or the single
		// key with the leaf of the visible certificates.
		for _, c := range l.certs {
			if len(e.id) > 0 && string(c.localKeyID) == string(e.id) {
				e.cert, e.chain = leafAndChain(certs, c.cert.PublicKey)
			}
		}
		if e.cert == nil && len(ents) == 1 && len(certs) > 0 {
			e.cert, e.chain = leafAndChain(certs, nil)
		}
		if e.cert != nil {
			e.pub = e.cert.PublicKey
		}
	}
	if len(ents) == 0 {
		// A file of certificates only: one entry per certificate.
		for i, c := range certs {
			name := ""
			if i < len(l.certs) {
				name = l.certs[i].friendlyName
			}
			a := name
			if a == "" {
				a = "cert" + strconv.Itoa(i)
			}
			ents = append(ents, &entry{alias: uniq(a), label: name, cert: c, pub: c.PublicKey})
		}
	}
	return ents
}

// copyEntries returns the entries for use outside f.mu (entries are
// replaced, never modified, once published).
func (f *file) snapshot() (ents []*entry, open bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*entry(nil), f.entries...), f.open
}

func (f *file) tokenInfo() hsm.TokenInfo {
	_, open := f.snapshot()
	return hsm.TokenInfo{
		URI:     f.uri,
		Backend: "pfx",
		Label:   filepath.Base(f.path),
		Model:   "PKCS#12 file",
		Flags: hsm.TokenFlags{
			LoginRequired: !open,
			PIN:           hsm.PINState{Retries: -1},
		},
	}
}

func (f *file) keyInfo(e *entry) hsm.KeyInfo {
	k := hsm.KeyInfo{
		URI:           KeyURI(f.path, e.alias),
		TokenURI:      f.uri,
		Label:         e.label,
		ID:            e.id,
		PublicKey:     e.pub,
		HasPrivateKey: e.key,
		CanSign:       e.key,
		Certificate:   e.cert,
		Chain:         e.chain,
	}
	if k.Label == "" && e.cert != nil {
		k.Label = e.cert.Subject.CommonName
	}
	if k.Label == "" {
		k.Label = e.alias
	}
	switch p := e.pub.(type) {
	case *rsa.PublicKey:
		k.Algorithm, k.Bits, k.CanDecrypt = hsm.RSA, p.N.BitLen(), e.key
	case *ecdsa.PublicKey:
		k.Algorithm, k.Bits = hsm.ECDSA, p.Curve.Params().BitSize
	case ed25519.PublicKey:
		k.Algorithm, k.Bits = hsm.Ed25519, 256
	}
	return k
}

// Tokens lists the key files found now. Files that cannot be read, and
// configured files or directories that are missing, are skipped and
// reported by Problems; they never fail the listing.
func (b *Backend) Tokens(ctx context.Context) ([]hsm.TokenInfo, error) {
	files := b.list()
	out := make([]hsm.TokenInfo, 0, len(files))
	for _, f := range files {
		out = append(out, f.tokenInfo())
	}
	return out, nil
}

// Keys lists every entry of every key file found now, without prompting.
// Unreadable files are skipped and reported by Problems.
func (b *Backend) Keys(ctx context.Context) ([]hsm.KeyInfo, error) {
	var out []hsm.KeyInfo
	for _, f := range b.list() {
		ents, _ := f.snapshot()
		for _, e := range ents {
			out = append(out, f.keyInfo(e))
		}
	}
	return out, nil
}

// list scans for key files, reads the changed ones and records what it
// could not read as the current problems.
func (b *Backend) list() []*file {
	paths, err := b.scan()
	var problems []string
	if err != nil {
		problems = append(problems, splitErr(err)...)
	}
	var files []*file
	for _, p := range paths {
		f, err := b.get(p)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		files = append(files, f)
	}
	b.mu.Lock()
	b.problems = problems
	var gone []*file
	present := map[string]bool{}
	for _, p := range paths {
		present[p] = true
	}
	for p, f := range b.known {
		if !present[p] {
			gone = append(gone, f)
		}
	}
	b.mu.Unlock()
	for _, f := range gone {
		f.refresh() // forgets the keys of a file that went away
	}
	return files
}

// Problems describes what the last listing skipped: unreadable or
// malformed files (naming the file and why), missing configured files and
// directories.
func (b *Backend) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

func splitErr(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, splitErr(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

// resolve finds the file and entry a key URI names.
func (b *Backend) resolve(keyURI string) (*file, *entry, error) {
	path, alias, err := ParseURI(keyURI)
	if err != nil {
		return nil, nil, err
	}
	if !b.allowed(path) {
		return nil, nil, fmt.Errorf("%s is not a configured key file: %w", FileURI(path), hsm.ErrKeyNotFound)
	}
	f, err := b.get(path)
	if err != nil {
		return nil, nil, err
	}
	ents, _ := f.snapshot()
	var keys []*entry
	for _, e := range ents {
		if e.key {
			keys = append(keys, e)
		}
	}
	if alias == "" {
		if len(keys) == 1 {
			return f, keys[0], nil
		}
		return nil, nil, fmt.Errorf("%s has %d keys; name one with #alias: %w", f.uri, len(keys), hsm.ErrKeyNotFound)
	}
	for _, e := range keys {
		if e.alias == alias {
			return f, e, nil
		}
	}
	return nil, nil, fmt.Errorf("no key %q in %s: %w", alias, f.uri, hsm.ErrKeyNotFound)
}

// CachedKey describes the key named by keyURI from what the backend read
// when it last listed or used the file, without reading it again; false
// when the file was not read yet or has no such key.
func (b *Backend) CachedKey(keyURI string) (hsm.KeyInfo, bool) {
	path, alias, err := ParseURI(keyURI)
	if err != nil {
		return hsm.KeyInfo{}, false
	}
	b.mu.Lock()
	f := b.known[path]
	b.mu.Unlock()
	if f == nil {
		return hsm.KeyInfo{}, false
	}
	ents, _ := f.snapshot()
	var found *entry
	for _, e := range ents {
		if !e.key || (alias != "" && e.alias != alias) {
			continue
		}
		if found != nil {
			return hsm.KeyInfo{}, false // several keys and no alias
		}
		found = e
	}
	if found == nil {
		return hsm.KeyInfo{}, false
	}
	return f.keyInfo(found), true
}

// Sign signs digest with the key named by keyURI, unlocking the file first
// if needed. ECDSA signatures are ASN.1 DER, as crypto.Signer returns them.
func (b *Backend) Sign(ctx context.Context, keyURI string, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		return nil, fmt.Errorf("sign with %s: nil signer options: %w", keyURI, hsm.ErrInvalidRequest)
	}
	f, e, err := b.resolve(keyURI)
	if err != nil {
		return nil, err
	}
	lk, err := b.acquire(ctx, f, e)
	if err != nil {
		return nil, err
	}
	defer f.release(lk)
	if err := checkDigest(lk.signer, digest, opts); err != nil {
		return nil, fmt.Errorf("sign with %s: %w", keyURI, err)
	}
	sig, err := lk.signer.Sign(rand.Reader, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("sign with %s: %w", keyURI, err)
	}
	return sig, nil
}

func checkDigest(s crypto.Signer, digest []byte, opts crypto.SignerOpts) error {
	h := opts.HashFunc()
	if _, ok := s.(ed25519.PrivateKey); ok {
		if _, isOpts := opts.(*ed25519.Options); !isOpts && h != 0 {
			return fmt.Errorf("Ed25519 signs the message itself, not a %v digest: %w", h, hsm.ErrInvalidRequest)
		}
		return nil
	}
	if h == 0 {
		return fmt.Errorf("a hash function is required: %w", hsm.ErrInvalidRequest)
	}
	if !h.Available() || len(digest) != h.Size() {
		return fmt.Errorf("digest is %d bytes, %v needs %d: %w", len(digest), h, h.Size(), hsm.ErrInvalidRequest)
	}
	return nil
}

// Decrypt decrypts with an RSA key: PKCS#1 v1.5 (nil opts or
// *rsa.PKCS1v15DecryptOptions) or OAEP (*rsa.OAEPOptions).
func (b *Backend) Decrypt(ctx context.Context, keyURI string, ciphertext []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	f, e, err := b.resolve(keyURI)
	if err != nil {
		return nil, err
	}
	if e.pub != nil {
		if _, ok := e.pub.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("decrypt with %s: not an RSA key: %w", keyURI, hsm.ErrUnsupported)
		}
	}
	lk, err := b.acquire(ctx, f, e)
	if err != nil {
		return nil, err
	}
	defer f.release(lk)
	rk, ok := lk.signer.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("decrypt with %s: not an RSA key: %w", keyURI, hsm.ErrUnsupported)
	}
	switch opts.(type) {
	//lint:ignore SA1019 CMS key transport and PKCS#11 CKM_RSA_PKCS are RSA PKCS #1 v1.5 by definition; portals still send it
	case nil, *rsa.PKCS1v15DecryptOptions, *rsa.OAEPOptions:
	default:
		return nil, fmt.Errorf("decrypt with %s: options %T: %w", keyURI, opts, hsm.ErrUnsupported)
	}
	pt, err := rk.Decrypt(rand.Reader, ciphertext, opts)
	if err != nil {
		return nil, fmt.Errorf("decrypt with %s: %w", keyURI, err)
	}
	return pt, nil
}

// acquire returns the unlocked key of e, asking for the password if
// needed. The caller must release it.
func (b *Backend) acquire(ctx context.Context, f *file, e *entry) (*liveKey, error) {
	if e.plain != nil {
		return &liveKey{signer: e.plain, refs: 1}, nil
	}
	if lk := f.take(e.alias, b.cfg.Login); lk != nil {
		return lk, nil
	}
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("unlock %s: %w", f.uri, ctx.Err())
	}
	defer func() { <-f.sem }()
	if lk := f.take(e.alias, b.cfg.Login); lk != nil { // unlocked while we waited
		return lk, nil
	}
	keys, err := b.unlock(ctx, f, e)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	for alias, k := range keys {
		if old := f.unlocked[alias]; old != nil {
			old.drop()
		}
		f.unlocked[alias] = &liveKey{signer: k}
	}
	f.mu.Unlock()
	lk := f.take(e.alias, b.cfg.Login)
	if lk == nil {
		return nil, fmt.Errorf("%s: the password opened the file but key %q is not in it: %w", f.uri, e.alias, hsm.ErrKeyNotFound)
	}
	return lk, nil
}

// unlock decrypts the file, prompting for the password unless the empty
// one opens it, and updates its entries with what the decrypted file shows.
func (b *Backend) unlock(ctx context.Context, f *file, e *entry) (map[string]crypto.Signer, error) {
	data, err := readBounded(f.path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.uri, err)
	}
	f.mu.Lock()
	open, list := f.open, f.list
	f.mu.Unlock()
	var dec *decoded
	if open {
		if dec, err = decode(data, nil); err != nil {
			return nil, fmt.Errorf("%s: %w", f.uri, err)
		}
	} else {
		if dec, err = b.askAndDecode(ctx, f, e, data); err != nil {
			return nil, err
		}
	}
	idx := map[string]int{}
	ents := buildEntries(list, dec, idx)
	keys := map[string]crypto.Signer{}
	claimed := make([]bool, len(dec.keys))
	for alias, j := range idx {
		keys[alias], claimed[j] = dec.keys[j].key, true
	}
	for j, dk := range dec.keys { // keys no entry claimed
		if !claimed[j] {
			wipeKey(dk.key)
		}
	}
	f.mu.Lock()
	if f.list == list { // the file did not change meanwhile
		f.entries = ents
	}
	f.mu.Unlock()
	return keys, nil
}

func (b *Backend) askAndDecode(ctx context.Context, f *file, e *entry, data []byte) (*decoded, error) {
	if b.cfg.PasswordPrompt == nil {
		return nil, fmt.Errorf("%s needs a password and no password prompt is configured: %w", f.uri, hsm.ErrCancelled)
	}
	tok := f.tokenInfo()
	ki := f.keyInfo(e)
	var last error
	for attempt := 1; attempt <= b.cfg.MaxAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("unlock %s: %w", f.uri, err)
		}
		resp, err := b.cfg.PasswordPrompt(ctx, hsm.PINRequest{
			Kind:      hsm.Password,
			Token:     tok,
			Key:       &ki,
			State:     hsm.PINState{Retries: -1},
			Attempt:   attempt,
			LastError: last,
		})
		if err != nil {
			hsm.Wipe(resp.PIN)
			return nil, fmt.Errorf("password for %s: %w", f.uri, err)
		}
		dec, err := decode(data, resp.PIN)
		hsm.Wipe(resp.PIN)
		if err == nil {
			return dec, nil
		}
		if !errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, fmt.Errorf("%s: %w", f.uri, err)
		}
		last = &hsm.PINError{Token: f.uri, State: hsm.PINState{Retries: -1}, Err: hsm.ErrPINIncorrect}
	}
	return nil, last
}

// take returns the live key of alias with one more user, or nil.
func (f *file) take(alias string, pol hsm.LoginPolicy) *liveKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	lk := f.unlocked[alias]
	if lk == nil {
		return nil
	}
	lk.refs++
	f.lastUse = time.Now()
	if pol.IdleTimeout > 0 && f.timer == nil {
		f.timer = time.AfterFunc(pol.IdleTimeout, func() { f.expire(pol.IdleTimeout) })
	}
	return lk
}

func (f *file) release(lk *liveKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastUse = time.Now()
	lk.refs--
	if lk.dropped && lk.refs == 0 {
		wipeKey(lk.signer)
	}
}

// expire forgets the keys after an idle period, or waits for the rest of it.
func (f *file) expire(idle time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timer == nil {
		return
	}
	if left := idle - time.Since(f.lastUse); left > 0 {
		f.timer.Reset(left)
		return
	}
	f.dropAllLocked()
}

// drop forgets the key; it is wiped when its last user is done. Called
// with the file's mu held.
func (lk *liveKey) drop() {
	lk.dropped = true
	if lk.refs == 0 {
		wipeKey(lk.signer)
	}
}

func (f *file) dropAllLocked() {
	for alias, lk := range f.unlocked {
		lk.drop()
		delete(f.unlocked, alias)
	}
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
}

// Lock forgets the unlocked keys of the file named by tokenURI (a key URI
// names its file), so the next use asks for the password again.
func (b *Backend) Lock(ctx context.Context, tokenURI string) error {
	path, _, err := ParseURI(tokenURI)
	if err != nil {
		return err
	}
	b.mu.Lock()
	f := b.known[path]
	b.mu.Unlock()
	if f != nil {
		f.mu.Lock()
		f.dropAllLocked()
		f.mu.Unlock()
	}
	return nil
}

// Watch reports key files appearing and disappearing (a USB stick with a
// DSKEYS folder plugged in, a file copied into a directory) by rescanning
// every PollInterval.
func (b *Backend) Watch(ctx context.Context) (<-chan hsm.TokenEvent, error) {
	prev, _ := b.scan()
	ch := make(chan hsm.TokenEvent, 16)
	go func() {
		defer close(ch)
		t := time.NewTicker(b.cfg.PollInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			cur, _ := b.scan()
			for _, ev := range diffPaths(prev, cur) {
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				}
			}
			prev = cur
		}
	}()
	return ch, nil
}

func diffPaths(prev, cur []string) []hsm.TokenEvent {
	was, is := map[string]bool{}, map[string]bool{}
	for _, p := range prev {
		was[p] = true
	}
	for _, p := range cur {
		is[p] = true
	}
	now := time.Now()
	var evs []hsm.TokenEvent
	for _, p := range prev {
		if !is[p] {
			evs = append(evs, hsm.TokenEvent{Time: now, Removed: true, Token: hsm.TokenInfo{URI: FileURI(p), Backend: "pfx", Label: filepath.Base(p), Model: "PKCS#12 file"}})
		}
	}
	for _, p := range cur {
		if !was[p] {
			evs = append(evs, hsm.TokenEvent{Time: now, Token: hsm.TokenInfo{URI: FileURI(p), Backend: "pfx", Label: filepath.Base(p), Model: "PKCS#12 file"}})
		}
	}
	return evs
}

// Close forgets every unlocked key.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for _, f := range b.known {
		f.mu.Lock()
		f.dropAllLocked()
		f.mu.Unlock()
	}
	return nil
}

func wipeInt(n *big.Int) {
	if n == nil {
		return
	}
	w := n.Bits()
	for i := range w {
		w[i] = 0
	}
	n.SetInt64(0)
}
