package kontur_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	konturclient "github.com/signet-agent/signet/sdk/kontur"
	"github.com/signet-agent/signet/sdk/plugintest"
)

// TestReplicaKilledMidTask: the replica that claimed a task is killed
// while the host is signing for it; another replica's sweep fails the task
// once its lease runs out, nothing is stored, and the task never runs again.
func TestReplicaKilledMidTask(t *testing.T) {
	e := newEnv(t)
	inSign := make(chan struct{}, 1)
	var block atomic.Bool
	block.Store(true)
	a := e.startReplica(replicaOptions{name: "a", decide: func(ctx context.Context, q plugintest.Question) error {
		if q.Kind == plugintest.Sign && block.Load() {
			inSign <- struct{}{}
			<-ctx.Done() // the plugin dies while its Sign waits here
			return ctx.Err()
		}
		return nil
	}})
	b := e.startReplica(replicaOptions{name: "b"})
	ctx := ctxT(t)

	place := konturclient.Reply("acme", "df-kill", "doc", "r")
	require.NoError(t, a.client.PutContent(ctx, place, "", bytes.NewReader([]byte("killed"))))
	in, err := a.client.CloudSign(ctx, place, false)
	require.NoError(t, err)
	code := e.code(in.RequestID)

	confirmed := make(chan error, 1)
	go func() { _, err := a.client.ConfirmSign(ctx, place, in.RequestID, code); confirmed <- err }()
	select {
	case <-inSign:
	case <-time.After(time.Minute):
		t.Fatal("the confirm never reached the host's Sign")
	}
	require.NoError(t, syscall.Kill(a.Status().PID, syscall.SIGKILL))
	assert.Error(t, <-confirmed, "the caller of the killed replica gets an error")

	var task konturclient.TaskInfo
	require.Eventually(t, func() bool {
		task, err = b.client.Task(ctx, place, in.TaskID)
		return err == nil && task.State == "failed"
	}, time.Minute, 100*time.Millisecond, "the other replica fails the interrupted task (last: %+v, %v)", task, err)
	require.NotNil(t, task.Error)
	assert.Equal(t, "urn:error:externapi:taskInterrupted", task.Error.ID)

	_, err = b.client.ConfirmSign(ctx, place, in.RequestID, code)
	assert.True(t, konturclient.IsError(err, "requestNotAwaitingConfirmation"), "the code cannot restart it: %v", err)
	_, err = b.client.Bytes(ctx, konturclient.Link{Href: b.client.BaseURL + "/v1/acme/docflows/df-kill/documents/doc/replies/r/signature"})
	assert.True(t, konturclient.IsError(err, "notFound"), "no signature was kept: %v", err)
	assert.Equal(t, 1, e.signsOf(in.TaskID), "the host was asked to sign once, by the killed replica only")

	// The lock is free: a new request signs normally on the survivor.
	block.Store(false)
	sigs, err := b.client.SignWithCode(ctx, place, false, func(ctx context.Context, in konturclient.SignInitiation) (string, error) {
		return e.code(in.RequestID), nil
	})
	require.NoError(t, err)
	require.Len(t, sigs, 1)
	opensslVerify(t, b.Host, sigs[0], []byte("killed"))
}

// TestDatabaseRestartMidFlow: PostgreSQL goes down between init and
// confirm; the confirm fails cleanly with 503 and costs no attempt; once
// the database is back the same code signs, once.
func TestDatabaseRestartMidFlow(t *testing.T) {
	e := newEnv(t)
	a := e.startReplica(replicaOptions{name: "a"})
	ctx := ctxT(t)
	place := konturclient.Reply("acme", "df-pg", "doc", "r")
	require.NoError(t, a.client.PutContent(ctx, place, "", bytes.NewReader([]byte("restart"))))
	in, err := a.client.CloudSign(ctx, place, false)
	require.NoError(t, err)
	code := e.code(in.RequestID)

	e.db.Stop()
	_, err = a.client.ConfirmSign(ctx, place, in.RequestID, code)
	var apiErr *konturclient.Error
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, 503, apiErr.StatusCode, "database down is a 503: %v", err)
	_, err = a.client.Task(ctx, place, in.TaskID)
	assert.True(t, konturclient.IsError(err, "serviceUnavailable"), "%v", err)

	e.db.Restart(t)
	var links []konturclient.Link
	require.Eventually(t, func() bool {
		links, err = a.client.ConfirmSign(ctx, place, in.RequestID, code)
		return err == nil
	}, 30*time.Second, 200*time.Millisecond, "the code works once the database is back: %v", err)
	require.Len(t, links, 1)
	sig, err := a.client.Bytes(ctx, links[0])
	require.NoError(t, err)
	opensslVerify(t, a.Host, sig, []byte("restart"))
	assert.Equal(t, 1, e.signsOf(in.TaskID), "signed once")
}
