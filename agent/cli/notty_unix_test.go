//go:build unix

package cli

import "syscall"

// noTTY starts the child in a new session, without a controlling terminal.
func noTTY() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
