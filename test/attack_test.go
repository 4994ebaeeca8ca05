package e2e

// Attacks on a running agent. Each attack we learn of becomes a test here
// (files test/attack_*_test.go): it reproduces the attack against the real
// `signet serve` and plugin binaries and asserts it is refused. Attacks by
// another local user run the attacker as uid nobody; that needs root (CI
// runs as root), and a test that cannot switch uid fails rather than skip.

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// otherUser is the uid and gid an attacking local user runs as.
type otherUser struct {
	UID, GID uint32
}

// nobody returns the nobody user, failing the test when this process
// cannot switch to it.
func nobody(t testing.TB) otherUser {
	t.Helper()
	require.Equal(t, 0, os.Geteuid(), "this attack test runs the attacker as uid nobody, which needs root (CI runs as root)")
	u, err := user.Lookup("nobody")
	require.NoError(t, err, "look up user nobody")
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	require.NoError(t, err)
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	require.NoError(t, err)
	require.NotZero(t, uid, "nobody must not be root")
	return otherUser{UID: uint32(uid), GID: uint32(gid)}
}

// asOtherUser runs name with args as u (no supplementary groups, an empty
// environment but PATH) and returns its combined output and exit error.
// It is bounded to 30 s.
func asOtherUser(t testing.TB, u otherUser, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: []uint32{}}}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// TestAttackerRunsAsAnotherUser checks the harness itself: the attacker
// process really has another uid.
func TestAttackerRunsAsAnotherUser(t *testing.T) {
	u := nobody(t)
	out, err := asOtherUser(t, u, "id", "-u")
	require.NoError(t, err, "%s", out)
	require.Equal(t, strconv.FormatUint(uint64(u.UID), 10), string(bytes.TrimSpace(out)))
}
