package host

// Uploaded key containers: PKCS#12 files a plugin hands over as bytes (a
// page uploading its key file), held in the host's memory for that plugin
// and that origin only. See docs/key-containers.md.

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pfx"
)

// Limits of uploaded containers.
const (
	// MaxContainerSize bounds one uploaded container (real key files are
	// a few KiB).
	MaxContainerSize = 256 << 10
	// MaxContainers bounds the containers one plugin holds open at once.
	MaxContainers = 32
)

// ErrTooManyContainers is returned when a plugin holds MaxContainers.
var ErrTooManyContainers = errors.New("too many key containers open")

// containers holds the uploaded containers of every plugin in one
// in-memory PFX backend. A container belongs to the plugin and the origin
// that opened it: another plugin or origin finds no such key.
type containers struct {
	b       *pfx.Backend
	origins func(origin string) bool // policy: may origin pass a password

	mu     sync.Mutex
	byName map[string]*container // by handle
}

type container struct {
	plugin, origin, handle string
}

// pagePasswordKey carries a password a page sent (UnlockContainer) to the
// password prompt, for the one unlock it is for.
type pagePasswordKey struct{}

func newContainers(prompt hsm.PINPrompt, origins func(string) bool) *containers {
	ask := func(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
		if pw, ok := ctx.Value(pagePasswordKey{}).([]byte); ok {
			if req.Attempt == 1 {
				return hsm.PINResponse{PIN: append([]byte(nil), pw...)}, nil
			}
			// The page's password was wrong: fail, as the page asked for
			// this password and no other.
			return hsm.PINResponse{}, req.LastError
		}
		if prompt == nil {
			return hsm.PINResponse{}, fmt.Errorf("no password prompt: %w", hsm.ErrCancelled)
		}
		return prompt(ctx, req)
	}
	b, _ := pfx.Open(pfx.Config{PasswordPrompt: ask}) // no directories: cannot fail
	if origins == nil {
		origins = func(string) bool { return false }
	}
	return &containers{b: b, origins: origins, byName: map[string]*container{}}
}

// open holds data for plugin and origin and returns its handle and keys.
func (cs *containers) open(plugin, origin string, data []byte) (string, []hsm.KeyInfo, error) {
	if len(data) == 0 || len(data) > MaxContainerSize {
		return "", nil, fmt.Errorf("key container of %d bytes (1 to %d): %w", len(data), MaxContainerSize, hsm.ErrInvalidRequest)
	}
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	c := &container{plugin: plugin, origin: origin, handle: hex.EncodeToString(rnd[:])}
	cs.mu.Lock()
	n := cs.countLocked(plugin)
	if n >= MaxContainers {
		cs.mu.Unlock()
		return "", nil, fmt.Errorf("plugin holds %d key containers (at most %d; close one first): %w: %w", n, MaxContainers, ErrTooManyContainers, hsm.ErrInvalidRequest)
	}
	cs.byName[c.handle] = c // reserved before the parse, so the bound holds
	cs.mu.Unlock()
	keys, err := cs.b.AddMemory(c.handle, data)
	if err != nil {
		cs.mu.Lock()
		delete(cs.byName, c.handle)
		cs.mu.Unlock()
		if errors.Is(err, pfx.ErrMalformed) || errors.Is(err, pfx.ErrTooLarge) {
			err = fmt.Errorf("key container: %w: %w", err, hsm.ErrInvalidRequest)
		}
		return "", nil, err
	}
	if !hasKey(keys) {
		cs.close(plugin, c.handle)
		return "", nil, fmt.Errorf("the key container holds no private key: %w", hsm.ErrInvalidRequest)
	}
	return c.handle, keys, nil
}

func hasKey(keys []hsm.KeyInfo) bool {
	for _, k := range keys {
		if k.HasPrivateKey {
			return true
		}
	}
	return false
}

// close forgets plugin's container handle; false if it holds no such one.
func (cs *containers) close(plugin, handle string) bool {
	cs.mu.Lock()
	c := cs.byName[handle]
	if c == nil || c.plugin != plugin {
		cs.mu.Unlock()
		return false
	}
	delete(cs.byName, handle)
	cs.mu.Unlock()
	cs.b.RemoveMemory(handle)
	return true
}

// closePlugin forgets every container of plugin (it exited).
func (cs *containers) closePlugin(plugin string) int {
	cs.mu.Lock()
	var gone []string
	for h, c := range cs.byName {
		if c.plugin == plugin {
			gone = append(gone, h)
			delete(cs.byName, h)
		}
	}
	cs.mu.Unlock()
	for _, h := range gone {
		cs.b.RemoveMemory(h)
	}
	return len(gone)
}

// owner checks that uri, which names a container (pfx.IsMemoryURI), is
// one plugin opened for origin; any other is not found, whoever holds it.
func (cs *containers) owner(plugin, origin, uri string) (*container, error) {
	name, _ := pfx.IsMemoryURI(uri)
	cs.mu.Lock()
	c := cs.byName[name]
	cs.mu.Unlock()
	if c == nil || c.plugin != plugin || c.origin != origin {
		return nil, fmt.Errorf("no open key container %s for this origin: %w", uri, hsm.ErrKeyNotFound)
	}
	return c, nil
}

// keys lists the keys of plugin's containers for origin.
func (cs *containers) keys(plugin, origin string) []hsm.KeyInfo {
	cs.mu.Lock()
	var names []string
	for h, c := range cs.byName {
		if c.plugin == plugin && c.origin == origin {
			names = append(names, h)
		}
	}
	cs.mu.Unlock()
	var out []hsm.KeyInfo
	for _, n := range names {
		ks, _ := cs.b.MemoryKeys(n)
		out = append(out, ks...)
	}
	return out
}

// key describes one container key as the backend knows it now.
func (cs *containers) key(uri string) (hsm.KeyInfo, error) {
	if k, ok := cs.b.CachedKey(uri); ok {
		return k, nil
	}
	return hsm.KeyInfo{}, fmt.Errorf("%s: %w", uri, hsm.ErrKeyNotFound)
}

// unlock opens c's key uri with password, when policy lets c's origin
// pass passwords; false (nothing tried) otherwise.
func (cs *containers) unlock(ctx context.Context, c *container, uri string, password []byte) (bool, error) {
	if !cs.origins(c.origin) {
		return false, nil
	}
	ctx = context.WithValue(ctx, pagePasswordKey{}, password)
	return true, cs.b.Unlock(ctx, uri)
}

func (cs *containers) sign(ctx context.Context, uri string, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return cs.b.Sign(ctx, uri, digest, opts)
}

func (cs *containers) decrypt(ctx context.Context, uri string, ct []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	return cs.b.Decrypt(ctx, uri, ct, opts)
}

// count is how many containers plugin holds.
func (cs *containers) count(plugin string) int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.countLocked(plugin)
}

func (cs *containers) countLocked(plugin string) int {
	n := 0
	for _, c := range cs.byName {
		if c.plugin == plugin {
			n++
		}
	}
	return n
}

// Containers is how many uploaded key containers (OpenContainer) the
// plugin named plugin holds open now.
func (m *Manager) Containers(plugin string) int { return m.uploads.count(plugin) }

// UploadedKey describes a key of an uploaded container by URI, for the
// consent system's look-ups (the host services check first that the
// plugin and origin asking own it); false for any other URI.
func (m *Manager) UploadedKey(uri string) (hsm.KeyInfo, bool) {
	if _, ok := pfx.IsMemoryURI(uri); !ok {
		return hsm.KeyInfo{}, false
	}
	k, err := m.uploads.key(uri)
	return k, err == nil
}
