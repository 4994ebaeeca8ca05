package serve

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// hardenProcess keeps the agent's memory — decrypted PFX keys, PINs — out
// of core dumps and away from other processes of the same user: no core
// file (RLIMIT_CORE 0, inherited by the plugins), and the process is not
// dumpable, so the kernel refuses ptrace attach and reading its /proc
// memory, environment and file descriptors to anyone but root. The
// plugins, after their exec, are dumpable again.
func hardenProcess() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("process hardening: core file limit: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("process hardening: PR_SET_DUMPABLE: %w", err)
	}
	return nil
}
