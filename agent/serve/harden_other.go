//go:build !linux

package serve

// hardenProcess does nothing outside Linux yet (see harden_linux.go).
func hardenProcess() error { return nil }
