package e2e

// Memory exhaustion of the E-IMZO plugin through its WebSocket listener:
// clients that open many connections and hold large unfinished messages.
// The attackers run in this process, as the person's own uid: a web page in
// the person's browser can do all of this with its real origin, so the
// listeners' peer check does not stop it; the plugin's limits must.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxPluginRSS is what the plugin may use under the attack.
const maxPluginRSS = 256 << 20

// rawWS is a WebSocket client connection that writes frames by hand, so a
// test can declare a 60 MiB frame and send only part of it, or trickle it.
type rawWS struct {
	conn net.Conn
	br   *bufio.Reader
}

// dialRawWS opens a WebSocket to endpoint (a ws:// URL) with origin.
func dialRawWS(t testing.TB, endpoint, origin string) *rawWS {
	t.Helper()
	u, err := url.Parse(endpoint)
	require.NoError(t, err)
	conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(time.Minute)))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: %s\r\n\r\n", u.RequestURI(), u.Host, origin)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	require.NoError(t, conn.SetDeadline(time.Time{}))
	return &rawWS{conn: conn, br: br}
}

// startText writes the header of one unfragmented text frame of n bytes.
// The mask key is zero, so the payload goes on the wire as it is.
func (c *rawWS) startText(n int64) error {
	hdr := []byte{0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint64(hdr[2:], uint64(n))
	_, err := c.conn.Write(append(hdr, 0, 0, 0, 0))
	return err
}

// writeJSONPadding writes n bytes of a JSON request's start and padding.
func (c *rawWS) writePayload(n int64) error {
	chunk := bytes.Repeat([]byte("A"), 1<<20)
	start := []byte(`{"name":"version","arguments":["`)
	if _, err := c.conn.Write(start); err != nil {
		return err
	}
	for left := n - int64(len(start)); left > 0; {
		k := min(left, int64(len(chunk)))
		if _, err := c.conn.Write(chunk[:k]); err != nil {
			return err
		}
		left -= k
	}
	return nil
}

// closeCode reads server frames until a close frame and returns its code;
// 0 when none arrives within wait (the server still holds the
// connection) or the connection ends without one.
func (c *rawWS) closeCode(wait time.Duration) int {
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	for {
		var hdr [2]byte
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			return 0
		}
		n := int64(hdr[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return 0
			}
			n = int64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return 0
			}
			n = int64(binary.BigEndian.Uint64(b[:]))
		}
		payload := make([]byte, min(n, 1<<20))
		if _, err := io.ReadFull(c.br, payload); err != nil {
			return 0
		}
		if hdr[0]&0x0f == 0x8 && len(payload) >= 2 {
			return int(binary.BigEndian.Uint16(payload))
		}
	}
}

// procMemory reads a process's peak and current resident set (VmHWM,
// VmRSS) in bytes.
func procMemory(t testing.TB, pid int) (hwm, rss int64) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		require.NoError(t, err)
		switch f[0] {
		case "VmHWM:":
			hwm = n << 10
		case "VmRSS:":
			rss = n << 10
		}
	}
	require.NotZero(t, hwm, "VmHWM of %d", pid)
	return hwm, rss
}

// TestAttackEIMZOMemory: 256 hostile connections at once against the ws
// listener —
//   - 8 origins the host has accepted (each made a listing first) and 8
//     it has not, each holding a 60 MiB frame sent but for its last KiB;
//   - 80 origins trickling a frame a byte at a time (slowloris);
//   - 160 connections from one origin, each with 256 KiB of a frame;
//
// while the person's page (an origin the host accepted before) lists keys,
// loads one and signs a document. The plugin must stay under 256 MiB of
// resident memory and serve the page; the connections get the closes the
// limits promise. Before the limits the same attack took the plugin past
// 1 GiB.
func TestAttackEIMZOMemory(t *testing.T) {
	files, setup := writeEIMZODisk(t)
	a := startEIMZOAgent(t, setup)
	pid := a.plugin("eimzo").PID
	require.NotZero(t, pid)

	page := a.client("ws", "http://localhost")
	ctx := eimzoCtx(t)
	_, err := page.Version(ctx)
	require.NoError(t, err)
	_, err = page.ListAllCertificates(ctx)
	require.NoError(t, err, "the page before the attack")
	hwmBefore, rssBefore := procMemory(t, pid)
	t.Logf("plugin before the attack: VmRSS %d MiB, VmHWM %d MiB", rssBefore>>20, hwmBefore>>20)

	const bigFrame = 60 << 20
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	var mu sync.Mutex
	var accepted, strangers, crowd []*rawWS

	// Origins the host accepted: a listing first, then the large frame.
	for i := range 8 {
		origin := fmt.Sprintf("https://big%d.example", i)
		_, err := a.client("ws", origin).ListAllCertificates(ctx)
		require.NoError(t, err, origin)
	}
	var writers sync.WaitGroup
	bigWriter := func(origin string, into *[]*rawWS, size, sent int64) {
		c := dialRawWS(t, a.WS, origin)
		mu.Lock()
		*into = append(*into, c)
		mu.Unlock()
		writers.Add(1)
		go func() {
			defer writers.Done()
			if c.startText(size) == nil {
				_ = c.writePayload(sent) // the server may close first
			}
		}()
	}
	for i := range 8 {
		bigWriter(fmt.Sprintf("https://big%d.example", i), &accepted, bigFrame, bigFrame-1<<10)
		bigWriter(fmt.Sprintf("https://stranger%d.example", i), &strangers, bigFrame, bigFrame-1<<10)
	}
	for range 160 {
		bigWriter("https://crowd.example", &crowd, bigFrame, 256<<10)
	}
	for i := range 80 {
		c := dialRawWS(t, a.WS, fmt.Sprintf("https://slow%d.example", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.startText(1<<20) != nil {
				return
			}
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := c.conn.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
	}
	writers.Wait() // every large frame is sent (but its end) or refused

	// The page, during the attack: list, load a key, sign.
	certs, err := page.ListAllCertificates(ctx)
	require.NoError(t, err, "listing during the attack")
	var cert = certs[0]
	for _, c := range certs {
		if c.Name == files[0].Name {
			cert = c
		}
	}
	k, err := page.LoadKey(ctx, cert)
	require.NoError(t, err, "load_key during the attack")
	doc := []byte("signed during the attack")
	p, err := page.CreatePKCS7(ctx, doc, k.KeyID, false)
	require.NoError(t, err, "create_pkcs7 during the attack")
	assert.NotEmpty(t, p.PKCS7)

	hwm, rss := procMemory(t, pid)
	t.Logf("plugin under the attack: VmRSS %d MiB, VmHWM %d MiB", rss>>20, hwm>>20)
	assert.Less(t, hwm, int64(maxPluginRSS), "the plugin's peak resident memory")

	// What the attackers saw: every connection is read at once, for up to
	// 20 s (a loaded machine may be slow to send the close; a connection
	// still held reads nothing and counts as 0).
	codes := func(cs []*rawWS) map[int]int {
		got := make([]int, len(cs))
		var rd sync.WaitGroup
		for i, c := range cs {
			rd.Add(1)
			go func() {
				defer rd.Done()
				got[i] = c.closeCode(20 * time.Second)
			}()
		}
		rd.Wait()
		out := map[int]int{}
		for _, code := range got {
			out[code]++
		}
		return out
	}
	got := codes(strangers)
	t.Logf("origins not accepted, 60 MiB frames: close codes %v", got)
	// Each is refused, none held: past 1 MiB (1009), or earlier when the
	// slow connections of other unaccepted origins hold their share of
	// the budget (1013) — which comes first depends on scheduling. The 1 MiB
	// limit itself is tested exactly in plugins/eimzo (limits_test.go).
	assert.Equal(t, len(strangers), got[1009]+got[1013], "an origin the host has not accepted may send 1 MiB and holds nothing")
	got = codes(crowd)
	t.Logf("one origin, 160 connections: close codes %v", got)
	assert.Positive(t, got[1013], "connections of one origin beyond the limit are refused")
	got = codes(accepted)
	t.Logf("accepted origins, 60 MiB frames: close codes %v (0: still held)", got)
	assert.Positive(t, got[1013], "large frames beyond the frame budget are refused")
}
