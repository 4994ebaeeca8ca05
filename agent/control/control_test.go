package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/host"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test binary doubles as a fake agent process: with
// SIGNET_CONTROL_TEST_AGENT=socket it serves the control socket and appends
// every opened URL to SIGNET_CONTROL_TEST_RECORD.
func TestMain(m *testing.M) {
	if sock := os.Getenv("SIGNET_CONTROL_TEST_CLIENT"); sock != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := Dial(ctx, sock)
		if err == nil {
			_, err = c.Ping(ctx)
		}
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("pong")
		os.Exit(0)
	}
	if sock := os.Getenv("SIGNET_CONTROL_TEST_AGENT"); sock != "" {
		os.Exit(fakeAgentMain(sock, os.Getenv("SIGNET_CONTROL_TEST_RECORD")))
	}
	os.Exit(m.Run())
}

func fakeAgentMain(sock, record string) int {
	if os.Getenv("SIGNET_CONTROL_TEST_FAIL") != "" {
		fmt.Fprintln(os.Stderr, "config.yaml:3:1: keystore: unknown field \"bogus\"")
		return 2
	}
	l, err := Listen(sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, ErrAlreadyRunning) {
			return 3
		}
		return 1
	}
	a := &fakeAgent{record: record}
	srv := &Server{Agent: a, Version: "test"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // never outlive the test run
	defer cancel()
	srv.Serve(ctx, l)
	l.Close()
	return 0
}

type fakeAgent struct {
	mu     sync.Mutex
	urls   []string
	record string
}

func (a *fakeAgent) Plugins() []host.PluginStatus {
	return []host.PluginStatus{{Name: "cryptoarm", State: host.Running, PID: 42, URLSchemes: []string{"cryptoarm"},
		Listeners: []host.Listener{{Name: "https", Addr: "127.0.0.1:14999", TLS: true}}}}
}

func (a *fakeAgent) OpenURL(ctx context.Context, u string) error {
	if !strings.HasPrefix(u, "cryptoarm:") {
		return fmt.Errorf("open %s: %w", u, host.ErrNoHandler)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.urls = append(a.urls, u)
	if a.record != "" {
		f, err := os.OpenFile(a.record, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintln(f, u)
	}
	return nil
}

func sockPath(t *testing.T) string {
	t.Helper()
	// Short base: unix socket paths are limited to ~108 bytes.
	dir, err := os.MkdirTemp("", "sc")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "run", "signet", "control.sock")
}

func serve(t *testing.T, path string, a Agent) *Listener {
	t.Helper()
	l, err := Listen(path)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		(&Server{Agent: a, Version: "v-test"}).Serve(ctx, l)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		l.Close()
	})
	return l
}

func dial(t *testing.T, path string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSocketPath(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	assert.Equal(t, "/run/user/1000/signet/control.sock", SocketPath())
	t.Setenv("XDG_RUNTIME_DIR", "")
	want := filepath.Join(os.TempDir(), fmt.Sprintf("signet-%d", os.Getuid()), "control.sock")
	assert.Equal(t, want, SocketPath())
}

func TestPermissions(t *testing.T) {
	path := sockPath(t)
	os.MkdirAll(filepath.Dir(path), 0o755) // loosened beforehand: Listen tightens it
	serve(t, path, &fakeAgent{})
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.True(t, fi.Mode()&os.ModeSocket != 0 && fi.Mode().Perm() == 0o600, "socket mode %v, want socket 0600", fi.Mode())
	di, _ := os.Stat(filepath.Dir(path))
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm(), "directory mode")
}

func TestRefusesForeignDirectory(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to create a directory owned by another user")
	}
	path := sockPath(t)
	dir := filepath.Dir(path)
	os.MkdirAll(dir, 0o700)
	require.NoError(t, os.Chown(dir, 65534, 65534))
	_, err := Listen(path)
	require.ErrorContains(t, err, "belongs to uid 65534")
}

func TestRequests(t *testing.T) {
	path := sockPath(t)
	a := &fakeAgent{}
	serve(t, path, a)
	c := dial(t, path)
	ctx := context.Background()

	r, err := c.Ping(ctx)
	require.NoError(t, err)
	require.Equal(t, os.Getpid(), r.PID, "ping = %+v", r)
	require.Equal(t, "v-test", r.Version, "ping = %+v", r)
	ps, err := c.Plugins(ctx)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	require.Equal(t, "cryptoarm", ps[0].Name, "plugins = %+v", ps)
	require.NotEmpty(t, ps[0].Listeners, "plugins = %+v", ps)
	require.Equal(t, "127.0.0.1:14999", ps[0].Listeners[0].Addr, "plugins = %+v", ps)
	require.Equal(t, host.Running, ps[0].State, "plugins = %+v", ps)
	const u = "cryptoarm://sign?job=https%3A%2F%2Fportal.example%2Fjob%2F1"
	require.NoError(t, c.Open(ctx, u))
	a.mu.Lock()
	got := append([]string(nil), a.urls...)
	a.mu.Unlock()
	assert.Equal(t, []string{u}, got, "OpenURL calls")
	err = c.Open(ctx, "mailto:x@example.com")
	assert.ErrorIs(t, err, host.ErrNoHandler, "open unhandled scheme")
	_, err = c.Do(ctx, Request{Op: "reboot"})
	assert.ErrorContains(t, err, "unknown operation", "unknown op")
	assert.Error(t, c.Open(ctx, ""), "open without URL accepted")
	// The connection still works after errors.
	_, err = c.Ping(ctx)
	require.NoError(t, err)
}

func TestMalformedAndOversizedRequests(t *testing.T) {
	path := sockPath(t)
	serve(t, path, &fakeAgent{})

	conn, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write([]byte("not json\n"))
	buf := make([]byte, 4096)
	n, _ := conn.Read(buf)
	assert.Contains(t, string(buf[:n]), "malformed request")

	conn2, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer conn2.Close()
	conn2.SetDeadline(time.Now().Add(10 * time.Second))
	go conn2.Write([]byte(`{"op":"open","url":"cryptoarm:` + strings.Repeat("a", 2*MaxMessage) + "\"}\n"))
	var all []byte
	for {
		n, err := conn2.Read(buf)
		all = append(all, buf[:n]...)
		if err != nil {
			break
		}
	}
	assert.Contains(t, string(all), "longer than", "oversized request answer")

	// The client refuses to send an oversized request.
	c := dial(t, path)
	assert.Error(t, c.Open(context.Background(), "cryptoarm:"+strings.Repeat("a", MaxMessage)), "client sent an oversized request")
}

func TestSingleInstanceInProcess(t *testing.T) {
	path := sockPath(t)
	serve(t, path, &fakeAgent{})
	_, err := Listen(path)
	require.ErrorIs(t, err, ErrAlreadyRunning, "second Listen")
	assert.ErrorContains(t, err, fmt.Sprintf("pid %d", os.Getpid()), "message does not name the running pid")
	// The first instance is unharmed.
	_, err = dial(t, path).Ping(context.Background())
	require.NoError(t, err)
}

// startFakeAgent runs the test binary as an agent process and waits until
// it answers.
func startFakeAgent(t *testing.T, path, record string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SIGNET_CONTROL_TEST_AGENT="+path, "SIGNET_CONTROL_TEST_RECORD="+record)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := Dial(ctx, path)
		if err == nil {
			_, err = c.Ping(ctx)
			c.Close()
		}
		cancel()
		if err == nil {
			return cmd
		}
		require.False(t, time.Now().After(deadline), "fake agent did not come up: %v", err)
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSingleInstanceAcrossProcesses(t *testing.T) {
	path := sockPath(t)
	agent := startFakeAgent(t, path, "")

	// A second agent process exits with "already running".
	second := exec.Command(os.Args[0], "-test.run=^$")
	second.Env = append(os.Environ(), "SIGNET_CONTROL_TEST_AGENT="+path)
	out, err := second.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "second agent: %s", out)
	require.Equal(t, 3, ee.ExitCode(), "second agent: %s", out)
	assert.Contains(t, string(out), "already running", "second agent")
	assert.Contains(t, string(out), fmt.Sprintf("pid %d", agent.Process.Pid), "second agent")

	// kill -9 leaves a socket file without a listener; the next agent
	// replaces it.
	agent.Process.Signal(syscall.SIGKILL)
	agent.Wait()
	_, err = os.Lstat(path)
	require.NoError(t, err, "socket file gone after SIGKILL: the stale case is not exercised")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = Dial(ctx, path)
	require.ErrorIs(t, err, ErrNotRunning, "dial dead agent")
	serve(t, path, &fakeAgent{})
	r, err := dial(t, path).Ping(ctx)
	require.NoError(t, err, "after stale recovery")
	require.Equal(t, os.Getpid(), r.PID, "after stale recovery")
}

func TestStaleSocketReplaced(t *testing.T) {
	path := sockPath(t)
	os.MkdirAll(filepath.Dir(path), 0o700)
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	_, err = os.Lstat(path)
	require.NoError(t, err)
	serve(t, path, &fakeAgent{})
	_, err = dial(t, path).Ping(context.Background())
	require.NoError(t, err)
}

func TestRefusesToReplaceNonSocket(t *testing.T) {
	path := sockPath(t)
	os.MkdirAll(filepath.Dir(path), 0o700)
	os.WriteFile(path, []byte("precious"), 0o600)
	_, err := Listen(path)
	require.ErrorContains(t, err, "not a socket")
	b, _ := os.ReadFile(path)
	assert.Equal(t, "precious", string(b), "file was replaced")
}

func TestDialNotRunning(t *testing.T) {
	_, err := Dial(context.Background(), sockPath(t))
	require.ErrorIs(t, err, ErrNotRunning)
}

func TestConnectStartsAgent(t *testing.T) {
	path := sockPath(t)
	record := filepath.Join(t.TempDir(), "opened")
	start := &StartOptions{
		Command: []string{os.Args[0], "-test.run=^$"},
		Env:     append(os.Environ(), "SIGNET_CONTROL_TEST_AGENT="+path, "SIGNET_CONTROL_TEST_RECORD="+record),
		Wait:    30 * time.Second,
	}
	ctx := context.Background()
	c, started, err := Connect(ctx, path, start)
	require.NoError(t, err)
	defer c.Close()
	r, err := c.Ping(ctx)
	require.NoError(t, err)
	t.Cleanup(func() {
		if p, err := os.FindProcess(r.PID); err == nil {
			p.Kill()
		}
	})
	require.True(t, started, "Connect did not start an agent")
	require.NotEqual(t, os.Getpid(), r.PID, "Connect reached the test process, not a started agent")
	require.NoError(t, c.Open(ctx, "cryptoarm://job/1"))
	b, _ := os.ReadFile(record)
	assert.Equal(t, "cryptoarm://job/1\n", string(b), "agent recorded")
	// The agent runs in its own session (detached from our terminal).
	if sid, err := getsid(r.PID); err == nil {
		assert.Equal(t, r.PID, sid, "agent session, want its own")
	}

	// A second Connect finds the running agent and starts nothing.
	c2, started, err := Connect(ctx, path, start)
	require.NoError(t, err)
	defer c2.Close()
	assert.False(t, started, "second Connect started another agent")
	r2, _ := c2.Ping(ctx)
	assert.Equal(t, r.PID, r2.PID, "second Connect reached another pid")
}

func TestConnectReportsAgentFailure(t *testing.T) {
	path := sockPath(t)
	start := &StartOptions{
		Command: []string{os.Args[0], "-test.run=^$"},
		Env:     append(os.Environ(), "SIGNET_CONTROL_TEST_AGENT="+path, "SIGNET_CONTROL_TEST_FAIL=1"),
		Wait:    30 * time.Second,
	}
	_, _, err := Connect(context.Background(), path, start)
	require.ErrorContains(t, err, `unknown field "bogus"`)
	require.ErrorContains(t, err, "exited")
}

func TestConnectWithoutStart(t *testing.T) {
	_, started, err := Connect(context.Background(), sockPath(t), nil)
	require.ErrorIs(t, err, ErrNotRunning)
	require.False(t, started)
}

func getsid(pid int) (int, error) {
	sid, _, errno := syscall.RawSyscall(syscall.SYS_GETSID, uintptr(pid), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(sid), nil
}

// TestPeerUIDChecked opens the socket's directory and mode to everyone and
// checks that a process of another user is still refused (SO_PEERCRED).
func TestPeerUIDChecked(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	if runtime.GOOS != "linux" {
		t.Skip("peer credentials are checked on Linux only")
	}
	path := sockPath(t)
	serve(t, path, &fakeAgent{})
	for d := filepath.Dir(path); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	os.Chmod(path, 0o666)
	// A copy of the test binary that user nobody may execute.
	bin := filepath.Join(filepath.Dir(filepath.Dir(path)), "client.test")
	data, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	run := func(uid uint32) (string, error) {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = []string{"SIGNET_CONTROL_TEST_CLIENT=" + path}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(0)
	require.NoError(t, err, "same user refused: %s", out)
	require.Contains(t, out, "pong", "same user refused")
	out, err = run(65534)
	require.Error(t, err, "other user was answered: %s", out)
	require.NotContains(t, out, "pong", "other user was answered")
	t.Logf("other user: %s", strings.TrimSpace(out))
}

// fuzzConn is a net.Conn that reads a fixed input and records writes.
type fuzzConn struct {
	net.Conn // nil: only the methods below are used
	in       *bytes.Reader
	out      bytes.Buffer
}

func (c *fuzzConn) Read(p []byte) (int, error)       { return c.in.Read(p) }
func (c *fuzzConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *fuzzConn) Close() error                     { return nil }
func (c *fuzzConn) SetDeadline(time.Time) error      { return nil }
func (c *fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fuzzConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzServerRequests feeds arbitrary bytes to a connection handler: every
// response is one well-formed JSON line, at most one per request line, and
// nothing panics.
func FuzzServerRequests(f *testing.F) {
	f.Add([]byte(`{"op":"ping"}` + "\n"))
	f.Add([]byte(`{"op":"open","url":"cryptoarm://x"}` + "\n" + `{"op":"plugins"}` + "\n"))
	f.Add([]byte("garbage\n\n{}\n"))
	f.Add([]byte(`{"op":"open","url":12}` + "\n"))
	f.Add([]byte(`{"op":"open","url":"` + strings.Repeat("a", MaxMessage) + `"}` + "\n"))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &fuzzConn{in: bytes.NewReader(in)}
		(&Server{Agent: &fakeAgent{}}).handle(context.Background(), c, log)
		lines := bytes.Split(bytes.TrimSuffix(c.out.Bytes(), []byte("\n")), []byte("\n"))
		if c.out.Len() == 0 {
			lines = nil
		}
		require.LessOrEqual(t, len(lines), bytes.Count(in, []byte("\n"))+1, "more responses than request lines")
		for _, l := range lines {
			var r Response
			require.NoError(t, json.Unmarshal(l, &r), "response %q", l)
			require.True(t, r.OK || r.Error != "", "failed response without error: %q", l)
		}
	})
}
