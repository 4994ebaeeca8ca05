package pfx

// Files held in memory: key containers a caller hands over as bytes (a page
// uploading a PKCS#12 file through a plugin) rather than files on disk.

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/signet-agent/signet/hsm"
)

// MemoryDir is the directory part of the path of every file held in
// memory: such a file's URI is file:///.signet-memory/NAME.pfx#alias. No
// file on disk is ever read under it.
const MemoryDir = "/.signet-memory"

// MemoryPath is the path AddMemory gives the file named name.
func MemoryPath(name string) string { return path.Join(MemoryDir, name+".pfx") }

// IsMemoryURI reports whether uri (a token or key URI) names a file held
// in memory, and which.
func IsMemoryURI(uri string) (name string, ok bool) {
	if !isFileURI(uri) {
		return "", false // a token key's URI, on every signature: no error to build
	}
	p, _, err := ParseURI(uri)
	if err != nil || path.Dir(p) != MemoryDir || !strings.HasSuffix(p, ".pfx") {
		return "", false
	}
	return strings.TrimSuffix(path.Base(p), ".pfx"), true
}

// ErrExists is returned by AddMemory for a name already held.
var ErrExists = errors.New("a file of that name is already held in memory")

// AddMemory holds data, a DER PKCS#12 file of at most MaxFileSize bytes, in
// memory under name (letters, digits, '-' and '_') and lists its keys
// without a password. Its keys are used like a file's: Sign and Decrypt ask
// for the password through Config.PasswordPrompt on the first use. The
// backend keeps its own copy of data; RemoveMemory (or Close) forgets it
// and wipes the copy and the unlocked keys.
func (b *Backend) AddMemory(name string, data []byte) ([]hsm.KeyInfo, error) {
	if name == "" || len(name) > 64 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		return nil, fmt.Errorf("name of a file held in memory %q: %w", name, hsm.ErrInvalidRequest)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w (%d bytes, at most %d)", ErrTooLarge, len(data), MaxFileSize)
	}
	l, err := parseListing(data)
	if err != nil {
		return nil, err
	}
	p := MemoryPath(name)
	f := &file{path: p, uri: FileURI(p), data: append([]byte(nil), data...), sem: make(chan struct{}, 1), unlocked: map[string]*liveKey{}, list: l, size: int64(len(data))}
	var dec *decoded
	if d, err := decode(f.data, nil); err == nil {
		f.open, dec = true, d
	}
	f.entries = buildEntries(l, dec, nil)
	if dec != nil {
		for _, k := range dec.keys {
			wipeKey(k.key)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		wipe(f.data)
		return nil, errors.New("pfx backend closed")
	}
	if b.known[p] != nil {
		wipe(f.data)
		return nil, fmt.Errorf("%s: %w", f.uri, ErrExists)
	}
	b.known[p] = f
	var keys []hsm.KeyInfo
	for _, e := range f.entries {
		keys = append(keys, f.keyInfo(e))
	}
	return keys, nil
}

// MemoryKeys lists the entries of the file held in memory under name, as
// the backend knows them now (with certificates once unlocked); false when
// no such file is held.
func (b *Backend) MemoryKeys(name string) ([]hsm.KeyInfo, bool) {
	b.mu.Lock()
	f := b.known[MemoryPath(name)]
	b.mu.Unlock()
	if f == nil || f.data == nil {
		return nil, false
	}
	ents, _ := f.snapshot()
	keys := make([]hsm.KeyInfo, 0, len(ents))
	for _, e := range ents {
		keys = append(keys, f.keyInfo(e))
	}
	return keys, true
}

// RemoveMemory forgets the file held in memory under name: its unlocked
// keys are dropped (wiped once their last user is done) and its content is
// wiped. Removing a name not held does nothing.
func (b *Backend) RemoveMemory(name string) {
	p := MemoryPath(name)
	b.mu.Lock()
	f := b.known[p]
	if f != nil && f.data != nil {
		delete(b.known, p)
	}
	b.mu.Unlock()
	if f == nil || f.data == nil {
		return
	}
	f.sem <- struct{}{} // no unlock is reading the content now
	f.mu.Lock()
	f.dropAllLocked()
	f.entries = nil
	wipe(f.data)
	f.mu.Unlock()
	<-f.sem
}

// Unlock decrypts the file of keyURI now (asking for the password unless
// it is unlocked already), so that later uses do not ask.
func (b *Backend) Unlock(ctx context.Context, keyURI string) error {
	f, e, err := b.resolve(keyURI)
	if err != nil {
		return err
	}
	lk, err := b.acquire(ctx, f, e)
	if err != nil {
		return err
	}
	f.release(lk)
	return nil
}
