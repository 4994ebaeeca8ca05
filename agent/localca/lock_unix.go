//go:build unix

package localca

import (
	"os"
	"syscall"
)

// lockDir takes an exclusive lock on dir/ca.lock so that two processes
// starting at once (`signet serve` and `signet trust install`) do not both
// create a CA. The lock is released when the returned function runs or the
// process dies.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(dir+"/ca.lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
