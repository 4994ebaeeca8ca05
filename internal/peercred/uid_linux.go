package peercred

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

const supported = true

// UID returns the uid owning the socket at the other end of c: SO_PEERCRED
// for a unix socket, otherwise (TCP) the owner of the socket whose local
// address is c's remote address and whose remote address is c's local
// address, from NETLINK_SOCK_DIAG or, when that fails, /proc/net/tcp{,6}.
// A peer socket that no longer has an open file (closed, in TIME_WAIT)
// yields ErrNotFound.
func UID(c net.Conn) (uint32, error) {
	r := newResolver()
	defer r.close()
	return r.uid(c)
}

// resolver answers UID, keeping one NETLINK_SOCK_DIAG socket open between
// lookups: opening and closing one costs more than the lookup itself. It
// serves one lookup at a time.
type resolver struct {
	mu     sync.Mutex
	fd     int // -1: none open
	seq    uint32
	closed bool
}

func newResolver() *resolver { return &resolver{fd: -1} }

func (r *resolver) uid(c net.Conn) (uint32, error) {
	if uc, ok := c.(*net.UnixConn); ok {
		return unixPeerUID(uc)
	}
	local, lok := c.LocalAddr().(*net.TCPAddr)
	remote, rok := c.RemoteAddr().(*net.TCPAddr)
	if !lok || !rok {
		return 0, fmt.Errorf("peer of %s: not a TCP or unix connection", c.LocalAddr())
	}
	us, peer := local.AddrPort(), remote.AddrPort()
	uid, err := r.diagUID(us, peer)
	if err == nil || errors.Is(err, ErrNotFound) {
		return uid, err
	}
	uid, perr := procUID("/proc/net", us, peer)
	if perr != nil {
		return 0, fmt.Errorf("owner of %s: sock_diag: %v; /proc: %w", peer, err, perr)
	}
	return uid, nil
}

// close closes the netlink socket; later lookups fail.
func (r *resolver) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.fd < 0 {
		return nil
	}
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}

func unixPeerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, fmt.Errorf("peer credentials: %w", err)
	}
	if cerr != nil {
		return 0, fmt.Errorf("peer credentials: SO_PEERCRED: %w", cerr)
	}
	return cred.Uid, nil
}

// Sizes and offsets of the sock_diag structures (linux/inet_diag.h).
const (
	sizeofInetDiagReqV2 = 56 // inet_diag_req_v2
	sizeofInetDiagMsg   = 72 // inet_diag_msg
	offMsgUID           = 64 // inet_diag_msg.idiag_uid
	offMsgInode         = 68 // inet_diag_msg.idiag_inode
	inetDiagNoCookie    = ^uint32(0)
	diagTimeout         = 500 // ms: bound on one lookup
	maxDiagReply        = 8192
)

// diagUID asks NETLINK_SOCK_DIAG for the socket with local address peer and
// remote address us (one exact lookup, not a dump). The kernel answers an
// exact lookup it cannot match with ENOENT, which is also what it answers
// when the inet_diag module is missing: the caller falls back to /proc on
// any error but ErrNotFound, which is returned only for a socket found
// without an open file.
func (r *resolver) diagUID(us, peer netip.AddrPort) (uint32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errors.New("peer lookup after close")
	}
	if r.fd < 0 {
		fd, err := openDiag()
		if err != nil {
			return 0, err
		}
		r.fd = fd
	}
	r.seq++
	uid, err := diagExchange(r.fd, diagRequest(r.seq, us, peer))
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, unix.ENOENT) {
		unix.Close(r.fd) // start the next lookup on a fresh socket
		r.fd = -1
	}
	return uid, err
}

func openDiag() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return -1, fmt.Errorf("netlink socket: %w", err)
	}
	tv := unix.NsecToTimeval(diagTimeout * 1e6)
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("netlink timeout: %w", err)
	}
	return fd, nil
}

// diagExchange sends req on fd and returns the answer to it, skipping
// late answers to earlier requests.
func diagExchange(fd int, req []byte) (uint32, error) {
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("netlink send: %w", err)
	}
	seq := binary.NativeEndian.Uint32(req[8:])
	var buf [maxDiagReply]byte
	for {
		n, _, err := unix.Recvfrom(fd, buf[:], 0)
		if err != nil {
			return 0, fmt.Errorf("netlink receive: %w", err)
		}
		for b := buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return 0, fmt.Errorf("netlink reply: message length %d of %d bytes", l, len(b))
			}
			typ, mseq := binary.NativeEndian.Uint16(b[4:]), binary.NativeEndian.Uint32(b[8:])
			if mseq == seq {
				return parseDiagReply(typ, b[unix.SizeofNlMsghdr:l])
			}
			b = b[min((l+3)&^3, len(b)):] // NLMSG_ALIGN
		}
	}
}

// diagRequest builds an nlmsghdr and an inet_diag_req_v2 for one exact
// lookup of the TCP socket local=peer, remote=us.
func diagRequest(seq uint32, us, peer netip.AddrPort) []byte {
	b := make([]byte, unix.SizeofNlMsghdr+sizeofInetDiagReqV2)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(b[8:], seq)
	r := b[unix.SizeofNlMsghdr:]
	src, dst := peer.Addr().Unmap(), us.Addr().Unmap()
	if src.Is4() && dst.Is4() {
		r[0] = unix.AF_INET
	} else {
		r[0] = unix.AF_INET6
		src, dst = as16(src), as16(dst)
	}
	r[1] = unix.IPPROTO_TCP
	ne.PutUint32(r[4:], ^uint32(0)) // every state
	id := r[8:]
	binary.BigEndian.PutUint16(id[0:], peer.Port())
	binary.BigEndian.PutUint16(id[2:], us.Port())
	copy(id[4:20], src.AsSlice())
	copy(id[20:36], dst.AsSlice())
	ne.PutUint32(id[40:], inetDiagNoCookie)
	ne.PutUint32(id[44:], inetDiagNoCookie)
	return b
}

// as16 is a as an IPv6 address (v4-mapped for IPv4).
func as16(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.AddrFrom16(a.As16())
	}
	return a
}

func parseDiagReply(typ uint16, data []byte) (uint32, error) {
	switch typ {
	case unix.NLMSG_ERROR:
		if len(data) < 4 {
			return 0, errors.New("netlink: short error reply")
		}
		errno := -int32(binary.NativeEndian.Uint32(data))
		if errno == 0 {
			return 0, errors.New("netlink: acknowledgement without an answer")
		}
		return 0, fmt.Errorf("sock_diag: %w", unix.Errno(errno))
	case unix.SOCK_DIAG_BY_FAMILY:
		if len(data) < sizeofInetDiagMsg {
			return 0, fmt.Errorf("sock_diag: reply of %d bytes, want %d", len(data), sizeofInetDiagMsg)
		}
		if binary.NativeEndian.Uint32(data[offMsgInode:]) == 0 {
			return 0, fmt.Errorf("%w: it has no open file", ErrNotFound)
		}
		return binary.NativeEndian.Uint32(data[offMsgUID:]), nil
	default:
		return 0, fmt.Errorf("netlink: unexpected reply type %d", typ)
	}
}

// maxProcLines bounds the lines read from one /proc/net/tcp file.
const maxProcLines = 1 << 20

// procUID finds the socket local=peer, remote=us in dir/tcp (IPv4) or
// dir/tcp6 (IPv6, and IPv4 peers whose socket is an IPv6 one) and returns
// its uid column.
func procUID(dir string, us, peer netip.AddrPort) (uint32, error) {
	local := netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	remote := netip.AddrPortFrom(us.Addr().Unmap(), us.Port())
	files := []string{"tcp6"}
	if local.Addr().Is4() {
		files = []string{"tcp", "tcp6"}
	}
	for _, name := range files {
		uid, err := procFileUID(filepath.Join(dir, name), local, remote)
		if !errors.Is(err, errNoEntry) {
			return uid, err
		}
	}
	return 0, fmt.Errorf("%w: no entry %s -> %s in %s", ErrNotFound, local, remote, dir)
}

var errNoEntry = errors.New("no entry")

func procFileUID(path string, local, remote netip.AddrPort) (uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, errNoEntry // no IPv6 on this system
		}
		return 0, err
	}
	defer f.Close()
	return scanProcNet(f, path, local, remote)
}

// scanProcNet reads a /proc/net/tcp{,6} table: "sl local rem st
// tx:rx tr:when retrnsmt uid timeout inode …", addresses as hex of the
// kernel's 32-bit words in host byte order, ports as hex.
func scanProcNet(r io.Reader, name string, local, remote netip.AddrPort) (uint32, error) {
	sc := bufio.NewScanner(r)
	for n := 0; sc.Scan(); n++ {
		if n >= maxProcLines {
			return 0, fmt.Errorf("%s: more than %d lines", name, maxProcLines)
		}
		if n == 0 {
			continue // header
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		l, err := parseProcAddr(f[1])
		if err != nil || l != local {
			continue
		}
		if rem, err := parseProcAddr(f[2]); err != nil || rem != remote {
			continue
		}
		if f[9] == "0" {
			return 0, fmt.Errorf("%w: it has no open file", ErrNotFound)
		}
		uid, err := strconv.ParseUint(f[7], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%s: uid column %q: %w", name, f[7], err)
		}
		return uint32(uid), nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	return 0, errNoEntry
}

// parseProcAddr parses "0100007F:1F90" (IPv4) or 32 hex digits and a port
// (IPv6) into an address with v4-mapped IPv6 addresses unmapped.
func parseProcAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok || (len(h) != 8 && len(h) != 32) {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: %w", s, err)
	}
	raw := make([]byte, len(h)/2)
	for i := 0; i < len(h); i += 8 {
		w, err := strconv.ParseUint(h[i:i+8], 16, 32)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("address %q: %w", s, err)
		}
		binary.NativeEndian.PutUint32(raw[i/2:], uint32(w))
	}
	a, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}
