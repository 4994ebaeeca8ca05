package peercred

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/signet-agent/signet/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The test binary doubles as the client run as another user: with
// PEERCRED_TEST_CLIENT set it connects to the address in it instead of
// running the tests (see runClient).
func TestMain(m *testing.M) {
	if spec := os.Getenv("PEERCRED_TEST_CLIENT"); spec != "" {
		os.Exit(runClient(spec))
	}
	os.Exit(m.Run())
}

// runClient handles "greet ADDR": connect, print what the server sends
// ("got: …") or the error; and "hold ADDR": connect, print "connected",
// keep the connection until stdin closes.
func runClient(spec string) int {
	mode, addr, _ := strings.Cut(spec, " ")
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		// A refused connection may be reset before connect returns.
		fmt.Println("dial error:", err)
		return 0
	}
	defer c.Close()
	switch mode {
	case "greet":
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			fmt.Println("read error:", err)
			return 0
		}
		fmt.Printf("got: %s\n", buf[:n])
	case "hold":
		fmt.Println("connected")
		io.Copy(io.Discard, os.Stdin)
	}
	return 0
}

// nobody returns uid and gid of user nobody; the test needs root to run a
// client as nobody and fails without it.
func nobody(t *testing.T) (uint32, uint32) {
	t.Helper()
	require.Equal(t, 0, os.Geteuid(), "running a client as another user needs root (CI runs as root)")
	u, err := user.Lookup("nobody")
	require.NoError(t, err)
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	require.NoError(t, err)
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	require.NoError(t, err)
	require.NotZero(t, uid)
	return uint32(uid), uint32(gid)
}

// clientBinary copies the test binary where user nobody may run it.
func clientBinary(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "peercred-client-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	data, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	bin := filepath.Join(dir, "client.test")
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	return bin
}

// client starts the test binary as a client ("greet ADDR" or "hold ADDR")
// running as uid:gid.
func client(t *testing.T, bin string, uid, gid uint32, spec string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, "-test.run=^$")
	cmd.Env = []string{"PEERCRED_TEST_CLIENT=" + spec}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	return cmd
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err, "listen on %s", addr)
	t.Cleanup(func() { ln.Close() })
	return ln
}

// accepted dials ln from this process and returns both ends.
func accepted(t *testing.T, ln net.Listener, network, addr string) (server, client net.Conn) {
	t.Helper()
	c, err := net.Dial(network, addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, c
}

func addrPorts(c net.Conn) (us, peer netip.AddrPort) {
	return c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort()
}

// bothLookups checks that sock_diag and the /proc fallback agree on the
// owner of c's peer and returns it.
func bothLookups(t *testing.T, c net.Conn) uint32 {
	t.Helper()
	us, peer := addrPorts(c)
	viaDiag, err := newResolver().diagUID(us, peer)
	require.NoError(t, err, "sock_diag lookup")
	viaProc, err := procUID("/proc/net", us, peer)
	require.NoError(t, err, "/proc lookup")
	assert.Equal(t, viaDiag, viaProc, "sock_diag and /proc/net disagree")
	uid, err := UID(c)
	require.NoError(t, err)
	assert.Equal(t, viaDiag, uid)
	return uid
}

// TestUIDSameUser finds this process as the owner of its own connections
// over IPv4, IPv6 and IPv4 on a dual-stack listener, with both lookups.
func TestUIDSameUser(t *testing.T) {
	cases := []struct{ name, listen, network string }{
		{"ipv4", "127.0.0.1:0", "tcp4"},
		{"ipv6", "[::1]:0", "tcp6"},
		{"ipv4 on a dual-stack listener", "[::]:0", "tcp4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t, tc.listen)
			addr := ln.Addr().String()
			if tc.listen == "[::]:0" {
				addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
			}
			s, _ := accepted(t, ln, tc.network, addr)
			assert.Equal(t, uint32(os.Getuid()), bothLookups(t, s))
		})
	}
}

// TestUIDMappedPeer: a client whose socket is IPv6, connected to an IPv4
// listener through a v4-mapped address (its table entry is in tcp6).
func TestUIDMappedPeer(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	sa := &unix.SockaddrInet6{Port: ln.Addr().(*net.TCPAddr).Port, Addr: netip.MustParseAddr("::ffff:127.0.0.1").As16()}
	require.NoError(t, unix.Connect(fd, sa))
	s, err := ln.Accept()
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, uint32(os.Getuid()), bothLookups(t, s))
}

// TestUIDOtherUser finds nobody as the owner of a connection a process
// running as nobody holds open.
func TestUIDOtherUser(t *testing.T) {
	uid, gid := nobody(t)
	bin := clientBinary(t)
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			ln := listen(t, addr)
			cmd := client(t, bin, uid, gid, "hold "+ln.Addr().String())
			stdin, err := cmd.StdinPipe()
			require.NoError(t, err)
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			defer cmd.Wait()
			defer stdin.Close()
			line, err := bufio.NewReader(stdout).ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, "connected\n", line)
			s, err := ln.Accept()
			require.NoError(t, err)
			defer s.Close()
			assert.Equal(t, uid, bothLookups(t, s))
		})
	}
}

// TestUIDClosedPeer: a peer that closed its socket before the accept has
// no owner any more (the kernel reports uid 0 for what is left of it):
// ErrNotFound, so even an agent running as root refuses it.
func TestUIDClosedPeer(t *testing.T) {
	ln := listen(t, "127.0.0.1:0")
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	_, err = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	s, err := ln.Accept()
	require.NoError(t, err)
	defer s.Close()
	us, peer := addrPorts(s)
	_, err = newResolver().diagUID(us, peer)
	assert.ErrorIs(t, err, ErrNotFound, "sock_diag")
	_, err = procUID("/proc/net", us, peer)
	assert.ErrorIs(t, err, ErrNotFound, "/proc")
	_, err = UID(s)
	assert.ErrorIs(t, err, ErrNotFound)
}

// TestUIDUnix reads a unix socket peer's uid with SO_PEERCRED.
func TestUIDUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer ln.Close()
	s, _ := accepted(t, ln, "unix", path)
	uid, err := UID(s)
	require.NoError(t, err)
	assert.Equal(t, uint32(os.Getuid()), uid)
}

// greet connects to addr and returns what the server sends before it
// closes, or the error of the dial or the read (a refused connection may
// be reset before connect returns).
func greet(addr string) (string, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	return string(b), err
}

// serveGreeting accepts on ln and writes "hello" to every connection it
// gets until ln closes.
func serveGreeting(ln net.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello"))
			c.Close()
		}
	}()
}

// TestListenerRefusesOtherUser: a client running as nobody is reset
// before it reads anything; the same client as root, next, is greeted; the
// refusal is logged with nobody's uid. IPv4 and IPv6.
func TestListenerRefusesOtherUser(t *testing.T) {
	uid, gid := nobody(t)
	bin := clientBinary(t)
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			var logs testutil.SyncBuffer
			ln := NewListener(listen(t, addr), slog.New(slog.NewTextHandler(&logs, nil)))
			serveGreeting(ln)
			spec := "greet " + ln.Addr().String()

			out, err := client(t, bin, uid, gid, spec).CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.NotContains(t, string(out), "hello", "a client running as nobody was served")
			assert.Contains(t, string(out), "connection reset by peer")

			out, err = client(t, bin, 0, 0, spec).CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Equal(t, "got: hello\n", string(out), "the listener's own user was refused")

			assert.Contains(t, logs.String(), fmt.Sprintf("peer_uid=%d", uid))
		})
	}
}

// TestListenerFailsClosed: a lookup that fails refuses the connection, and
// the listener goes on to accept the next one.
func TestListenerFailsClosed(t *testing.T) {
	var logs testutil.SyncBuffer
	fail := true
	lookup := func(c net.Conn) (uint32, error) {
		if fail {
			fail = false
			return 0, errors.New("injected lookup failure")
		}
		return UID(c)
	}
	ln := newListener(listen(t, "127.0.0.1:0"), slog.New(slog.NewTextHandler(&logs, nil)), uint32(os.Getuid()), lookup)
	serveGreeting(ln)
	got, err := greet(ln.Addr().String())
	assert.ErrorIs(t, err, syscall.ECONNRESET, "first connection: %q", got)
	assert.Empty(t, got)
	got, err = greet(ln.Addr().String())
	require.NoError(t, err)
	assert.Equal(t, "hello", got)
	assert.Contains(t, logs.String(), "injected lookup failure")
}

// TestListenerRootPeer: an agent not running as root refuses a peer
// running as root.
func TestListenerRootPeer(t *testing.T) {
	owner := uint32(os.Getuid()) + 1 // the listener's owner is someone else: this process is the foreign peer
	var logs testutil.SyncBuffer
	ln := newListener(listen(t, "127.0.0.1:0"), slog.New(slog.NewTextHandler(&logs, nil)), owner, UID)
	serveGreeting(ln)
	got, err := greet(ln.Addr().String())
	assert.Empty(t, got)
	assert.ErrorIs(t, err, syscall.ECONNRESET)
	assert.Contains(t, logs.String(), fmt.Sprintf("peer_uid=%d", os.Getuid()))
}

// TestListenerLogIsRateLimited: one record per ten seconds, the next one
// counting the refusals in between.
func TestListenerLogIsRateLimited(t *testing.T) {
	var logs testutil.SyncBuffer
	var now atomic.Int64
	now.Store(time.Unix(1_700_000_000, 0).UnixNano())
	refuse := func(net.Conn) (uint32, error) { return 4242, nil }
	ln := newListener(listen(t, "127.0.0.1:0"), slog.New(slog.NewTextHandler(&logs, nil)), uint32(os.Getuid()), refuse)
	ln.now = func() time.Time { return time.Unix(0, now.Load()) }
	go ln.Accept() // refuses everything until ln closes
	refused := func() {
		_, err := greet(ln.Addr().String())
		require.ErrorIs(t, err, syscall.ECONNRESET)
	}
	for range 5 {
		refused()
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "connection refused"), logs.String())
	assert.Contains(t, logs.String(), "peer_uid=4242")
	now.Add(int64(logEvery + time.Second))
	refused()
	records := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, records, 2, logs.String())
	assert.Contains(t, records[1], "refused_since_last_log=4")
}
