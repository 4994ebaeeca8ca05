//go:build !linux

package peercred

import "net"

// Not implemented here. macOS and the BSDs answer LOCAL_PEERCRED and
// getpeereid only for unix sockets, not for a TCP peer (finding it would
// mean walking every process's descriptors with proc_pidfdinfo); Windows
// has GetExtendedTcpTable (owning process) and the process token. Until
// one of them is implemented, loopback listeners here admit every local
// user (NewListener warns).
const supported = false

// UID returns ErrUnsupported on this system.
func UID(c net.Conn) (uint32, error) { return 0, ErrUnsupported }

type resolver struct{}

func newResolver() *resolver                     { return &resolver{} }
func (*resolver) uid(c net.Conn) (uint32, error) { return UID(c) }
func (*resolver) close() error                   { return nil }
