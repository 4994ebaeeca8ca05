package eimzo

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/signet-agent/signet/sdk"
)

// Key handle types E-IMZO reports.
const (
	TypePFX     = "PFX_KEY_STORE"
	TypeKeyPair = "KEY_PAIR"
	TypeCKC     = "CKC_STORE"
	TypeIDCard  = "IDCARD_EIMZO_KEY_STORE"
	TypeBAIK    = "BAIK_TOKEN_KEY_STORE"
)

// MaxHandles bounds the live keyIds (all domains together); the oldest is
// dropped first when a new one would exceed it.
const MaxHandles = 1024

// handle is what a keyId stands for: a key in the host's key store.
type handle struct {
	ID      string
	Type    string
	Domain  string  // the domain that loaded it; other domains get -1010
	Key     sdk.Key // as listed when loaded (URI, certificate, chain)
	Expires time.Time
	// Disk, Path, Name and Alias locate a PFX key (load_key's arguments).
	Disk, Path, Name, Alias string
	// GrantID is set on a handle resolved for one call from a pseudo-id
	// (ckc, idcard, baikey): the grant the person gave when picking the
	// token key, presented on the Sign so that one dialog covers both.
	GrantID string
}

// handles is the keyId registry. A keyId is 128 random bits in lowercase
// hex, valid for the domain that received it until it expires or is
// unloaded. It is a name for a key, not a secret or an unlocked key: the
// host still asks before every use. Safe for concurrent use.
type handles struct {
	now func() time.Time

	mu   sync.Mutex
	byID map[string]*handle
	// token is the pseudo-ids' resolution cache (tokens.go): the URI of
	// the one token key they resolved to, until tokenExpires, shared by
	// all origins. It names a key, nothing more: an origin that has no key
	// of its own below asks the host for that key.
	token        string
	tokenExpires time.Time
	// originKeys holds, per origin, the token key the host gave that
	// origin's own lookup or listing (certificate and chain), until its
	// expiry: the next signatures of that origin use it without asking
	// the host for it again (tokens.go). At most MaxHandles origins.
	originKeys map[string]rememberedKey
}

// rememberedKey is one origin's remembered token key.
type rememberedKey struct {
	key     sdk.Key
	expires time.Time
}

func newHandles(now func() time.Time) *handles {
	return &handles{now: now, byID: map[string]*handle{}, originKeys: map[string]rememberedKey{}}
}

// add registers h with a fresh id valid for ttl and returns the id.
func (hs *handles) add(h handle, ttl time.Duration) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("eimzo: crypto/rand: " + err.Error())
	}
	h.ID = hex.EncodeToString(b[:])
	now := hs.now()
	h.Expires = now.Add(ttl)
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.expire(now)
	for len(hs.byID) >= MaxHandles {
		var oldest *handle
		for _, o := range hs.byID {
			if oldest == nil || o.Expires.Before(oldest.Expires) {
				oldest = o
			}
		}
		delete(hs.byID, oldest.ID)
	}
	hs.byID[h.ID] = &h
	return h.ID
}

// get returns the live handle id of domain.
func (hs *handles) get(domain, id string) (*handle, bool) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h, ok := hs.byID[id]
	if !ok || h.Domain != domain {
		return nil, false
	}
	if !hs.now().Before(h.Expires) {
		delete(hs.byID, id)
		return nil, false
	}
	c := *h
	return &c, true
}

// remove drops id of domain; it reports whether it was there.
func (hs *handles) remove(domain, id string) bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h, ok := hs.byID[id]
	if !ok || h.Domain != domain {
		return false
	}
	delete(hs.byID, id)
	return true
}

// expire drops expired handles; hs.mu is held.
func (hs *handles) expire(now time.Time) {
	for id, h := range hs.byID {
		if !now.Before(h.Expires) {
			delete(hs.byID, id)
		}
	}
}

// setKey replaces the key of handle id of domain (a PFX key whose
// certificate became known when the host unlocked the file, pfx.go); it
// reports whether the handle was there.
func (hs *handles) setKey(domain, id string, k sdk.Key) bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h, ok := hs.byID[id]
	if !ok || h.Domain != domain {
		return false
	}
	h.Key = k
	return true
}

// cachedToken returns the token key URI the pseudo-ids resolved to
// recently (setToken), if it has not expired.
func (hs *handles) cachedToken() (uri string, expires time.Time, ok bool) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.token == "" || !hs.now().Before(hs.tokenExpires) {
		hs.token = ""
		return "", time.Time{}, false
	}
	return hs.token, hs.tokenExpires, true
}

// setToken remembers uri as the pseudo-ids' token key for ttl.
func (hs *handles) setToken(uri string, ttl time.Duration) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.token, hs.tokenExpires = uri, hs.now().Add(ttl)
}

// dropToken forgets the cached token key if it is uri ("" forgets any).
// Every origin's remembered key with that URI goes with it.
func (hs *handles) dropToken(uri string) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if uri == "" || hs.token == uri {
		hs.token = ""
	}
	for d, k := range hs.originKeys {
		if uri == "" || k.key.URI == uri {
			delete(hs.originKeys, d)
		}
	}
}

// dropOriginKey forgets origin's remembered token key.
func (hs *handles) dropOriginKey(origin string) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	delete(hs.originKeys, origin)
}

// originKey returns the token key remembered for origin (setOriginKey),
// if it has not expired.
func (hs *handles) originKey(origin string) (sdk.Key, bool) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	k, ok := hs.originKeys[origin]
	if !ok {
		return sdk.Key{}, false
	}
	if !hs.now().Before(k.expires) {
		delete(hs.originKeys, origin)
		return sdk.Key{}, false
	}
	return k.key, true
}

// setOriginKey remembers k as origin's token key until expires. Past
// MaxHandles origins, expired entries go first, then the one expiring
// soonest.
func (hs *handles) setOriginKey(origin string, k sdk.Key, expires time.Time) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if _, ok := hs.originKeys[origin]; !ok && len(hs.originKeys) >= MaxHandles {
		now := hs.now()
		var oldest string
		for o, e := range hs.originKeys {
			if !now.Before(e.expires) {
				delete(hs.originKeys, o)
			} else if oldest == "" || e.expires.Before(hs.originKeys[oldest].expires) {
				oldest = o
			}
		}
		if len(hs.originKeys) >= MaxHandles {
			delete(hs.originKeys, oldest)
		}
	}
	hs.originKeys[origin] = rememberedKey{key: k, expires: expires}
}
