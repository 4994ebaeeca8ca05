//go:build !linux

package host

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// execPinned checks path against sum; outside Linux the process is then
// started from the path (the check and the exec are two steps: keep the
// plugin directory writable only by the agent's user).
func execPinned(_ *exec.Cmd, path string, sum []byte) (cleanup func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read plugin executable: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, maxPluginSize+1))
	if err != nil {
		return nil, fmt.Errorf("hash plugin executable %s: %w", path, err)
	}
	if n > maxPluginSize {
		return nil, fmt.Errorf("plugin executable %s is larger than %d MiB", path, maxPluginSize>>20)
	}
	if err := matchPin(h.Sum(nil), sum); err != nil {
		return nil, err
	}
	return func() {}, nil
}
