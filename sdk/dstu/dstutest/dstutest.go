// Package dstutest runs the independent DSTU 4145 implementation the tests
// compare sdk/dstu against: the jkurwa npm package (with gost89), pinned by
// the lock file in testdata/jkurwa, installed with `npm ci` into a cache
// directory outside the repository on first use and run with node.
//
//	jk := dstutest.Jkurwa(t)
//	res := jk.Run(t, dstutest.Req{"op": "hash", "data": hex.EncodeToString(msg)})
//	digest := res[0].Str(t, "digest")
//
// The cache directory is $SIGNET_JKURWA_DIR when set, else
// signet-jkurwa-<lock hash> in the user cache directory (or the system
// temporary directory). A missing node or npm fails the test.
package dstutest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

//go:embed testdata/jkurwa/package.json testdata/jkurwa/package-lock.json testdata/jkurwa/crosscheck.js
var files embed.FS

// Req is one request to the cross-check script (see
// testdata/jkurwa/crosscheck.js for the operations).
type Req map[string]any

// Res is one result.
type Res map[string]any

// Str returns the string field key, failing the test if the request failed
// or the field is missing.
func (r Res) Str(t testing.TB, key string) string {
	t.Helper()
	require.Nil(t, r["error"], "jkurwa failed")
	s, ok := r[key].(string)
	require.True(t, ok, "jkurwa result has no string %q: %v", key, r)
	return s
}

// Bytes returns the hex field key decoded.
func (r Res) Bytes(t testing.TB, key string) []byte {
	t.Helper()
	b, err := hex.DecodeString(r.Str(t, key))
	require.NoError(t, err)
	return b
}

// Bool returns the boolean field key.
func (r Res) Bool(t testing.TB, key string) bool {
	t.Helper()
	require.Nil(t, r["error"], "jkurwa failed")
	v, ok := r[key].(bool)
	require.True(t, ok, "jkurwa result has no boolean %q: %v", key, r)
	return v
}

// Runner runs the script from an installed directory.
type Runner struct{ dir string }

var (
	installOnce sync.Once
	installDir  string
	installErr  error
)

// Jkurwa installs jkurwa if needed (once per process) and returns a runner.
func Jkurwa(t testing.TB) *Runner {
	t.Helper()
	installOnce.Do(func() { installDir, installErr = install() })
	require.NoError(t, installErr, "installing the jkurwa cross-check (needs node and npm)")
	return &Runner{dir: installDir}
}

func install() (string, error) {
	lock, err := files.ReadFile("testdata/jkurwa/package-lock.json")
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(lock)
	dir := os.Getenv("SIGNET_JKURWA_DIR")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "signet-jkurwa-"+hex.EncodeToString(sum[:6]))
	}
	marker := filepath.Join(dir, "installed")
	if _, err := os.Stat(marker); err != nil {
		if err := npmCI(dir); err != nil {
			return "", err
		}
	}
	// The script is rewritten every time so that an edit takes effect.
	script, err := files.ReadFile("testdata/jkurwa/crosscheck.js")
	if err != nil {
		return "", err
	}
	if err := writeAtomic(filepath.Join(dir, "crosscheck.js"), script); err != nil {
		return "", err
	}
	return dir, nil
}

// writeAtomic replaces path with data so that a concurrent reader (another
// test process) sees the old or the new file, never a partial one.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".crosscheck-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// npmCI installs the locked packages into a fresh directory and moves it
// into place, so that an interrupted install leaves nothing half-done.
func npmCI(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, name := range []string{"package.json", "package-lock.json"} {
		b, err := files.ReadFile("testdata/jkurwa/" + name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("npm ci: %w\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(tmp, "installed"), nil, 0o644); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "installed")); err == nil {
		return nil // another test process installed it meanwhile
	}
	os.RemoveAll(dir) // an interrupted earlier attempt
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "installed")); serr == nil {
			return nil
		}
		return err
	}
	return nil
}

// Run sends the requests to one node process and returns its results in
// order.
func (r *Runner) Run(t testing.TB, reqs ...Req) []Res {
	t.Helper()
	in, err := json.Marshal(reqs)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "crosscheck.js")
	cmd.Dir = r.dir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "node crosscheck.js: %s", stderr.String())
	var res []Res
	require.NoError(t, json.Unmarshal(out, &res))
	require.Len(t, res, len(reqs))
	return res
}

// Dir is the installation directory (node_modules/jkurwa/test/data holds
// jkurwa's published test files: real Ukrainian CA certificates and a
// PBES2 key container).
func (r *Runner) Dir() string { return r.dir }
