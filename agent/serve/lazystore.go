package serve

import (
	"context"
	"crypto"

	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/hsm"
)

// lazyStore lets the plugins start while the key store opens (loading
// PKCS#11 modules and scanning PFX directories takes a while): each call
// waits until the store is open, or until its context is done.
type lazyStore struct {
	ready chan struct{}
	store *hsm.Store // set before ready is closed
}

var _ host.KeyService = (*lazyStore)(nil)

// The dashboard's "Lock all tokens now" needs the store's Lock.
var _ hsm.Locker = (*lazyStore)(nil)

func openLazy(open func() *hsm.Store) *lazyStore {
	l := &lazyStore{ready: make(chan struct{})}
	go func() {
		l.store = open()
		close(l.ready)
	}()
	return l
}

// CachedKey is hsm.Store.CachedKey; false (without waiting) while the store
// is still opening.
func (l *lazyStore) CachedKey(uri string) (hsm.KeyInfo, bool) {
	select {
	case <-l.ready:
		return l.store.CachedKey(uri)
	default:
		return hsm.KeyInfo{}, false
	}
}

func (l *lazyStore) get(ctx context.Context) (*hsm.Store, error) {
	select {
	case <-l.ready:
		return l.store, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *lazyStore) Tokens(ctx context.Context) ([]hsm.TokenInfo, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.Tokens(ctx)
}

func (l *lazyStore) Keys(ctx context.Context) ([]hsm.KeyInfo, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.Keys(ctx)
}

func (l *lazyStore) Key(ctx context.Context, uri string) (hsm.KeyInfo, error) {
	s, err := l.get(ctx)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	return s.Key(ctx, uri)
}

func (l *lazyStore) Sign(ctx context.Context, uri string, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.Sign(ctx, uri, digest, opts)
}

func (l *lazyStore) Decrypt(ctx context.Context, uri string, ct []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.Decrypt(ctx, uri, ct, opts)
}

func (l *lazyStore) GenerateKey(ctx context.Context, req hsm.GenerateKeyRequest) (hsm.KeyInfo, error) {
	s, err := l.get(ctx)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	return s.GenerateKey(ctx, req)
}

func (l *lazyStore) ImportCertificate(ctx context.Context, req hsm.ImportCertificateRequest) (hsm.KeyInfo, error) {
	s, err := l.get(ctx)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	return s.ImportCertificate(ctx, req)
}

// Lock is hsm.Store.Lock.
func (l *lazyStore) Lock(ctx context.Context, tokenURI string) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.Lock(ctx, tokenURI)
}

// Close waits for the store to be open, then closes it.
func (l *lazyStore) Close() error {
	<-l.ready
	return l.store.Close()
}
