package pkcs11

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
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

// opFunc runs one operation on a logged-in session. ref is nil for token
// operations. Setting *dirty says an operation may be left active on the
// session, so it must be closed rather than reused.
type opFunc func(s tokenState, h p11.SessionHandle, ref *keyRef, dirty *bool) error

// run is the common path of every operation: find the token (and key),
// take a session from the token's pool, log in if needed, run f, give the
// session back. It recovers once from a stale session, an expired login or
// a stale object handle; a removed token fails fast with ErrTokenRemoved
// naming it.
//
// pre, when set, checks the token's mechanisms (and the key, when it is
// already known) before a session is taken or a PIN asked for.
func (b *Backend) run(ctx context.Context, rawURI, what string, needKey bool, pre func(tokenState, *keyRef) error, f opFunc) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w: %w", what, hsm.ErrCancelled, err)
	}
	var ref *keyRef
	var s tokenState
	if needKey {
		b.mu.RLock()
		if ref = b.keys[rawURI]; ref != nil && ref.tok.present && ref.tok.gen == ref.gen {
			s = b.snapshotLocked(ref.tok)
		} else {
			ref = nil
		}
		b.mu.RUnlock()
	}
	var u *hsm.URI
	parse := func() error {
		if u != nil {
			return nil
		}
		var err error
		u, err = hsm.ParseURI(rawURI)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		u.Wipe()
		return nil
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if ref != nil && attempt > 0 {
			b.mu.RLock()
			if ref.tok.present && ref.tok.gen == ref.gen {
				s = b.snapshotLocked(ref.tok)
			} else {
				ref = nil
			}
			b.mu.RUnlock()
		}
		if ref == nil {
			if err := parse(); err != nil {
				return err
			}
			var err error
			if s, err = b.findToken(u); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		if pre != nil {
			if err := pre(s, ref); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		h, err := s.pool.get(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		var prompt *hsm.KeyInfo
		if ref != nil {
			ki := ref.info // the prompt gets a copy
			prompt = &ki
		} else if needKey {
			prompt = &hsm.KeyInfo{URI: u.String(), TokenURI: s.tok.uri, Label: u.Object, ID: u.ID}
		}
		dirty := false
		err = b.ensureLogin(ctx, s, h, prompt)
		if err == nil && needKey && ref == nil {
			ref, err = b.resolveKey(s, h, u)
			if errors.Is(err, hsm.ErrKeyNotFound) {
				// A listing that still shows the key is wrong (another
				// process deleted it): list the token again next time.
				b.listingStale(s.tok)
			}
			if err == nil {
				b.mu.Lock()
				if ref.tok.gen == s.gen {
					if len(b.keys) >= maxCachedKeys {
						clear(b.keys) // bounded: callers may spell one key many ways
					}
					b.keys[rawURI] = ref
				}
				b.mu.Unlock()
			}
		}
		if err == nil {
			err = f(s, h, ref, &dirty)
		}
		if err != nil && !isCode(err, removedCodes...) && !isCode(err, staleCodes...) && !isPINErr(err) && b.gone(s) {
			// The token went away under us. Modules differ in what they
			// say then (SoftHSM: CKR_GENERAL_ERROR, or simply no objects).
			s.pool.put(h, true)
			b.forget(s.tok, s.gen)
			return fmt.Errorf("%s: token %q: %w (%w)", what, s.tok.label, hsm.ErrTokenRemoved, err)
		}
		if err != nil && s.info.Flags.LoginRequired && !sessionBroken(err) && !isPINErr(err) && !b.sessionLoggedIn(h) {
			// The token logged us out behind our back (its last session
			// closed, another user of the module called C_Logout): the
			// private key looks missing. Log in again and retry.
			s.pool.put(h, dirty)
			b.markLoggedOut(s)
			lastErr = err
			continue
		}
		s.pool.put(h, dirty || sessionBroken(err))
		switch {
		case err == nil:
			return nil
		case isCode(err, removedCodes...):
			b.forget(s.tok, s.gen)
			return fmt.Errorf("%s: token %q: %w", what, s.tok.label, mapErr(err))
		case isCode(err, staleCodes...):
			b.forget(s.tok, s.gen)
			ref = nil
		case isCode(err, p11.CKR_USER_NOT_LOGGED_IN):
			b.markLoggedOut(s)
		case isCode(err, p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_KEY_HANDLE_INVALID) && needKey:
			b.mu.Lock()
			delete(b.keys, rawURI)
			b.mu.Unlock()
			ref = nil
		default:
			return fmt.Errorf("%s: %w", what, mapErr(err))
		}
		lastErr = err
	}
	return fmt.Errorf("%s: %w", what, mapErr(lastErr))
}

// sessionLoggedIn reports whether the session is in a user state.
func (b *Backend) sessionLoggedIn(h p11.SessionHandle) bool {
	si, err := b.api.GetSessionInfo(h)
	return err == nil && (si.State == p11.CKS_RO_USER_FUNCTIONS || si.State == p11.CKS_RW_USER_FUNCTIONS)
}

// gone reports whether the token of s is no longer in its slot.
func (b *Backend) gone(s tokenState) bool {
	ti, err := b.api.GetTokenInfo(s.slot)
	return err != nil || tokenIdent(ti) != s.tok.ident
}

func isPINErr(err error) bool {
	var pe *hsm.PINError
	return errors.As(err, &pe) || errors.Is(err, hsm.ErrFinalTry) || errors.Is(err, hsm.ErrCancelled)
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
		certs, err := b.findObjects(h, []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, p11.CKO_CERTIFICATE), p11.NewAttribute(p11.CKA_ID, obj.id)})
		if err == nil && len(certs) > 0 {
			if a, err := b.attrs(h, certs[0], p11.CKA_VALUE); err == nil {
				if c, err := x509.ParseCertificate(a[p11.CKA_VALUE]); err == nil {
					ref.info.Certificate = c
					ref.info.PublicKey = c.PublicKey
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

// DigestInfo prefixes for RSA PKCS#1 v1.5 (as in crypto/rsa).
var hashPrefixes = map[crypto.Hash][]byte{
	crypto.MD5:        {0x30, 0x20, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05, 0x05, 0x00, 0x04, 0x10},
	crypto.SHA1:       {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14},
	crypto.SHA224:     {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c},
	crypto.SHA256:     {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384:     {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512:     {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
	crypto.SHA512_224: {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x05, 0x05, 0x00, 0x04, 0x1c},
	crypto.SHA512_256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x06, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA3_256:   {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x08, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA3_384:   {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x09, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA3_512:   {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x0a, 0x05, 0x00, 0x04, 0x40},
	crypto.MD5SHA1:    {},
}

// hashMech maps a hash to its PKCS#11 digest mechanism and MGF1 generator.
func hashMech(h crypto.Hash) (mech, mgf uint, ok bool) {
	switch h {
	case crypto.SHA1:
		return p11.CKM_SHA_1, p11.CKG_MGF1_SHA1, true
	case crypto.SHA224:
		return p11.CKM_SHA224, p11.CKG_MGF1_SHA224, true
	case crypto.SHA256:
		return p11.CKM_SHA256, p11.CKG_MGF1_SHA256, true
	case crypto.SHA384:
		return p11.CKM_SHA384, p11.CKG_MGF1_SHA384, true
	case crypto.SHA512:
		return p11.CKM_SHA512, p11.CKG_MGF1_SHA512, true
	}
	return 0, 0, false
}

// signMechanism chooses the mechanism and the data to sign for ref, or
// refuses with ErrUnsupported/ErrInvalidRequest before the token is used.
func signMechanism(ref *keyRef, digest []byte, opts crypto.SignerOpts) (*p11.Mechanism, []byte, error) {
	if opts == nil {
		return nil, nil, fmt.Errorf("no signer options: %w", hsm.ErrInvalidRequest)
	}
	hf := opts.HashFunc()
	if ref.keyType != ckkECEdwards && hf != 0 && len(digest) != hf.Size() {
		return nil, nil, fmt.Errorf("digest is %d bytes, %v needs %d: %w", len(digest), hf, hf.Size(), hsm.ErrInvalidRequest)
	}
	switch ref.keyType {
	case p11.CKK_RSA:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			mech, mgf, ok := hashMech(hf)
			if !ok {
				return nil, nil, fmt.Errorf("RSA-PSS with %v: %w", hf, hsm.ErrUnsupported)
			}
			salt := pss.SaltLength
			switch salt {
			case rsa.PSSSaltLengthEqualsHash:
				salt = hf.Size()
			case rsa.PSSSaltLengthAuto:
				if ref.bits == 0 {
					return nil, nil, fmt.Errorf("RSA-PSS with automatic salt: modulus size unknown: %w", hsm.ErrUnsupported)
				}
				salt = (ref.bits-1+7)/8 - 2 - hf.Size()
			}
			if salt < 0 {
				return nil, nil, fmt.Errorf("RSA-PSS salt length %d: %w", pss.SaltLength, hsm.ErrInvalidRequest)
			}
			return p11.NewMechanism(p11.CKM_RSA_PKCS_PSS, p11.NewPSSParams(mech, mgf, uint(salt))), digest, nil
		}
		prefix, ok := hashPrefixes[hf]
		if hf == 0 {
			prefix, ok = nil, true // digest is already a DigestInfo (or raw data)
		}
		if !ok {
			return nil, nil, fmt.Errorf("RSA PKCS#1 v1.5 with %v: %w", hf, hsm.ErrUnsupported)
		}
		data := make([]byte, 0, len(prefix)+len(digest))
		data = append(append(data, prefix...), digest...)
		return p11.NewMechanism(p11.CKM_RSA_PKCS, nil), data, nil
	case p11.CKK_EC:
		if hf == 0 {
			return nil, nil, fmt.Errorf("ECDSA needs a hash function in the signer options: %w", hsm.ErrInvalidRequest)
		}
		return p11.NewMechanism(p11.CKM_ECDSA, nil), digest, nil
	case ckkECEdwards:
		if hf != 0 {
			return nil, nil, fmt.Errorf("Ed25519 signs the whole message (hash %v given): %w", hf, hsm.ErrUnsupported)
		}
		if o, ok := opts.(*ed25519.Options); ok && o.Context != "" {
			return nil, nil, fmt.Errorf("Ed25519ctx: %w", hsm.ErrUnsupported)
		}
		return p11.NewMechanism(ckmEdDSA, nil), digest, nil
	}
	return nil, nil, fmt.Errorf("key type 0x%x: %w", ref.keyType, hsm.ErrUnsupported)
}

// ecdsaDER converts PKCS#11's r||s to the ASN.1 SEQUENCE { r INTEGER, s
// INTEGER } crypto.Signer returns. (Hand-written: it is on every ECDSA
// signature's path and cryptobyte/big.Int cost more than the rest of the
// backend's bookkeeping.)
func ecdsaDER(sig []byte) ([]byte, error) {
	if len(sig) == 0 || len(sig)%2 != 0 || len(sig) > 2*66 {
		return nil, fmt.Errorf("ECDSA signature of %d bytes from token", len(sig))
	}
	r, s := derInt(sig[:len(sig)/2]), derInt(sig[len(sig)/2:])
	body := 2 + len(r) + 2 + len(s)
	out := make([]byte, 0, 3+body)
	out = append(out, 0x30)
	if body >= 0x80 {
		out = append(out, 0x81)
	}
	out = append(out, byte(body), 0x02, byte(len(r)))
	out = append(out, r...)
	out = append(out, 0x02, byte(len(s)))
	return append(out, s...), nil
}

// derInt returns the DER INTEGER contents of the unsigned big-endian v.
func derInt(v []byte) []byte {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) == 0 || v[0]&0x80 != 0 {
		return append([]byte{0}, v...)
	}
	return v
}

// Sign signs digest with the private key keyURI names (see hsm.KeyStore).
func (b *Backend) Sign(ctx context.Context, keyURI string, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	var sig []byte
	// The mechanism is chosen (and checked against the token's list) before
	// a session is taken when the key is already known, else once it is.
	var chosenFor *keyRef
	var mech *p11.Mechanism
	var data []byte
	choose := func(s tokenState, ref *keyRef) error {
		if ref == nil || ref == chosenFor {
			return nil
		}
		var err error
		if mech, data, err = signMechanism(ref, digest, opts); err != nil {
			return err
		}
		if !s.supports(mech.Mechanism) {
			return fmt.Errorf("token %q lacks mechanism 0x%x: %w", s.tok.label, mech.Mechanism, hsm.ErrUnsupported)
		}
		chosenFor = ref
		return nil
	}
	err := b.run(ctx, keyURI, "sign", true, choose, func(s tokenState, h p11.SessionHandle, ref *keyRef, dirty *bool) error {
		if err := choose(s, ref); err != nil {
			return err
		}
		if err := b.api.SignInit(h, []*p11.Mechanism{mech}, ref.priv); err != nil {
			return err
		}
		if ref.alwaysAuth {
			ki := ref.info
			if err := b.login(ctx, s, h, ckuContextSpecific, hsm.ContextPIN, &ki); err != nil {
				*dirty = true // the sign operation is still active on this session
				return err
			}
		}
		out, err := b.api.Sign(h, data)
		if err != nil {
			return err
		}
		if ref.keyType == p11.CKK_EC {
			out, err = ecdsaDER(out)
			if err != nil {
				return err
			}
		}
		sig = out
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", safeURI(keyURI), err)
	}
	return sig, nil
}

// Decrypt decrypts with an RSA key: PKCS#1 v1.5 (nil opts or
// *rsa.PKCS1v15DecryptOptions) or OAEP (*rsa.OAEPOptions). A token that
// refuses the OAEP hash (SoftHSM 2.6 does SHA-1 only) gives ErrUnsupported.
func (b *Backend) Decrypt(ctx context.Context, keyURI string, ciphertext []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	var mech *p11.Mechanism
	sessionKeyLen := 0
	switch o := opts.(type) {
	case nil:
		mech = p11.NewMechanism(p11.CKM_RSA_PKCS, nil)
	//lint:ignore SA1019 CMS key transport and PKCS#11 CKM_RSA_PKCS are RSA PKCS #1 v1.5 by definition; portals still send it
	case *rsa.PKCS1v15DecryptOptions:
		mech = p11.NewMechanism(p11.CKM_RSA_PKCS, nil)
		sessionKeyLen = o.SessionKeyLen
	case *rsa.OAEPOptions:
		hm, mgf, ok := hashMech(o.Hash)
		if !ok {
			return nil, fmt.Errorf("%s: OAEP with %v: %w", safeURI(keyURI), o.Hash, hsm.ErrUnsupported)
		}
		if o.MGFHash != 0 && o.MGFHash != o.Hash {
			if _, mgf, ok = hashMech(o.MGFHash); !ok {
				return nil, fmt.Errorf("%s: OAEP MGF1 with %v: %w", safeURI(keyURI), o.MGFHash, hsm.ErrUnsupported)
			}
		}
		mech = p11.NewMechanism(p11.CKM_RSA_PKCS_OAEP, p11.NewOAEPParams(hm, mgf, p11.CKZ_DATA_SPECIFIED, o.Label))
	default:
		return nil, fmt.Errorf("%s: decrypter options %T: %w", safeURI(keyURI), opts, hsm.ErrUnsupported)
	}
	var plain []byte
	pre := func(s tokenState, _ *keyRef) error {
		if !s.supports(mech.Mechanism) {
			return fmt.Errorf("token %q lacks mechanism 0x%x: %w", s.tok.label, mech.Mechanism, hsm.ErrUnsupported)
		}
		return nil
	}
	err := b.run(ctx, keyURI, "decrypt", true, pre, func(s tokenState, h p11.SessionHandle, ref *keyRef, dirty *bool) error {
		if ref.keyType != p11.CKK_RSA {
			return fmt.Errorf("decrypt with a non-RSA key: %w", hsm.ErrUnsupported)
		}
		if err := b.api.DecryptInit(h, []*p11.Mechanism{mech}, ref.priv); err != nil {
			if mech.Mechanism == p11.CKM_RSA_PKCS_OAEP && isCode(err, p11.CKR_MECHANISM_PARAM_INVALID, p11.CKR_ARGUMENTS_BAD) {
				return fmt.Errorf("token %q refuses these OAEP parameters: %w: %w", s.tok.label, hsm.ErrUnsupported, err)
			}
			return err
		}
		if ref.alwaysAuth {
			ki := ref.info
			if err := b.login(ctx, s, h, ckuContextSpecific, hsm.ContextPIN, &ki); err != nil {
				*dirty = true
				return err
			}
		}
		out, err := b.api.Decrypt(h, ciphertext)
		if err != nil {
			return err
		}
		plain = out
		return nil
	})
	if err != nil {
		if sessionKeyLen > 0 && isCode(err, p11.CKR_ENCRYPTED_DATA_INVALID, p11.CKR_ENCRYPTED_DATA_LEN_RANGE) {
			// As crypto/rsa: with SessionKeyLen set, a padding error yields a
			// random key instead of an error (Bleichenbacher).
			key := make([]byte, sessionKeyLen)
			_, _ = rand.Read(key)
			return key, nil
		}
		return nil, fmt.Errorf("%s: %w", safeURI(keyURI), err)
	}
	return plain, nil
}

var (
	derOIDEd25519  = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}
	derNameEd25519 = append([]byte{0x13, 0x0c}, "edwards25519"...)
)

// GenerateKey creates a key pair on the token req.TokenURI names.
func (b *Backend) GenerateKey(ctx context.Context, req hsm.GenerateKeyRequest) (hsm.KeyInfo, error) {
	id := req.ID
	if len(id) == 0 {
		id = make([]byte, 8)
		if _, err := rand.Read(id); err != nil {
			return hsm.KeyInfo{}, err
		}
	}
	pub := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_VERIFY, true),
		p11.NewAttribute(p11.CKA_ID, id),
	}
	priv := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_SIGN, true),
		p11.NewAttribute(p11.CKA_ID, id),
	}
	if req.Label != "" {
		pub = append(pub, p11.NewAttribute(p11.CKA_LABEL, req.Label))
		priv = append(priv, p11.NewAttribute(p11.CKA_LABEL, req.Label))
	}
	var mech uint
	var params [][]byte // EC params to try, in order
	switch req.Algorithm {
	case hsm.RSA:
		bits := req.Bits
		if bits == 0 {
			bits = 2048
		}
		if bits < 2048 || bits > 8192 {
			return hsm.KeyInfo{}, fmt.Errorf("generate RSA-%d: %w", bits, hsm.ErrInvalidRequest)
		}
		mech = p11.CKM_RSA_PKCS_KEY_PAIR_GEN
		pub = append(pub, p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_RSA),
			p11.NewAttribute(p11.CKA_MODULUS_BITS, bits),
			p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
			p11.NewAttribute(p11.CKA_ENCRYPT, true))
		priv = append(priv, p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_RSA), p11.NewAttribute(p11.CKA_DECRYPT, true))
	case hsm.ECDSA:
		var oid asn1.ObjectIdentifier
		switch req.Bits {
		case 0, 256:
			oid = oidP256
		case 384:
			oid = oidP384
		case 521:
			oid = oidP521
		default:
			return hsm.KeyInfo{}, fmt.Errorf("generate ECDSA P-%d: %w", req.Bits, hsm.ErrUnsupported)
		}
		der, _ := asn1.Marshal(oid)
		mech, params = p11.CKM_EC_KEY_PAIR_GEN, [][]byte{der}
		pub = append(pub, p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_EC))
		priv = append(priv, p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_EC))
	case hsm.Ed25519:
		mech, params = ckmECEdwardsKeyPairGen, [][]byte{derOIDEd25519, derNameEd25519}
		pub = append(pub, p11.NewAttribute(p11.CKA_KEY_TYPE, ckkECEdwards))
		priv = append(priv, p11.NewAttribute(p11.CKA_KEY_TYPE, ckkECEdwards))
	default:
		return hsm.KeyInfo{}, fmt.Errorf("generate %q key: %w", req.Algorithm, hsm.ErrUnsupported)
	}
	var tokURI string
	var tok *token
	pre := func(s tokenState, _ *keyRef) error {
		if !s.supports(mech) {
			return fmt.Errorf("token %q lacks key generation mechanism 0x%x: %w", s.tok.label, mech, hsm.ErrUnsupported)
		}
		return nil
	}
	err := b.run(ctx, req.TokenURI, "generate key", false, pre, func(s tokenState, h p11.SessionHandle, _ *keyRef, _ *bool) error {
		tokURI = s.tok.uri
		tok = s.tok
		m := []*p11.Mechanism{p11.NewMechanism(mech, nil)}
		if params == nil {
			_, _, err := b.api.GenerateKeyPair(h, m, pub, priv)
			return err
		}
		var err error
		for _, p := range params {
			_, _, err = b.api.GenerateKeyPair(h, m, append(pub, p11.NewAttribute(p11.CKA_EC_PARAMS, p)), priv)
			if err == nil || !isCode(err, p11.CKR_ATTRIBUTE_VALUE_INVALID, p11.CKR_CURVE_NOT_SUPPORTED, p11.CKR_DOMAIN_PARAMS_INVALID, p11.CKR_TEMPLATE_INCONSISTENT) {
				break
			}
		}
		return err
	})
	if tok != nil {
		b.objectsChanged(tok) // even after a failure: a key pair may have been made
	}
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	return b.keyByID(ctx, tokURI, id)
}

// keyByID lists the token and returns the KeyInfo with CKA_ID id.
func (b *Backend) keyByID(ctx context.Context, tokURI string, id []byte) (hsm.KeyInfo, error) {
	u, err := hsm.ParseURI(tokURI)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	s, err := b.findToken(u)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	keys, _, err := b.listToken(ctx, s)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	for _, k := range keys {
		if bytes.Equal(k.ID, id) && (k.HasPrivateKey || k.PublicKey != nil) {
			return k, nil
		}
	}
	return hsm.KeyInfo{}, fmt.Errorf("key id %x on token %q: %w", id, s.tok.label, hsm.ErrKeyNotFound)
}

// ImportCertificate stores req.Certificate next to its key (same CKA_ID),
// and the chain's CA certificates beside it.
func (b *Backend) ImportCertificate(ctx context.Context, req hsm.ImportCertificateRequest) (hsm.KeyInfo, error) {
	if req.Certificate == nil {
		return hsm.KeyInfo{}, fmt.Errorf("import certificate: no certificate: %w", hsm.ErrInvalidRequest)
	}
	where := req.KeyURI
	if where == "" {
		where = req.TokenURI
	}
	u, err := hsm.ParseURI(where)
	if err != nil {
		return hsm.KeyInfo{}, fmt.Errorf("import certificate: %w", err)
	}
	u.Wipe()
	s, err := b.findToken(u)
	if err != nil {
		return hsm.KeyInfo{}, fmt.Errorf("import certificate: %w", err)
	}
	keys, _, err := b.listToken(ctx, s)
	if err != nil {
		return hsm.KeyInfo{}, fmt.Errorf("import certificate: %w", err)
	}
	var key *hsm.KeyInfo
	for i := range keys {
		k := &keys[i]
		if k.PublicKey == nil || !k.HasPrivateKey {
			continue
		}
		if req.KeyURI != "" && !u.MatchesObject(k.Label, k.ID, hsm.ObjectPrivate) {
			continue
		}
		if eq, ok := k.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && eq.Equal(req.Certificate.PublicKey) {
			key = k
			break
		}
		if req.KeyURI != "" {
			return hsm.KeyInfo{}, fmt.Errorf("import certificate: its public key is not the key of %s: %w", u.String(), hsm.ErrInvalidRequest)
		}
	}
	if key == nil {
		return hsm.KeyInfo{}, fmt.Errorf("import certificate: no key on token %q matches the certificate: %w", s.tok.label, hsm.ErrKeyNotFound)
	}
	label := req.Label
	if label == "" {
		label = key.Label
	}
	err = b.run(ctx, s.tok.uri, "import certificate", false, nil, func(s tokenState, h p11.SessionHandle, _ *keyRef, _ *bool) error {
		if err := b.storeCert(h, req.Certificate, key.ID, label); err != nil {
			return err
		}
		for _, c := range req.Chain {
			id := c.SubjectKeyId
			if len(id) == 0 {
				sum := sha1.Sum(c.RawSubjectPublicKeyInfo)
				id = sum[:]
			}
			if err := b.storeCert(h, c, id, c.Subject.CommonName); err != nil {
				return err
			}
		}
		return nil
	})
	// The cached listing and key handles of this token describe its keys
	// without the new certificates (some may be stored even on failure).
	b.objectsChanged(s.tok)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	return b.keyByID(ctx, s.tok.uri, key.ID)
}

// storeCert creates a certificate object unless the same certificate is
// already on the token.
func (b *Backend) storeCert(h p11.SessionHandle, c *x509.Certificate, id []byte, label string) error {
	same, err := b.findObjects(h, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_CERTIFICATE), p11.NewAttribute(p11.CKA_VALUE, c.Raw)})
	if err != nil {
		return err
	}
	if len(same) > 0 {
		return nil
	}
	serial, err := asn1.Marshal(c.SerialNumber)
	if err != nil {
		return err
	}
	_, err = b.api.CreateObject(h, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_CERTIFICATE),
		p11.NewAttribute(p11.CKA_CERTIFICATE_TYPE, p11.CKC_X_509),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, false),
		p11.NewAttribute(p11.CKA_LABEL, label),
		p11.NewAttribute(p11.CKA_ID, id),
		p11.NewAttribute(p11.CKA_SUBJECT, c.RawSubject),
		p11.NewAttribute(p11.CKA_ISSUER, c.RawIssuer),
		p11.NewAttribute(p11.CKA_SERIAL_NUMBER, serial),
		p11.NewAttribute(p11.CKA_VALUE, c.Raw),
	})
	return err
}

// Delete removes the objects uri names. A key URI (type=private, or no
// type) removes the private key, its public key and its certificate (same
// CKA_ID); type=cert or type=public removes only that object.
func (b *Backend) Delete(ctx context.Context, uri string) error {
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	u.Wipe()
	if len(u.ID) == 0 && u.Object == "" {
		return fmt.Errorf("delete %s: names no object: %w", u.String(), hsm.ErrInvalidRequest)
	}
	var classes []uint
	switch u.Type {
	case "", hsm.ObjectPrivate:
		classes = []uint{p11.CKO_PRIVATE_KEY, p11.CKO_PUBLIC_KEY, p11.CKO_CERTIFICATE}
	case hsm.ObjectPublic:
		classes = []uint{p11.CKO_PUBLIC_KEY}
	case hsm.ObjectCert:
		classes = []uint{p11.CKO_CERTIFICATE}
	default:
		return fmt.Errorf("delete %s: %w", u.String(), hsm.ErrUnsupported)
	}
	deleted := 0
	var tok *token
	err = b.run(ctx, uri, "delete", false, nil, func(s tokenState, h p11.SessionHandle, _ *keyRef, _ *bool) error {
		tok = s.tok
		id := u.ID
		if len(id) == 0 {
			// find the id through any object with the label
			hs, err := b.findObjects(h, []*p11.Attribute{p11.NewAttribute(p11.CKA_LABEL, u.Object)})
			if err != nil {
				return err
			}
			for _, o := range hs {
				if a, err := b.attrs(h, o, p11.CKA_ID); err == nil && len(a[p11.CKA_ID]) > 0 {
					id = a[p11.CKA_ID]
					break
				}
			}
		}
		for _, class := range classes {
			tmpl := []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, class)}
			if len(id) > 0 {
				tmpl = append(tmpl, p11.NewAttribute(p11.CKA_ID, id))
			} else {
				tmpl = append(tmpl, p11.NewAttribute(p11.CKA_LABEL, u.Object))
			}
			if len(u.ID) > 0 && u.Object != "" && u.Type != "" && u.Type != hsm.ObjectPrivate {
				tmpl = append(tmpl, p11.NewAttribute(p11.CKA_LABEL, u.Object))
			}
			hs, err := b.findObjects(h, tmpl)
			if err != nil {
				return err
			}
			for _, o := range hs {
				if err := b.api.DestroyObject(h, o); err != nil {
					return err
				}
				deleted++
			}
		}
		return nil
	})
	if tok != nil {
		b.objectsChanged(tok)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", u.String(), err)
	}
	if deleted == 0 {
		return fmt.Errorf("delete %s: %w", u.String(), hsm.ErrKeyNotFound)
	}
	return nil
}
