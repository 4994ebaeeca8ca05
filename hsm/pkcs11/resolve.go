package pkcs11

import (
	"crypto/x509"
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk/certs"
)

// keyRef is a resolved private key: the handle is valid for one insertion
// (generation) of its token.
type keyRef struct {
	tok        *token
	gen        uint64
	priv       p11.ObjectHandle
	keyType    uint
	bits       int
	alwaysAuth bool
	info       hsm.KeyInfo // what the PIN prompt is shown
}

// maxCachedKeys bounds the URI → key handle cache.
const maxCachedKeys = 1024

// safeURI is keyURI as it may appear in an error: canonical, no pin-value.
func safeURI(keyURI string) string {
	u, err := hsm.ParseURI(keyURI)
	if err != nil {
		return "<invalid pkcs11 URI>"
	}
	u.Wipe()
	return u.String()
}

// cachedRef returns the key handle cached for keyURI, or nil.
func (b *Backend) cachedRef(keyURI string) *keyRef {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.keys[keyURI]
}

// liveToken returns the state of ref's token while ref's handle is valid
// (the token is present, in the insertion the handle was found in).
func (b *Backend) liveToken(ref *keyRef) (tokenState, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if !ref.tok.present || ref.tok.gen != ref.gen {
		return tokenState{}, false
	}
	return b.snapshotLocked(ref.tok), true
}

// cacheKey remembers ref for keyURI, unless its token was reinserted since
// gen.
func (b *Backend) cacheKey(keyURI string, ref *keyRef, gen uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ref.tok.gen != gen {
		return
	}
	if len(b.keys) >= maxCachedKeys {
		clear(b.keys) // bounded: callers may spell one key many ways
	}
	b.keys[keyURI] = ref
}

// dropCachedKey forgets the key handle cached for keyURI.
func (b *Backend) dropCachedKey(keyURI string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.keys, keyURI)
}

// resolveKey finds the private key u names on a logged-in session. The
// object label in a key URI may be its public key's or certificate's label
// (listings take the label from the objects visible without login), so a
// key found by id is accepted when any object with that id has the label.
func (b *Backend) resolveKey(s tokenState, h p11.SessionHandle, u *hsm.URI) (*keyRef, error) {
	switch u.Type {
	case "", hsm.ObjectPrivate, hsm.ObjectPublic, hsm.ObjectCert:
	default:
		return nil, fmt.Errorf("%s names a %s object, not a key: %w", u.String(), u.Type, hsm.ErrInvalidRequest)
	}
	if len(u.ID) == 0 && u.Object == "" {
		return nil, fmt.Errorf("%s names no object (id= or object=): %w", u.String(), hsm.ErrInvalidRequest)
	}
	privT := func(extra ...*p11.Attribute) []*p11.Attribute {
		return append([]*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY)}, extra...)
	}
	var hs []p11.ObjectHandle
	var err error
	if len(u.ID) > 0 {
		hs, err = b.findObjects(h, privT(p11.NewAttribute(p11.CKA_ID, u.ID)))
		if err != nil {
			return nil, err
		}
		if u.Object != "" && len(hs) > 0 {
			byLabel, err := b.findObjects(h, privT(p11.NewAttribute(p11.CKA_ID, u.ID), p11.NewAttribute(p11.CKA_LABEL, u.Object)))
			if err != nil {
				return nil, err
			}
			if len(byLabel) == 0 {
				any, err := b.findObjects(h, []*p11.Attribute{p11.NewAttribute(p11.CKA_ID, u.ID), p11.NewAttribute(p11.CKA_LABEL, u.Object)})
				if err != nil {
					return nil, err
				}
				if len(any) == 0 {
					hs = nil
				}
			} else {
				hs = byLabel
			}
		}
	} else {
		hs, err = b.findObjects(h, privT(p11.NewAttribute(p11.CKA_LABEL, u.Object)))
		if err != nil {
			return nil, err
		}
		if len(hs) == 0 {
			others, err := b.findObjects(h, []*p11.Attribute{p11.NewAttribute(p11.CKA_LABEL, u.Object)})
			if err != nil {
				return nil, err
			}
			for _, o := range others {
				a, err := b.attrs(h, o, p11.CKA_ID)
				if err != nil || len(a[p11.CKA_ID]) == 0 {
					continue
				}
				hs, err = b.findObjects(h, privT(p11.NewAttribute(p11.CKA_ID, a[p11.CKA_ID])))
				if err != nil {
					return nil, err
				}
				if len(hs) > 0 {
					break
				}
			}
		}
	}
	switch {
	case len(hs) == 0:
		return nil, fmt.Errorf("%s: %w", u.String(), hsm.ErrKeyNotFound)
	case len(hs) > 1:
		return nil, fmt.Errorf("%s matches %d private keys: %w", u.String(), len(hs), hsm.ErrInvalidRequest)
	}
	obj, err := b.readObject(h, hs[0])
	if err != nil {
		var skip errSkip
		if errors.As(err, &skip) {
			return nil, fmt.Errorf("%s: %v: %w", u.String(), skip, hsm.ErrUnsupported)
		}
		return nil, err
	}
	label := u.Object
	if label == "" {
		label = obj.label
	}
	ref := &keyRef{tok: s.tok, gen: s.gen, priv: hs[0], keyType: obj.keyType, bits: obj.bits, alwaysAuth: obj.alwaysAut,
		info: hsm.KeyInfo{URI: u.String(), TokenURI: s.tok.uri, Label: label, ID: obj.id, HasPrivateKey: true,
			Algorithm: algorithmOf(obj.keyType, nil), Bits: obj.bits, CanSign: obj.sign, CanDecrypt: obj.decrypt,
			AlwaysAuthenticate: obj.alwaysAut}}
	if len(obj.id) > 0 {
		// The certificate with the key's id, for CachedKey (the journal's
		// certificate serial). Best effort: a key without one still signs.
		found, err := b.findObjects(h, []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, p11.CKO_CERTIFICATE), p11.NewAttribute(p11.CKA_ID, obj.id)})
		if err == nil && len(found) > 0 {
			if a, err := b.attrs(h, found[0], p11.CKA_VALUE); err == nil {
				if c, err := x509.ParseCertificate(a[p11.CKA_VALUE]); err == nil {
					ref.info.Certificate = c
					ref.info.PublicKey = certs.PublicKey(c)
					if isGOSTKeyType(obj.keyType) {
						ref.info.Algorithm = algorithmOf(obj.keyType, ref.info.PublicKey)
					}
				}
			}
		}
	}
	return ref, nil
}

// CachedKey returns what the backend learned about keyURI when an operation
// last resolved it (its certificate included, when the token has one with
// the key's id), without touching the token. It reports false when the key
// was not used since its token was (re)inserted.
func (b *Backend) CachedKey(keyURI string) (hsm.KeyInfo, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	ref := b.keys[keyURI]
	if ref == nil || !ref.tok.present || ref.tok.gen != ref.gen {
		return hsm.KeyInfo{}, false
	}
	return ref.info, true
}
