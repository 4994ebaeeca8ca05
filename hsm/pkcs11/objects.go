package pkcs11

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk/certs"
	"github.com/signet-agent/signet/sdk/gost"
)

var (
	oidP256    = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384    = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521    = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
)

// maxObjects bounds how many objects one listing reads from a token.
const maxObjects = 4096

// object is what a listing reads of one PKCS#11 object.
type object struct {
	handle    p11.ObjectHandle
	class     uint
	id        []byte
	label     string
	keyType   uint
	pub       crypto.PublicKey // public keys; RSA private keys (modulus, exponent)
	bits      int
	sign      bool
	decrypt   bool
	alwaysAut bool
	cert      *x509.Certificate
}

func attrBool(v []byte) bool { return len(v) > 0 && v[0] != 0 }

func attrUint(v []byte) uint {
	// CK_ULONG in host byte order (little endian on every platform Signet runs on)
	var x uint
	for i := len(v) - 1; i >= 0; i-- {
		x = x<<8 | uint(v[i])
	}
	return x
}

func (b *Backend) attrs(h p11.SessionHandle, o p11.ObjectHandle, types ...uint) (map[uint][]byte, error) {
	tmpl := make([]*p11.Attribute, len(types))
	for i, t := range types {
		tmpl[i] = p11.NewAttribute(t, nil)
	}
	got, err := b.api.GetAttributeValue(h, o, tmpl)
	if err != nil {
		return nil, err
	}
	m := make(map[uint][]byte, len(got))
	for _, a := range got {
		m[a.Type] = a.Value
	}
	return m, nil
}

// findObjects returns the handles matching tmpl (at most maxObjects).
func (b *Backend) findObjects(h p11.SessionHandle, tmpl []*p11.Attribute) ([]p11.ObjectHandle, error) {
	if err := b.api.FindObjectsInit(h, tmpl); err != nil {
		return nil, err
	}
	var out []p11.ObjectHandle
	for len(out) < maxObjects {
		hs, _, err := b.api.FindObjects(h, 64)
		if err != nil {
			_ = b.api.FindObjectsFinal(h)
			return nil, err
		}
		if len(hs) == 0 {
			break
		}
		out = append(out, hs...)
	}
	if err := b.api.FindObjectsFinal(h); err != nil {
		return nil, err
	}
	return out, nil
}

// readObject reads one object. A malformed object returns an error the
// listing records and skips; a session error is returned as is.
func (b *Backend) readObject(h p11.SessionHandle, o p11.ObjectHandle) (*object, error) {
	a, err := b.attrs(h, o, p11.CKA_CLASS, p11.CKA_ID, p11.CKA_LABEL)
	if err != nil {
		return nil, err
	}
	obj := &object{handle: o, class: attrUint(a[p11.CKA_CLASS]), id: a[p11.CKA_ID], label: string(a[p11.CKA_LABEL])}
	switch obj.class {
	case p11.CKO_CERTIFICATE:
		a, err := b.attrs(h, o, p11.CKA_CERTIFICATE_TYPE, p11.CKA_VALUE)
		if err != nil {
			return nil, err
		}
		if attrUint(a[p11.CKA_CERTIFICATE_TYPE]) != p11.CKC_X_509 {
			return nil, errSkip{"not an X.509 certificate"}
		}
		c, err := x509.ParseCertificate(a[p11.CKA_VALUE])
		if err != nil {
			return nil, errSkip{"certificate: " + err.Error()}
		}
		obj.cert = c
		obj.pub = certs.PublicKey(c)
	case p11.CKO_PUBLIC_KEY, p11.CKO_PRIVATE_KEY:
		a, err := b.attrs(h, o, p11.CKA_KEY_TYPE)
		if err != nil {
			return nil, err
		}
		obj.keyType = attrUint(a[p11.CKA_KEY_TYPE])
		if obj.class == p11.CKO_PRIVATE_KEY {
			a, err := b.attrs(h, o, p11.CKA_SIGN, p11.CKA_DECRYPT)
			if err != nil {
				return nil, err
			}
			obj.sign, obj.decrypt = attrBool(a[p11.CKA_SIGN]), attrBool(a[p11.CKA_DECRYPT])
			if a, err := b.attrs(h, o, p11.CKA_ALWAYS_AUTHENTICATE); err == nil {
				obj.alwaysAut = attrBool(a[p11.CKA_ALWAYS_AUTHENTICATE])
			}
		}
		switch obj.keyType {
		case p11.CKK_RSA:
			a, err := b.attrs(h, o, p11.CKA_MODULUS, p11.CKA_PUBLIC_EXPONENT)
			if err != nil {
				if obj.class == p11.CKO_PRIVATE_KEY {
					return obj, nil // some tokens hide these on private keys
				}
				return nil, err
			}
			pub, err := rsaPublic(a[p11.CKA_MODULUS], a[p11.CKA_PUBLIC_EXPONENT])
			if err != nil {
				return nil, errSkip{err.Error()}
			}
			obj.pub, obj.bits = pub, pub.N.BitLen()
		case p11.CKK_EC, ckkECEdwards:
			if obj.class == p11.CKO_PRIVATE_KEY {
				if a, err := b.attrs(h, o, p11.CKA_EC_PARAMS); err == nil {
					if c, _, err := curveOf(a[p11.CKA_EC_PARAMS]); err == nil && c != nil {
						obj.bits = c.Params().BitSize
					} else if err == nil {
						obj.bits = 256
					}
				}
				return obj, nil
			}
			a, err := b.attrs(h, o, p11.CKA_EC_PARAMS, p11.CKA_EC_POINT)
			if err != nil {
				return nil, err
			}
			pub, err := ecPublic(a[p11.CKA_EC_PARAMS], a[p11.CKA_EC_POINT])
			if err != nil {
				return nil, errSkip{err.Error()}
			}
			obj.pub = pub
			obj.bits = pubBits(pub)
		case p11.CKK_GOSTR3410, ckkGOSTR3410_512:
			if obj.class == p11.CKO_PRIVATE_KEY {
				if a, err := b.attrs(h, o, p11.CKA_GOSTR3410_PARAMS); err == nil {
					if c, err := gostCurve(obj.keyType, a[p11.CKA_GOSTR3410_PARAMS]); err == nil {
						obj.bits = 8 * c.Size()
					}
				}
				return obj, nil
			}
			a, err := b.attrs(h, o, p11.CKA_GOSTR3410_PARAMS, p11.CKA_VALUE)
			if err != nil {
				return nil, err
			}
			var hashParams []byte
			if ha, err := b.attrs(h, o, p11.CKA_GOSTR3411_PARAMS); err == nil {
				hashParams = ha[p11.CKA_GOSTR3411_PARAMS]
			}
			pub, err := gostPublic(obj.keyType, a[p11.CKA_GOSTR3410_PARAMS], hashParams, a[p11.CKA_VALUE])
			if err != nil {
				return nil, errSkip{err.Error()}
			}
			obj.pub, obj.bits = pub, 8*pub.Curve.Size()
		default:
			return nil, errSkip{fmt.Sprintf("key type 0x%x not supported", obj.keyType)}
		}
	default:
		return nil, errSkip{fmt.Sprintf("object class 0x%x", obj.class)}
	}
	return obj, nil
}

// errSkip marks an object a listing cannot use; the listing goes on.
type errSkip struct{ why string }

func (e errSkip) Error() string { return e.why }

func rsaPublic(n, e []byte) (*rsa.PublicKey, error) {
	if len(n) == 0 || len(e) == 0 || len(e) > 8 {
		return nil, errors.New("RSA key without modulus or exponent")
	}
	exp := new(big.Int).SetBytes(e)
	if !exp.IsInt64() || exp.Int64() < 3 || exp.Int64() > 1<<31-1 {
		return nil, errors.New("RSA public exponent out of range")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}, nil
}

// curveOf decodes CKA_EC_PARAMS: a named-curve OID, or for Ed25519 the OID
// 1.3.101.112 or the PrintableString "edwards25519" (PKCS#11 3.0 allows
// both). It returns (nil, true, nil) for Ed25519.
func curveOf(params []byte) (elliptic.Curve, bool, error) {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(params, &oid); err == nil && len(rest) == 0 {
		switch {
		case oid.Equal(oidP256):
			return elliptic.P256(), false, nil
		case oid.Equal(oidP384):
			return elliptic.P384(), false, nil
		case oid.Equal(oidP521):
			return elliptic.P521(), false, nil
		case oid.Equal(oidEd25519):
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("curve %s not supported", oid)
	}
	var name string
	if rest, err := asn1.UnmarshalWithParams(params, &name, "printable"); err == nil && len(rest) == 0 && name == "edwards25519" {
		return nil, true, nil
	}
	return nil, false, errors.New("unrecognised EC parameters")
}

// ecPublic decodes an EC or Ed25519 public key. CKA_EC_POINT is a DER OCTET
// STRING per the standard, but some modules store the raw point.
func ecPublic(params, point []byte) (crypto.PublicKey, error) {
	curve, ed, err := curveOf(params)
	if err != nil {
		return nil, err
	}
	if ed {
		raw := point
		if len(point) == ed25519.PublicKeySize+2 && point[0] == 0x04 && point[1] == ed25519.PublicKeySize {
			raw = point[2:]
		}
		if len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("Ed25519 point of %d bytes", len(point))
		}
		return ed25519.PublicKey(bytes.Clone(raw)), nil
	}
	size := (curve.Params().BitSize + 7) / 8
	raw := point
	if len(point) != 1+2*size {
		var os []byte
		if rest, err := asn1.Unmarshal(point, &os); err == nil && len(rest) == 0 {
			raw = os
		}
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
	if err != nil {
		return nil, fmt.Errorf("EC point: %v", err)
	}
	return pub, nil
}

func pubBits(pub crypto.PublicKey) int {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen()
	case *ecdsa.PublicKey:
		return k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return 256
	case *gost.PublicKey:
		return 8 * k.Curve.Size()
	}
	return 0
}

func algorithmOf(keyType uint, pub crypto.PublicKey) hsm.KeyAlgorithm {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return hsm.RSA
	case *ecdsa.PublicKey:
		return hsm.ECDSA
	case ed25519.PublicKey:
		return hsm.Ed25519
	case *gost.PublicKey:
		return gostAlgorithm(keyType, k)
	}
	switch keyType {
	case p11.CKK_RSA:
		return hsm.RSA
	case p11.CKK_EC:
		return hsm.ECDSA
	case ckkECEdwards:
		return hsm.Ed25519
	case p11.CKK_GOSTR3410, ckkGOSTR3410_512:
		return gostAlgorithm(keyType, nil)
	}
	return ""
}

// group is the objects that share a CKA_ID.
type group struct {
	id        []byte
	priv, pub *object
	certs     []*object // certificates with this CKA_ID, as found
	cert      *object   // the key's certificate (see keyCert)
}

// keyCert picks the group's certificate: the one for the group's public
// key (some tokens file CA certificates under their key's CKA_ID too),
// else the first found.
func (g *group) keyCert() *object {
	if len(g.certs) == 0 {
		return nil
	}
	for _, k := range []*object{g.pub, g.priv} {
		if k == nil || k.pub == nil {
			continue
		}
		for _, c := range g.certs {
			if certs.SamePublicKey(k.pub, c.pub) {
				return c
			}
		}
	}
	return g.certs[0]
}

// certKey is the public key of a certificate object, or nil.
func certKey(o *object) crypto.PublicKey {
	if o == nil {
		return nil
	}
	return o.pub
}

func groupKey(o *object) string {
	if len(o.id) > 0 {
		return "id:" + hex.EncodeToString(o.id)
	}
	return "label:" + o.label
}

// listToken reads a token's keys and certificates and pairs them by CKA_ID.
func (b *Backend) listToken(ctx context.Context, s tokenState) ([]hsm.KeyInfo, []string, error) {
	var objs []*object
	var problems []string
	loggedIn := false
	err := s.pool.withSession(ctx, func(h p11.SessionHandle) error {
		if si, err := b.api.GetSessionInfo(h); err == nil {
			loggedIn = si.State == p11.CKS_RO_USER_FUNCTIONS || si.State == p11.CKS_RW_USER_FUNCTIONS
		} else if sessionBroken(err) {
			return err
		}
		for _, class := range []uint{p11.CKO_PRIVATE_KEY, p11.CKO_PUBLIC_KEY, p11.CKO_CERTIFICATE} {
			hs, err := b.findObjects(h, []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, class)})
			if err != nil {
				return err
			}
			for _, o := range hs {
				obj, err := b.readObject(h, o)
				if err != nil {
					if sessionBroken(err) {
						return err
					}
					problems = append(problems, fmt.Sprintf("token %q object %d skipped: %v", s.tok.label, o, err))
					continue
				}
				objs = append(objs, obj)
			}
		}
		return nil
	})
	if err != nil {
		if sessionBroken(err) {
			b.forget(s.tok, s.gen)
		}
		return nil, problems, fmt.Errorf("list token %q: %w", s.tok.label, mapErr(err))
	}
	return b.pair(s, objs, loggedIn), problems, nil
}

func (b *Backend) pair(s tokenState, objs []*object, loggedIn bool) []hsm.KeyInfo {
	groups := map[string]*group{}
	var order []string
	var tokenCerts []*x509.Certificate
	for _, o := range objs {
		k := groupKey(o)
		g := groups[k]
		if g == nil {
			g = &group{id: o.id}
			groups[k] = g
			order = append(order, k)
		}
		switch o.class {
		case p11.CKO_PRIVATE_KEY:
			if g.priv == nil {
				g.priv = o
			}
		case p11.CKO_PUBLIC_KEY:
			if g.pub == nil {
				g.pub = o
			}
		case p11.CKO_CERTIFICATE:
			tokenCerts = append(tokenCerts, o.cert)
			g.certs = append(g.certs, o)
		}
	}
	var out []hsm.KeyInfo
	for _, k := range order {
		g := groups[k]
		g.cert = g.keyCert()
		ki := hsm.KeyInfo{TokenURI: s.tok.uri, ID: g.id}
		// The label comes from the objects always visible (public key,
		// certificate) first, so the URI is the same logged in or not.
		for _, o := range []*object{g.pub, g.cert, g.priv} {
			if o != nil && ki.Label == "" {
				ki.Label = o.label
			}
		}
		for _, o := range []*object{g.pub, g.cert, g.priv} {
			if o != nil && o.pub != nil && ki.PublicKey == nil {
				ki.PublicKey = o.pub
			}
		}
		if cp, ok := certKey(g.cert).(*gost.PublicKey); ok && certs.SamePublicKey(ki.PublicKey, cp) {
			// The certificate says which GOST algorithm (2001, 2012,
			// O'zDSt) the token's key serves; the key type does not.
			ki.PublicKey = cp
		}
		var keyType uint
		if g.priv != nil {
			keyType = g.priv.keyType
			ki.HasPrivateKey = true
			ki.CanSign = g.priv.sign
			ki.CanDecrypt = g.priv.decrypt
			ki.AlwaysAuthenticate = g.priv.alwaysAut
		} else if g.pub != nil && !loggedIn && s.info.Flags.LoginRequired {
			// Private keys are private objects, invisible before login: a
			// public key stands for its private key until then.
			keyType = g.pub.keyType
			ki.HasPrivateKey = true
			ki.CanSign = true
			ki.CanDecrypt = keyType == p11.CKK_RSA
		} else if g.pub != nil {
			keyType = g.pub.keyType
		}
		ki.Algorithm = algorithmOf(keyType, ki.PublicKey)
		ki.Bits = pubBits(ki.PublicKey)
		if ki.Bits == 0 && g.priv != nil {
			ki.Bits = g.priv.bits
		}
		if g.cert != nil {
			// The chain is built here, once per listing, from every
			// certificate on the token: signing reads no more objects.
			ki.Certificate = g.cert.cert
			ki.Chain = certs.Issuers(g.cert.cert, tokenCerts)
		}
		typ := hsm.ObjectPublic
		switch {
		case ki.HasPrivateKey:
			typ = hsm.ObjectPrivate
		case g.cert != nil:
			typ = hsm.ObjectCert
		}
		u := hsm.URI{Token: s.info.Label, Manufacturer: s.info.Manufacturer, Model: s.info.Model, Serial: s.info.Serial,
			ID: g.id, Object: ki.Label, Type: typ}
		ki.URI = u.String()
		out = append(out, ki)
	}
	return out
}

// listing is what listing one insertion of a token gave (its keys, and the
// objects it skipped), kept for Config.ListingTTL. It is valid for the
// insertion (gen) and the token's epoch it was made at: a removal, a
// re-insertion, a change Signet makes to the token's objects and a change
// of login state all make it stale at once.
type listing struct {
	gen, epoch uint64
	at         time.Time // when the listing started
	keys       []hsm.KeyInfo
	problems   []string
}

// copyKeys returns keys with their own ID and Chain slices, so a caller
// that changes what it got cannot change the cache. (Certificates and
// public keys are shared; they are not changed once parsed.)
func copyKeys(keys []hsm.KeyInfo) []hsm.KeyInfo {
	out := make([]hsm.KeyInfo, len(keys))
	for i, k := range keys {
		k.ID = bytes.Clone(k.ID)
		k.Chain = slices.Clone(k.Chain)
		out[i] = k
	}
	return out
}

// tokenKeys returns the keys of the token s, from its cached listing while
// that is valid and younger than Config.ListingTTL, else by listing the
// token (and caching the result).
func (b *Backend) tokenKeys(ctx context.Context, s tokenState) ([]hsm.KeyInfo, []string, error) {
	keys, problems, _, err := b.tokenKeysFrom(ctx, s, false)
	return keys, problems, err
}

// tokenKeysFrom is tokenKeys; fresh skips the cache, and cached reports
// whether the keys came from it.
func (b *Backend) tokenKeysFrom(ctx context.Context, s tokenState, fresh bool) (keys []hsm.KeyInfo, problems []string, cached bool, err error) {
	t := s.tok
	ttl := b.cfg.ListingTTL
	if ttl <= 0 {
		keys, problems, err = b.listToken(ctx, s)
		return keys, problems, false, err
	}
	var done chan struct{}
	var epoch uint64
	for done == nil {
		epoch = t.epoch.Load()
		b.mu.Lock()
		l := t.listing
		if !fresh && l != nil && l.gen == s.gen && l.epoch == epoch && time.Since(l.at) < ttl {
			b.mu.Unlock()
			return copyKeys(l.keys), l.problems, true, nil
		}
		// One listing of a token at a time: callers that find the listing
		// expired while another one reads the token wait for its result
		// (concurrent requests would otherwise all read every object).
		if w := t.refreshing; w != nil && !fresh {
			b.mu.Unlock()
			select {
			case <-w:
				continue
			case <-ctx.Done():
				return nil, nil, false, fmt.Errorf("list token %q: %w: %w", t.label, hsm.ErrCancelled, ctx.Err())
			}
		}
		done = make(chan struct{})
		if !fresh {
			t.refreshing = done
		}
		b.mu.Unlock()
	}
	at := time.Now()
	keys, problems, err = b.listToken(ctx, s)
	b.mu.Lock()
	// Not kept if the token went away or its objects or login changed while
	// we listed: then this listing may already be wrong.
	if err == nil && t.present && t.gen == s.gen && t.epoch.Load() == epoch {
		t.listing = &listing{gen: s.gen, epoch: epoch, at: at, keys: keys, problems: problems}
	}
	if t.refreshing == done {
		t.refreshing = nil
	}
	b.mu.Unlock()
	close(done)
	if err != nil {
		return keys, problems, false, err
	}
	return copyKeys(keys), problems, false, nil
}

// listingStale drops t's cached listing after an operation found it wrong
// (a listed key is no longer on the token).
func (b *Backend) listingStale(t *token) {
	t.epoch.Add(1)
	b.mu.Lock()
	t.listing = nil
	b.mu.Unlock()
}

// rescanIfStale reads the slot list again unless it was read less than
// Config.ListingTTL ago (by Watch, a listing, or a lookup that missed).
func (b *Backend) rescanIfStale() error {
	if ttl := b.cfg.ListingTTL; ttl > 0 {
		b.mu.RLock()
		fresh := time.Since(b.scanned) < ttl
		b.mu.RUnlock()
		if fresh {
			return nil
		}
	}
	_, err := b.rescan()
	return err
}

// presentTokens snapshots the present tokens u matches (every present
// token when u is nil).
func (b *Backend) presentTokens(u *hsm.URI) []tokenState {
	b.mu.Lock()
	defer b.mu.Unlock()
	var states []tokenState
	for _, t := range b.tokens {
		if t.present && (u == nil || u.MatchesToken(t.info)) {
			states = append(states, b.snapshotLocked(t))
		}
	}
	return states
}

// Keys lists the keys and certificates of every present token. A token
// that fails to list is reported in the error; the others are returned.
// Listings are cached per token for ListingTTL (see docs/key-store.md).
func (b *Backend) Keys(ctx context.Context) ([]hsm.KeyInfo, error) {
	if err := b.rescanIfStale(); err != nil {
		return nil, err
	}
	var all []hsm.KeyInfo
	var errs []error
	var problems []string
	for _, s := range b.presentTokens(nil) {
		keys, p, err := b.tokenKeys(ctx, s)
		all = append(all, keys...)
		problems = append(problems, p...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	b.mu.Lock()
	b.problems = problems
	b.mu.Unlock()
	return all, errors.Join(errs...)
}

// Key returns the listed key keyURI names (as Keys lists it; the URI may
// be spelt differently, see hsm.SameURI). It reads only the tokens keyURI
// matches, through the same cache as Keys; hsm.Store.Key uses it. A key
// missing from a cached listing is looked for once more in a fresh listing
// of the token, so a key another process added is found at once.
func (b *Backend) Key(ctx context.Context, keyURI string) (hsm.KeyInfo, error) {
	u, err := hsm.ParseURI(keyURI)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	u.Wipe()
	if err := b.rescanIfStale(); err != nil {
		return hsm.KeyInfo{}, err
	}
	var errs []error
	for _, s := range b.presentTokens(u) {
		for fresh := false; ; fresh = true {
			keys, _, cached, err := b.tokenKeysFrom(ctx, s, fresh)
			if err != nil {
				errs = append(errs, err)
				break
			}
			for _, k := range keys {
				if k.URI == keyURI || hsm.SameURI(k.URI, keyURI) {
					return k, nil
				}
			}
			if !cached {
				break
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return hsm.KeyInfo{}, err
	}
	return hsm.KeyInfo{}, fmt.Errorf("%s: %w", u.String(), hsm.ErrKeyNotFound)
}
