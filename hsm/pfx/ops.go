package pfx

// Key operations: resolving a key URI and signing or decrypting with it.

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk/gost"
)

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
	if g, ok := s.(*gost.PrivateKey); ok {
		// GOST hashes are not crypto.Hash values: the key's type names
		// its hash (Type.NewHash), and the digest has the curve's size.
		if h != 0 {
			return fmt.Errorf("a %s key signs a digest of its own GOST hash, not %v: %w", g.Type, h, hsm.ErrInvalidRequest)
		}
		if n := g.Curve.Size(); len(digest) != n {
			return fmt.Errorf("digest is %d bytes, a %s key signs %d-byte digests: %w", len(digest), g.Type, n, hsm.ErrInvalidRequest)
		}
		return nil
	}
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
