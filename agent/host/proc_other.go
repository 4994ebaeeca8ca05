//go:build !linux

package host

import "syscall"

// sysProcAttr: no parent-death signal or process group outside Linux yet;
// the SDK's parent watch ends orphaned plugins.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// killGroup is a no-op outside Linux; go-plugin kills the plugin process.
func killGroup(int) {}
