package pfx

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/signet-agent/signet/hsm"
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
	data []byte        // the content of a file held in memory (AddMemory); nil for a file on disk
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

// Close forgets every unlocked key.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for _, f := range b.known {
		f.mu.Lock()
		f.dropAllLocked()
		if f.data != nil {
			wipe(f.data)
		}
		f.mu.Unlock()
	}
	return nil
}
