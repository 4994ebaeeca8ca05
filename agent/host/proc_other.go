//go:build !linux

package host

import "syscall"

// sysProcAttr: no parent-death signal outside Linux; the SDK's parent
// watch ends orphaned plugins.
func sysProcAttr() *syscall.SysProcAttr { return nil }
