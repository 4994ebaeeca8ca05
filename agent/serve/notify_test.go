package serve

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listenNotify listens on a unix datagram socket as the service manager
// does and returns its address as NOTIFY_SOCKET would name it.
func listenNotify(t *testing.T, abstract bool) (*net.UnixConn, string) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify")
	env := name
	if abstract {
		env = "@signet-test-notify-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000000000")
		name = "\x00" + env[1:]
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c, env
}

func readDatagram(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	require.NoError(t, err)
	return string(buf[:n])
}

// TestNotifierReady: READY=1, the status and the main pid arrive in one
// datagram on the socket NOTIFY_SOCKET names, a path or an abstract name.
func TestNotifierReady(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		c, env := listenNotify(t, abstract)
		n, err := NotifierFromEnv(func(k string) string { return map[string]string{EnvNotifySocket: env}[k] })
		require.NoError(t, err)
		require.True(t, n.Enabled())
		require.NoError(t, n.Ready("ready"))
		msg := readDatagram(t, c)
		assert.Equal(t, []string{"READY=1", "STATUS=ready", "MAINPID=" + strconv.Itoa(os.Getpid()), ""}, strings.Split(msg, "\n"), "abstract=%v", abstract)

		require.NoError(t, n.Reloading())
		msg = readDatagram(t, c)
		assert.True(t, strings.HasPrefix(msg, "RELOADING=1\nMONOTONIC_USEC="), "reloading: %q", msg)
		require.NoError(t, n.Stopping())
		assert.Contains(t, readDatagram(t, c), "STOPPING=1\n")
	}
}

// TestNotifierUnset: without NOTIFY_SOCKET nothing is sent and nothing
// fails; a value that is neither a path nor @name is refused by name.
func TestNotifierUnset(t *testing.T) {
	n, err := NotifierFromEnv(func(string) string { return "" })
	require.NoError(t, err)
	assert.False(t, n.Enabled())
	assert.NoError(t, n.Ready("ready"))

	_, err = NotifierFromEnv(func(string) string { return "vsock:2:1234" })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NOTIFY_SOCKET")
}

// TestNotifierManagerGone: a socket nobody listens on is an error the
// agent can log, not a hang.
func TestNotifierManagerGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone")
	n, err := NotifierFromEnv(func(string) string { return path })
	require.NoError(t, err)
	assert.ErrorContains(t, n.Ready("ready"), "notify NOTIFY_SOCKET")
}
