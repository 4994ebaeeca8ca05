package cryptoarm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrOutsideFolder: a result name that would leave the uploader folder.
var ErrOutsideFolder = errors.New("result name outside the uploader folder")

// MaxUniqueTries bounds the new names tried for a result whose name exists.
const MaxUniqueTries = 1000

// runLocal runs a job given as a file or inline JSON: files are local, the
// results go into the uploader folder.
func (r *Runner) runLocal(ctx context.Context, l Link) error {
	data := l.InlineJSON
	caller := "local CryptoARM job (inline in the link)"
	if l.LocalPath != "" {
		var err error
		if data, _, err = readLocal(l.LocalPath, MaxParams); err != nil {
			return fmt.Errorf("job file: %w", err)
		}
		caller = "local CryptoARM job " + clip(l.LocalPath)
	}
	p, err := ParseParams(data)
	if err != nil {
		return err
	}
	if l.ID == "" {
		l.ID = p.id
	}
	var run [8]byte
	if _, err := rand.Read(run[:]); err != nil {
		return err
	}
	j := &job{r: r, link: l, params: p, caller: caller, run: hex.EncodeToString(run[:])}
	if up := p.Props.Uploader; up != "" {
		dir, err := LocalPath(up)
		if err != nil {
			return fmt.Errorf("uploader: %w", err)
		}
		fi, err := os.Lstat(dir)
		if err != nil {
			return fmt.Errorf("uploader folder: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("uploader folder %s: not a directory (symbolic links are refused)", dir)
		}
		j.outDir = dir
	}
	return r.dispatch(ctx, j)
}

// readLocal reads a local file (a file: URL or an absolute path): a
// regular file of at most max bytes, hashed as it is read.
func readLocal(raw string, max int64) ([]byte, [32]byte, error) {
	var sum [32]byte
	p, err := LocalPath(raw)
	if err != nil {
		return nil, sum, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, sum, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, sum, err
	}
	if !fi.Mode().IsRegular() {
		return nil, sum, fmt.Errorf("%s: not a regular file", p)
	}
	if fi.Size() > max {
		return nil, sum, fmt.Errorf("%s: %d bytes (at most %d)", p, fi.Size(), max)
	}
	return readHashed(f, max)
}

// writeLocal writes the results into the uploader folder, each under its
// name or, when that exists, a new one; never outside the folder. A
// notification without files is written as <method>.json.
func (j *job) writeLocal(n notification, files []output) error {
	if j.outDir == "" {
		return jobErr(CodeInvalidParams, nil, "local job without an uploader folder")
	}
	root, err := os.OpenRoot(j.outDir)
	if err != nil {
		return fmt.Errorf("uploader folder: %w", err)
	}
	defer root.Close()
	if len(files) == 0 {
		data, err := json.MarshalIndent(n, "", "  ")
		if err != nil {
			return err
		}
		files = []output{{Name: n.Method + ".json", Data: data}}
	}
	for _, f := range files {
		name, err := writeNew(root, f.Name, f.Data)
		if err != nil {
			return err
		}
		j.r.cfg.Log.Info("cryptoarm local result", "folder", j.outDir, "file", name)
	}
	return nil
}

// writeNew creates name (or "stem (N).ext" when it exists) in root and
// writes data; it never follows or replaces an existing entry.
func writeNew(root *os.Root, name string, data []byte) (string, error) {
	if err := checkName(name); err != nil || filepath.IsAbs(name) {
		return "", fmt.Errorf("%w: %q", ErrOutsideFolder, clip(name))
	}
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	if ext == ".sig" || ext == ".enc" {
		if e2 := filepath.Ext(stem); e2 != "" && len(e2) <= 8 {
			stem, ext = strings.TrimSuffix(stem, e2), e2+ext
		}
	}
	for i := 0; i < MaxUniqueTries; i++ {
		try := name
		if i > 0 {
			try = fmt.Sprintf("%s (%d)%s", stem, i, ext)
		}
		f, err := root.OpenFile(try, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("write %s: %w", try, err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return "", fmt.Errorf("write %s: %w", try, err)
		}
		return try, f.Close()
	}
	return "", fmt.Errorf("write %s: %d names taken", name, MaxUniqueTries)
}
