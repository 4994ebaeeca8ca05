package peercred

import (
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkAcceptChecked interleaves a loopback connect+accept on a plain
// listener with one on a Listener (same user, so admitted) and reports
// the checked/plain time ratio and the time the check adds per
// connection, so that load from other processes affects both sides alike.
// The sock_diag and /proc/net lookups are reported on their own too.
func BenchmarkAcceptChecked(b *testing.B) {
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	defer plain.Close()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	checked := NewListener(raw, slog.New(slog.DiscardHandler))
	defer checked.Close()
	round := func(ln net.Listener) time.Duration {
		t0 := time.Now()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		s.Close()
		c.Close()
		return d
	}
	var tPlain, tChecked time.Duration
	for b.Loop() {
		tPlain += round(plain)
		tChecked += round(checked)
	}
	b.ReportMetric(float64(tChecked)/float64(tPlain), "x-plain-accept")
	b.ReportMetric(float64(tChecked-tPlain)/float64(b.N)/1e3, "µs-check/conn")
}

// BenchmarkLookup measures one owner lookup of a live loopback connection:
// sock_diag on a kept socket (a Listener), UID (a socket per call) and the
// /proc/net fallback (which reads the whole connection table).
func BenchmarkLookup(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(b, err)
	defer c.Close()
	s, err := ln.Accept()
	require.NoError(b, err)
	defer s.Close()
	us, peer := addrPorts(s)
	want := uint32(os.Getuid())
	b.Run("sock_diag", func(b *testing.B) { // as a Listener does: one netlink socket kept open
		r := newResolver()
		defer r.close()
		for b.Loop() {
			if uid, err := r.diagUID(us, peer); err != nil || uid != want {
				b.Fatal(uid, err)
			}
		}
	})
	b.Run("UID", func(b *testing.B) { // a netlink socket per call
		for b.Loop() {
			if uid, err := UID(s); err != nil || uid != want {
				b.Fatal(uid, err)
			}
		}
	})
	b.Run("proc", func(b *testing.B) {
		for b.Loop() {
			if uid, err := procUID("/proc/net", us, peer); err != nil || uid != want {
				b.Fatal(uid, err)
			}
		}
	})
}
