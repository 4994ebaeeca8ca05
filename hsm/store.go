package hsm

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
)

// Backend is a KeyStore that can say which URIs are its own. Store uses it
// to route a call to the backend that owns a token or key.
type Backend interface {
	KeyStore
	// Handles reports whether uri names a token or key of this backend,
	// including a token it has seen before that is not present now (so the
	// backend can answer ErrTokenRemoved naming it).
	Handles(uri string) bool
}

// Store combines several backends — one per PKCS#11 module, plus PFX — into
// one KeyStore with every optional capability. Listing merges all backends; a
// backend that fails to list is reported in the returned error but does not
// hide the others' results. Operations on one URI go to the backend that
// handles it.
type Store struct {
	mu       sync.RWMutex
	backends []Backend
}

// NewStore returns a Store over backends.
func NewStore(backends ...Backend) *Store {
	return &Store{backends: backends}
}

// Add appends a backend.
func (s *Store) Add(b Backend) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.backends = append(s.backends, b)
}

// Backends returns the backends in order.
func (s *Store) Backends() []Backend {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]Backend(nil), s.backends...)
}

// Tokens lists every backend's tokens. If some backends fail, the tokens of
// the others are returned together with a joined error.
func (s *Store) Tokens(ctx context.Context) ([]TokenInfo, error) {
	var all []TokenInfo
	var errs []error
	for _, b := range s.Backends() {
		t, err := b.Tokens(ctx)
		all = append(all, t...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return all, errors.Join(errs...)
}

// Keys lists every backend's keys and certificates, like Tokens.
func (s *Store) Keys(ctx context.Context) ([]KeyInfo, error) {
	var all []KeyInfo
	var errs []error
	for _, b := range s.Backends() {
		k, err := b.Keys(ctx)
		all = append(all, k...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return all, errors.Join(errs...)
}

// KeyLooker is implemented by backends that find one key without listing
// every token (the pkcs11 backend reads only the key's token, from its
// cached listing). Key returns what Keys would list for keyURI, or
// ErrKeyNotFound.
type KeyLooker interface {
	Key(ctx context.Context, keyURI string) (KeyInfo, error)
}

// Key returns the KeyInfo named by keyURI.
func (s *Store) Key(ctx context.Context, keyURI string) (KeyInfo, error) {
	b, err := s.route(keyURI)
	if err != nil {
		return KeyInfo{}, err
	}
	if kl, ok := b.(KeyLooker); ok {
		return kl.Key(ctx, keyURI)
	}
	keys, err := b.Keys(ctx)
	if err != nil {
		return KeyInfo{}, err
	}
	for _, k := range keys {
		if k.URI == keyURI || SameURI(k.URI, keyURI) {
			return k, nil
		}
	}
	return KeyInfo{}, fmt.Errorf("%s: %w", keyURI, ErrKeyNotFound)
}

// Sign routes to the backend that owns keyURI.
func (s *Store) Sign(ctx context.Context, keyURI string, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	b, err := s.route(keyURI)
	if err != nil {
		return nil, err
	}
	return b.Sign(ctx, keyURI, digest, opts)
}

// Decrypt routes to the backend that owns keyURI.
func (s *Store) Decrypt(ctx context.Context, keyURI string, ciphertext []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	b, err := s.route(keyURI)
	if err != nil {
		return nil, err
	}
	d, ok := b.(Decrypter)
	if !ok {
		return nil, fmt.Errorf("decrypt with %s: %w", keyURI, ErrUnsupported)
	}
	return d.Decrypt(ctx, keyURI, ciphertext, opts)
}

// GenerateKey routes to the backend that owns req.TokenURI.
func (s *Store) GenerateKey(ctx context.Context, req GenerateKeyRequest) (KeyInfo, error) {
	b, err := s.route(req.TokenURI)
	if err != nil {
		return KeyInfo{}, err
	}
	g, ok := b.(KeyGenerator)
	if !ok {
		return KeyInfo{}, fmt.Errorf("generate key on %s: %w", req.TokenURI, ErrUnsupported)
	}
	return g.GenerateKey(ctx, req)
}

// ImportCertificate routes to the backend that owns the key or token.
func (s *Store) ImportCertificate(ctx context.Context, req ImportCertificateRequest) (KeyInfo, error) {
	uri := req.KeyURI
	if uri == "" {
		uri = req.TokenURI
	}
	b, err := s.route(uri)
	if err != nil {
		return KeyInfo{}, err
	}
	im, ok := b.(CertificateImporter)
	if !ok {
		return KeyInfo{}, fmt.Errorf("import certificate to %s: %w", uri, ErrUnsupported)
	}
	return im.ImportCertificate(ctx, req)
}

// Delete routes to the backend that owns uri.
func (s *Store) Delete(ctx context.Context, uri string) error {
	b, err := s.route(uri)
	if err != nil {
		return err
	}
	d, ok := b.(Deleter)
	if !ok {
		return fmt.Errorf("delete %s: %w", uri, ErrUnsupported)
	}
	return d.Delete(ctx, uri)
}

// Lock routes to the backend that owns tokenURI.
func (s *Store) Lock(ctx context.Context, tokenURI string) error {
	b, err := s.route(tokenURI)
	if err != nil {
		return err
	}
	l, ok := b.(Locker)
	if !ok {
		return nil // nothing cached, nothing to forget
	}
	return l.Lock(ctx, tokenURI)
}

// Watch merges the events of every backend that implements Watcher.
func (s *Store) Watch(ctx context.Context) (<-chan TokenEvent, error) {
	out := make(chan TokenEvent, 16)
	var wg sync.WaitGroup
	for _, b := range s.Backends() {
		w, ok := b.(Watcher)
		if !ok {
			continue
		}
		ch, err := w.Watch(ctx)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range ch {
				select {
				case out <- ev:
				case <-ctx.Done():
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out, nil
}

// Problems gathers what every backend's last listing skipped.
func (s *Store) Problems() []string {
	var all []string
	for _, b := range s.Backends() {
		if p, ok := b.(ProblemReporter); ok {
			all = append(all, p.Problems()...)
		}
	}
	return all
}

// Close closes every backend.
func (s *Store) Close() error {
	var errs []error
	for _, b := range s.Backends() {
		if err := b.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CachedKey routes to the backend that owns keyURI when it is a KeyCache;
// it never touches a token.
func (s *Store) CachedKey(keyURI string) (KeyInfo, bool) {
	b, err := s.route(keyURI)
	if err != nil {
		return KeyInfo{}, false
	}
	c, ok := b.(KeyCache)
	if !ok {
		return KeyInfo{}, false
	}
	return c.CachedKey(keyURI)
}

// route returns the backend that handles uri.
func (s *Store) route(uri string) (Backend, error) {
	if uri == "" {
		return nil, fmt.Errorf("empty key URI: %w", ErrInvalidURI)
	}
	for _, b := range s.Backends() {
		if b.Handles(uri) {
			return b, nil
		}
	}
	return nil, unrouted(uri)
}

// unrouted says why no backend handles uri: ErrInvalidURI for a URI that
// is malformed or of a scheme no backend uses, ErrTokenRemoved for a
// well-formed pkcs11: URI whose token is not present, ErrKeyNotFound for
// a file: URI no backend serves. The message never repeats a pin-value.
func unrouted(uri string) error {
	scheme, _, ok := strings.Cut(uri, ":")
	if !ok || !validScheme(scheme) {
		return fmt.Errorf("key URI without a scheme (want pkcs11: or file:): %w", ErrInvalidURI)
	}
	switch strings.ToLower(scheme) {
	case "pkcs11":
		u, err := ParseURI(uri)
		if err != nil {
			return err
		}
		defer u.Wipe()
		return fmt.Errorf("no token matches %s: %w", u, ErrTokenRemoved)
	case "file":
		if _, err := url.Parse(uri); err != nil {
			return fmt.Errorf("malformed file: URI: %v: %w", err, ErrInvalidURI)
		}
		return fmt.Errorf("%s: %w", uri, ErrKeyNotFound)
	}
	return fmt.Errorf("unknown key URI scheme %q (want pkcs11: or file:): %w", safeName(scheme), ErrInvalidURI)
}

// validScheme reports whether s is an RFC 3986 scheme: a letter, then
// letters, digits, '+', '-' or '.'.
func validScheme(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// Interface checks: Store offers every capability.
var (
	_ KeyStore            = (*Store)(nil)
	_ Decrypter           = (*Store)(nil)
	_ KeyGenerator        = (*Store)(nil)
	_ CertificateImporter = (*Store)(nil)
	_ Deleter             = (*Store)(nil)
	_ Watcher             = (*Store)(nil)
	_ Locker              = (*Store)(nil)
	_ ProblemReporter     = (*Store)(nil)
	_ KeyCache            = (*Store)(nil)
)
