package host

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// execPinned makes cmd run the bytes of path that were checked against
// sum, so that replacing the file between the check and the exec has no
// effect: the file is read once into a sealed memfd (no write, shrink or
// grow; seals sealed) while it is hashed, and cmd executes that memfd,
// passed as its last extra file, through /proc/self/fd (resolved in the
// child after its descriptors are in place; the descriptor stays open in
// the plugin, so interpreted plugins work too). cleanup closes the
// host's copy of the memfd.
func execPinned(cmd *exec.Cmd, path string, sum []byte) (cleanup func(), err error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read plugin executable: %w", err)
	}
	defer src.Close()
	name := "signet-plugin:" + filepath.Base(path)
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		// Kernels before 6.3 know no MFD_EXEC (and need none).
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("memfd for plugin executable %s: %w", path, err)
	}
	mem := os.NewFile(uintptr(fd), name)
	ok := false
	defer func() {
		if !ok {
			mem.Close()
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(mem, h), io.LimitReader(src, maxPluginSize+1))
	if err != nil {
		return nil, fmt.Errorf("copy plugin executable %s to memory: %w", path, err)
	}
	if n > maxPluginSize {
		return nil, fmt.Errorf("plugin executable %s is larger than %d MiB", path, maxPluginSize>>20)
	}
	if err := matchPin(h.Sum(nil), sum); err != nil {
		return nil, err
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS,
		unix.F_SEAL_WRITE|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		return nil, fmt.Errorf("seal the in-memory copy of %s: %w", path, err)
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, mem)
	cmd.Path = fmt.Sprintf("/proc/self/fd/%d", 2+len(cmd.ExtraFiles))
	ok = true
	return func() { mem.Close() }, nil
}
