package pfx

// Finding key files: the scanned directories, the files a URI may name,
// re-reading a file that changed, and Watch.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/limitread"
)

func isPFXName(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".pfx" || ext == ".p12"
}

// searchDirs returns the directories scanned for key files and whether a
// missing one is an error (configured) or normal (E-IMZO roots).
func (b *Backend) searchDirs() (configured, optional []string) {
	configured = b.dirs
	if b.cfg.EIMZO {
		for _, r := range b.cfg.EIMZORoots() {
			optional = append(optional, r, filepath.Join(r, "DSKEYS"))
		}
	}
	return configured, optional
}

// scan returns the paths of every key file now present, sorted.
func (b *Backend) scan() ([]string, error) {
	var errs []error
	seen := map[string]bool{}
	var paths []string
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	for _, f := range b.files {
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("pfx file: %w", err))
			continue
		}
		add(f)
	}
	configured, optional := b.searchDirs()
	scanDir := func(d string, mustExist bool) {
		ents, err := os.ReadDir(d)
		if err != nil {
			if mustExist {
				errs = append(errs, fmt.Errorf("pfx directory: %w", err))
			}
			return
		}
		for _, e := range ents {
			if isPFXName(e.Name()) && e.Type().IsRegular() && !isDSTUFile(filepath.Join(d, e.Name())) {
				add(filepath.Join(d, e.Name()))
			}
		}
	}
	for _, d := range configured {
		scanDir(d, true)
	}
	for _, d := range optional {
		scanDir(d, false)
	}
	sort.Strings(paths)
	return paths, errors.Join(errs...)
}

// Handles reports whether uri names a file this backend serves: a
// configured file, or a key file in a scanned directory (present or not).
func (b *Backend) Handles(uri string) bool {
	path, _, err := ParseURI(uri)
	if err != nil {
		return false
	}
	return b.allowed(path)
}

func (b *Backend) allowed(path string) bool {
	b.mu.Lock()
	_, ok := b.known[path]
	b.mu.Unlock()
	if ok {
		return true
	}
	for _, f := range b.files {
		if f == path {
			return true
		}
	}
	if !isPFXName(path) {
		return false
	}
	dir := filepath.Dir(path)
	configured, optional := b.searchDirs()
	for _, d := range append(configured, optional...) {
		if filepath.Clean(d) == dir {
			return true
		}
	}
	return false
}

// get returns the file at path, read and listed (again if it changed).
func (b *Backend) get(path string) (*file, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errors.New("pfx backend closed")
	}
	f := b.known[path]
	if f == nil {
		f = &file{path: path, uri: FileURI(path), sem: make(chan struct{}, 1), unlocked: map[string]*liveKey{}}
		b.known[path] = f
	}
	b.mu.Unlock()
	return f, f.refresh()
}

// refresh re-reads the file when its size or time changed. A changed file
// loses its unlocked keys.
func (f *file) refresh() error {
	if f.data != nil {
		return nil // listed once, by AddMemory
	}
	st, err := os.Stat(f.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// Gone (a USB stick pulled out): forget its keys, like a
			// logout on token removal.
			f.mu.Lock()
			f.dropAllLocked()
			f.list, f.entries = nil, nil
			f.mu.Unlock()
			return fmt.Errorf("%s: %w", f.uri, hsm.ErrTokenRemoved)
		}
		return fmt.Errorf("%s: %w", f.uri, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.list != nil && st.Size() == f.size && st.ModTime().Equal(f.modTime) {
		return nil
	}
	data, err := readBounded(f.path)
	if err != nil {
		return fmt.Errorf("%s: %w", f.uri, err)
	}
	l, err := parseListing(data)
	if err != nil {
		return fmt.Errorf("%s: %w", f.uri, err)
	}
	f.dropAllLocked()
	f.list, f.size, f.modTime, f.open = l, st.Size(), st.ModTime(), false
	var dec *decoded
	if d, err := decode(data, nil); err == nil {
		f.open, dec = true, d
	}
	f.entries = buildEntries(l, dec, nil)
	if dec != nil {
		for _, k := range dec.keys {
			wipeKey(k.key)
		}
	}
	return nil
}

// readBounded reads a key file of at most MaxFileSize bytes; a larger one
// is ErrTooLarge.
func readBounded(path string) ([]byte, error) {
	data, err := limitread.File(path, MaxFileSize)
	if errors.Is(err, limitread.ErrTooLarge) {
		return nil, fmt.Errorf("%w (over %d bytes)", ErrTooLarge, MaxFileSize)
	}
	return data, err
}

// Watch reports key files appearing and disappearing (a USB stick with a
// DSKEYS folder plugged in, a file copied into a directory) by rescanning
// every PollInterval.
func (b *Backend) Watch(ctx context.Context) (<-chan hsm.TokenEvent, error) {
	prev, _ := b.scan()
	ch := make(chan hsm.TokenEvent, 16)
	go func() {
		defer close(ch)
		t := time.NewTicker(b.cfg.PollInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			cur, _ := b.scan()
			for _, ev := range diffPaths(prev, cur) {
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				}
			}
			prev = cur
		}
	}()
	return ch, nil
}

func diffPaths(prev, cur []string) []hsm.TokenEvent {
	was, is := map[string]bool{}, map[string]bool{}
	for _, p := range prev {
		was[p] = true
	}
	for _, p := range cur {
		is[p] = true
	}
	now := time.Now()
	var evs []hsm.TokenEvent
	for _, p := range prev {
		if !is[p] {
			evs = append(evs, hsm.TokenEvent{Time: now, Removed: true, Token: hsm.TokenInfo{URI: FileURI(p), Backend: "pfx", Label: filepath.Base(p), Model: "PKCS#12 file"}})
		}
	}
	for _, p := range cur {
		if !was[p] {
			evs = append(evs, hsm.TokenEvent{Time: now, Token: hsm.TokenInfo{URI: FileURI(p), Backend: "pfx", Label: filepath.Base(p), Model: "PKCS#12 file"}})
		}
	}
	return evs
}
