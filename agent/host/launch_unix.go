//go:build unix

package host

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// checkExecutable refuses a plugin executable that a user other than the
// agent's (or root) could change: the file (after symbolic links) and the
// directories holding the configured path and the file must be owned by
// the agent's user or root and not writable by group or others. Whoever
// can write the file or rename entries in its directory could otherwise
// run code as the agent's plugins.
func checkExecutable(path string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("plugin executable %s: %w", path, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("plugin executable %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("plugin executable %s is not a regular file: %w", path, ErrUntrustedPlugin)
	}
	if err := checkOwner(real, "file", fi); err != nil {
		return err
	}
	dirs := []string{filepath.Dir(filepath.Clean(path))}
	if d := filepath.Dir(real); d != dirs[0] {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		di, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("plugin directory %s: %w", d, err)
		}
		if err := checkOwner(d, "directory", di); err != nil {
			return err
		}
	}
	return nil
}

// checkOwner checks that fi (of path, a "file" or "directory") is owned
// by this process's effective user or root and not writable by group or
// others.
func checkOwner(path, what string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("plugin %s %s: no owner information: %w", what, path, ErrUntrustedPlugin)
	}
	if uid := int(st.Uid); uid != 0 && uid != os.Geteuid() {
		return fmt.Errorf("plugin %s %s is owned by uid %d, not by the agent's user (uid %d) or root: %w",
			what, path, uid, os.Geteuid(), ErrUntrustedPlugin)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("plugin %s %s is writable by group or others (mode %04o): %w", what, path, perm, ErrUntrustedPlugin)
	}
	return nil
}
