//go:build linux

package host

import "syscall"

// sysProcAttr starts the plugin in its own process group (so Ctrl-C in the
// agent's terminal does not reach it, and killGroup can end everything it
// started) and makes the kernel send it SIGTERM when the host's forking
// thread — locked for the plugin's lifetime, see runOnce — dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
}

// killGroup kills the plugin's process group: the plugin and any children
// it left behind, which would otherwise keep its stdout open (go-plugin
// waits for EOF on it when killing a plugin).
func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}
