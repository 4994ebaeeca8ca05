//go:build !unix

package control

import (
	"errors"
	"os"
	"syscall"
)

var errLocked = errors.New("locked by another process")

func tryLock(*os.File) error {
	return errors.New("single-instance lock is not supported on this system")
}

func unlock(*os.File) {}

func fileOwner(os.FileInfo) (int, bool) { return 0, false }

func detach() *syscall.SysProcAttr { return nil }
