// Package limitread reads a file or a stream whole, up to a size limit:
// it reads no more than one byte past the limit, and a longer input is an
// error matching ErrTooLarge rather than a truncated result. Every size a
// caller reads into memory is bounded this way.
//
//	data, err := limitread.File(path, 1<<20)
//	if errors.Is(err, limitread.ErrTooLarge) {
//		return fmt.Errorf("certificate file: %w", err)
//	}
package limitread

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTooLarge is returned for an input over the limit.
var ErrTooLarge = errors.New("over the size limit")

// All reads r to its end, refusing more than max bytes. name names the
// input in the error.
func All(r io.Reader, max int64, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is over %d bytes: %w", name, max, ErrTooLarge)
	}
	return data, nil
}

// File reads the file at path, refusing one of more than max bytes. An
// error opening it is returned as os.Open gives it (errors.Is(err,
// fs.ErrNotExist) works).
func File(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return All(f, max, path)
}
