// Package pgtest starts a throw-away PostgreSQL cluster for tests: initdb
// into a temporary directory, one postgres process listening on a loopback
// port and a unix socket in that directory, stopped and removed when the
// test ends. It uses the server binaries of Debian's postgresql package
// (`make test` installs it); when the test runs as root, the cluster runs as
// the unprivileged "postgres" (or "nobody") user, since postgres refuses root.
//
//	c := pgtest.Start(t) // or pgtest.New() in TestMain, then c.Close()
//	pool, err := pgxpool.New(ctx, c.DSN("signet"))
//	…
//	c.Restart(t) // a database restart in the middle of a flow
package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is one running (or stopped) throw-away cluster.
type Cluster struct {
	Dir  string // data directory and socket directory live under it
	Port int

	bin  string
	cred *syscall.Credential

	mu  sync.Mutex
	cmd *exec.Cmd
	log bytes.Buffer
}

// Start creates and starts a cluster with a database named "signet",
// removed when the test ends; the test fails if PostgreSQL's binaries are
// missing or it does not start.
func Start(t testing.TB) *Cluster {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// New creates and starts a cluster with a database named "signet"; Close
// stops and removes it. Use it from TestMain to share one cluster.
func New() (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, fmt.Errorf("%w (make test installs Debian's postgresql package)", err)
	}
	dir, err := os.MkdirTemp("", "signet-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin}
	if err := c.create(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close stops the server and removes its files.
func (c *Cluster) Close() {
	c.Stop()
	_ = os.RemoveAll(c.Dir)
}

func (c *Cluster) create() error {
	if os.Geteuid() == 0 {
		cred, err := unprivileged()
		if err != nil {
			return err
		}
		c.cred = cred
		if err := os.Chown(c.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	if out, err := c.command("initdb", "-D", c.dataDir(), "-U", "signet", "--auth=trust",
		"--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	var err error
	if c.Port, err = freePort(); err != nil {
		return err
	}
	if err := c.start(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE signet"); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	return nil
}

// DSN is the connection string of database db over the loopback port.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://signet@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// Stop shuts the server down (fast shutdown: open sessions are ended).
// Stopping a stopped cluster does nothing.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
	c.cmd = nil
}

// Restart stops the server and starts it again on the same port and data.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	c.Stop()
	if err := c.start(); err != nil {
		t.Fatalf("pgtest: restart: %v", err)
	}
}

// Log is what the server wrote so far, for a failing test's message.
func (c *Cluster) Log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

func (c *Cluster) dataDir() string { return filepath.Join(c.Dir, "data") }

func (c *Cluster) start() error {
	c.mu.Lock()
	cmd := c.command("postgres", "-D", c.dataDir(), "-p", strconv.Itoa(c.Port),
		"-h", "127.0.0.1", "-k", c.Dir, "-c", "fsync=off", "-c", "max_connections=200")
	cmd.Stdout = &c.log
	cmd.Stderr = &c.log
	err := cmd.Start()
	if err == nil {
		c.cmd = cmd
	}
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		if err == nil {
			_ = conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within 30 s: %v\n%s", err, c.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.Dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C", "HOME=" + c.Dir}
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

// binDir finds the newest /usr/lib/postgresql/N/bin with initdb.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	if len(dirs) == 0 {
		return "", fmt.Errorf("no PostgreSQL server found under /usr/lib/postgresql")
	}
	return filepath.Dir(dirs[0]), nil
}

func version(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// unprivileged is the user a root test runs the cluster as.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root and neither user postgres nor nobody exists")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
