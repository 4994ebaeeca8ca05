package journal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// rotatedDigits is the width of a rotated file's number.
const rotatedDigits = 6

// maxRotated bounds the files RotatedFiles returns (a million files of
// DefaultMaxSize would be 64 TiB).
const maxRotated = 1_000_000

// RotatedName returns the name of the n-th rotated file of the journal at
// path: journal.jsonl becomes journal.000001.jsonl, journal.000002.jsonl, …
func RotatedName(path string, n int) string {
	ext := filepath.Ext(path)
	stem := strings.TrimSuffix(path, ext)
	return fmt.Sprintf("%s.%0*d%s", stem, rotatedDigits, n, ext)
}

// rotatedNumber parses the number of a rotated file of the journal at
// path from name (a base name), or returns false.
func rotatedNumber(path, name string) (int, bool) {
	ext := filepath.Ext(path)
	stem := strings.TrimSuffix(filepath.Base(path), ext)
	mid, ok := strings.CutPrefix(name, stem+".")
	if !ok {
		return 0, false
	}
	if mid, ok = strings.CutSuffix(mid, ext); !ok || len(mid) < rotatedDigits {
		return 0, false
	}
	for _, c := range mid {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(mid)
	if err != nil || n <= 0 || n > maxRotated {
		return 0, false
	}
	return n, true
}

// RotatedFiles returns the rotated files of the journal at path, oldest
// (lowest number) first. A missing directory is no files.
func RotatedFiles(path string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Dir(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list rotated journal files: %w", err)
	}
	type numbered struct {
		n    int
		path string
	}
	var found []numbered
	for _, e := range entries {
		if n, ok := rotatedNumber(path, e.Name()); ok && e.Type().IsRegular() {
			found = append(found, numbered{n, filepath.Join(filepath.Dir(path), e.Name())})
		}
	}
	slices.SortFunc(found, func(a, b numbered) int { return a.n - b.n })
	out := make([]string, len(found))
	for i, f := range found {
		out[i] = f.path
	}
	return out, nil
}

// Files returns the journal's files in chain order: the rotated files,
// oldest first, then path itself when it exists. It fails with an error
// matching fs.ErrNotExist when there is none.
func Files(path string) ([]string, error) {
	files, err := RotatedFiles(path)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err == nil {
		files = append(files, path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("journal %s: %w", path, fs.ErrNotExist)
	}
	return files, nil
}

// rotate moves the full active file aside under the next rotated name,
// starts a new active file whose first record (OpRotate) continues the
// chain, and makes the old file durable before any later record can be
// reported durable. Appenders are held only for the rename and the
// create; the old file's fsync runs outside j.mu (under syncMu, which
// every durable append waits for anyway).
func (j *Journal) rotate() error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	if j.f == nil || j.err != nil || j.maxSize <= 0 || j.size < j.maxSize {
		j.mu.Unlock()
		return nil // closed, failed, or another appender rotated first
	}
	next := 1
	if n := len(j.rotated); n > 0 {
		last, _ := rotatedNumber(j.path, filepath.Base(j.rotated[n-1]))
		next = last + 1
	}
	if next > maxRotated {
		j.mu.Unlock()
		return fmt.Errorf("rotate journal: %d rotated files", maxRotated)
	}
	name := RotatedName(j.path, next)
	if err := os.Link(j.path, name); err != nil { // never replaces an existing file
		j.mu.Unlock()
		return fmt.Errorf("rotate journal: %w", err)
	}
	if err := os.Remove(j.path); err != nil {
		os.Remove(name)
		j.mu.Unlock()
		return fmt.Errorf("rotate journal: %w", err)
	}
	nf, err := os.OpenFile(j.path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		if err = lockFile(nf); err != nil {
			nf.Close()
		}
	}
	if err != nil {
		// Put the file back under its name and keep appending to it.
		if lerr := os.Link(name, j.path); lerr == nil {
			os.Remove(name)
		}
		j.mu.Unlock()
		return fmt.Errorf("rotate journal: %w", err)
	}
	old := j.f
	prevSeq, prevHash := j.seq, j.head
	j.f, j.size, j.needNL = nf, 0, false
	j.rotated = append(j.rotated, name)
	inOld := j.written
	_, werr := j.writeLocked(Record{Op: OpRotate, Time: j.now().UTC().Round(0),
		Summary: fmt.Sprintf("continues %s: last record seq %d, hash %s", filepath.Base(name), prevSeq, prevHash)})
	j.mu.Unlock()

	var serr error
	if j.sync {
		serr = j.syncFile(old)
		if serr == nil {
			serr = syncDir(filepath.Dir(j.path))
		}
	}
	old.Close()
	if serr != nil {
		j.mu.Lock()
		if j.err == nil {
			j.err = serr
		}
		j.mu.Unlock()
		return fmt.Errorf("rotate journal: fsync: %w", serr)
	}
	j.commitMu.Lock()
	j.synced = max(j.synced, inOld)
	j.committed.Broadcast()
	j.commitMu.Unlock()
	if werr != nil {
		return fmt.Errorf("rotate journal: %w", werr)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// snapshotFiles opens the journal's files as they are now: the rotated
// files whole and the active file up to the last whole line this Journal
// wrote. Opening them under j.mu keeps a concurrent rotation from moving
// a file between listing and opening it.
func (j *Journal) snapshotFiles() ([]namedReader, func(), error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []namedReader
	closeAll := func() {
		for _, r := range out {
			r.f.Close()
		}
	}
	for _, p := range append(slices.Clone(j.rotated), j.path) {
		f, err := os.Open(p)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		nr := namedReader{name: p, f: f, r: f}
		if p == j.path {
			nr.r = io.LimitReader(f, j.size)
		}
		out = append(out, nr)
	}
	return out, closeAll, nil
}

// namedReader is one file of the chain being read.
type namedReader struct {
	name string
	f    *os.File
	r    io.Reader
}

// openFiles opens the journal at path and its rotated files (Files).
func openFiles(path string) ([]namedReader, func(), error) {
	files, err := Files(path)
	if err != nil {
		return nil, nil, err
	}
	var out []namedReader
	closeAll := func() {
		for _, r := range out {
			r.f.Close()
		}
	}
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		out = append(out, namedReader{name: p, f: f, r: f})
	}
	return out, closeAll, nil
}
