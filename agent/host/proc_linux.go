//go:build linux

package host

import "syscall"

// sysProcAttr makes the kernel send SIGTERM to the plugin when the host's
// forking thread (locked for the plugin's lifetime, see runOnce) dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
