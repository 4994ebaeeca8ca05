package store_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/pgtest"
	"github.com/signet-agent/signet/plugins/kontur/store"
)

// db is one cluster for the package's tests; each test uses its own
// account and lock scopes, so they do not see each other.
var db *pgtest.Cluster

func TestMain(m *testing.M) {
	var err error
	if db, err = pgtest.New(); err != nil {
		fmt.Fprintln(os.Stderr, "store tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	db.Close()
	os.Exit(code)
}

func open(t *testing.T, replica string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), db.DSN("signet"), replica)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

func newSign(account, scope, target, code string) store.NewRequest {
	return store.NewRequest{
		AccountID: account, Kind: "sign", Target: target, LockScope: scope, KeyURI: "pkcs11:object=k",
		ConfirmType: "sms", Code: code, TTL: time.Minute, Lease: time.Minute,
		Options: store.Options{Documents: map[string]string{"doc": "00"}},
	}
}

func TestMigrationsApplyOnceAcrossReplicas(t *testing.T) {
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); open(t, "r") }()
	}
	wg.Wait()
	v, err := open(t, "r").SchemaVersion(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, v)
}

func TestClaimRaceOneWinner(t *testing.T) {
	ctx := context.Background()
	a, b := open(t, "a"), open(t, "b")
	req, err := a.CreateRequest(ctx, newSign("race", "race/d1", "race/d1/r1", "123456"))
	require.NoError(t, err)

	var wins, lost int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := st.Claim(ctx, "race", req.ID, req.Target, "123456", 3, time.Minute)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins++
			} else if assert.ErrorIs(t, err, store.ErrNotAwaiting) {
				lost++
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, wins, "exactly one replica claims the task")
	assert.Equal(t, 7, lost)
}

func TestConflictInScope(t *testing.T) {
	ctx := context.Background()
	st := open(t, "a")
	first, err := st.CreateRequest(ctx, newSign("lock", "lock/d1", "lock/d1/r1", "111111"))
	require.NoError(t, err)
	_, err = st.CreateRequest(ctx, newSign("lock", "lock/d1", "lock/d1/r2", "222222"))
	var conflict *store.ConflictError
	require.ErrorAs(t, err, &conflict, "another reply of the same docflow is refused")
	assert.Equal(t, first.TaskID, conflict.TaskID)

	// The same reply again replaces the first request (the person asked
	// for a new code).
	second, err := st.CreateRequest(ctx, newSign("lock", "lock/d1", "lock/d1/r1", "333333"))
	require.NoError(t, err)
	old, err := st.Request(ctx, "lock", first.ID)
	require.NoError(t, err)
	assert.Equal(t, store.StateFailed, old.State)
	assert.Equal(t, store.ErrIDSuperseded, old.ErrorID)
	_, err = st.Claim(ctx, "lock", first.ID, first.Target, "111111", 3, time.Minute)
	assert.ErrorIs(t, err, store.ErrNotAwaiting, "the superseded code is dead")
	_, err = st.Claim(ctx, "lock", second.ID, second.Target, "333333", 3, time.Minute)
	assert.NoError(t, err)
}

func TestWrongCodesThenDead(t *testing.T) {
	ctx := context.Background()
	st := open(t, "a")
	req, err := st.CreateRequest(ctx, newSign("wrong", "wrong/d", "wrong/d/r", "424242"))
	require.NoError(t, err)
	_, err = st.Claim(ctx, "wrong", req.ID, req.Target, "000000", 3, time.Minute)
	var wrong *store.WrongCodeError
	require.ErrorAs(t, err, &wrong)
	assert.Equal(t, 2, wrong.AttemptsLeft)
	_, err = st.Claim(ctx, "wrong", req.ID, req.Target, "000001", 3, time.Minute)
	require.ErrorAs(t, err, &wrong)
	_, err = st.Claim(ctx, "wrong", req.ID, req.Target, "000002", 3, time.Minute)
	require.ErrorIs(t, err, store.ErrAttemptsExceeded)
	_, err = st.Claim(ctx, "wrong", req.ID, req.Target, "424242", 3, time.Minute)
	assert.ErrorIs(t, err, store.ErrNotAwaiting, "the right code after the limit is refused")

	_, err = st.Claim(ctx, "other-account", req.ID, req.Target, "424242", 3, time.Minute)
	assert.ErrorIs(t, err, store.ErrNotFound, "another account does not see the request")
}

func TestExpiredCode(t *testing.T) {
	ctx := context.Background()
	st := open(t, "a")
	n := newSign("exp", "exp/d", "exp/d/r", "777777")
	n.TTL = time.Millisecond
	req, err := st.CreateRequest(ctx, n)
	require.NoError(t, err)
	time.Sleep(20 * time.Millisecond)
	_, err = st.Claim(ctx, "exp", req.ID, req.Target, "777777", 3, time.Minute)
	require.ErrorIs(t, err, store.ErrExpired)
	// The lock is free again.
	_, err = st.CreateRequest(ctx, newSign("exp", "exp/d", "exp/d/r2", "888888"))
	assert.NoError(t, err)
}

func TestLeaseLostToSweep(t *testing.T) {
	ctx := context.Background()
	a, b := open(t, "a"), open(t, "b")
	req, err := a.CreateRequest(ctx, newSign("lease", "lease/d", "lease/d/r", "121212"))
	require.NoError(t, err)
	req, err = a.Claim(ctx, "lease", req.ID, req.Target, "121212", 3, time.Millisecond)
	require.NoError(t, err)
	time.Sleep(20 * time.Millisecond)
	n, err := b.Sweep(ctx)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 1)
	err = a.Finish(ctx, req, map[string][]byte{"doc": []byte("sig")}, nil)
	require.ErrorIs(t, err, store.ErrLeaseLost, "a slow replica's result is not kept after the sweep")
	got, err := b.Task(ctx, "lease", req.TaskID)
	require.NoError(t, err)
	assert.Equal(t, store.StateFailed, got.State)
	assert.Equal(t, store.ErrIDInterrupted, got.ErrorID)
}

func TestFinishAndJournalChain(t *testing.T) {
	ctx := context.Background()
	st := open(t, "a")
	_, err := st.PutContent(ctx, "fin", "fin/d/r", "doc", "a.txt", strings.NewReader("hello"), 100)
	require.NoError(t, err)
	_, err = st.PutContent(ctx, "fin", "fin/d/r", "big", "b.txt", strings.NewReader(strings.Repeat("x", 101)), 100)
	require.ErrorIs(t, err, store.ErrTooLarge)
	docs, err := st.Contents(ctx, "fin", "fin/d/r", true)
	require.NoError(t, err)
	require.Len(t, docs, 1)
	assert.Equal(t, "hello", string(docs[0].Data))

	n := newSign("fin", "fin/d", "fin/d/r", "")
	req, err := st.CreateRequest(ctx, n)
	require.NoError(t, err)
	assert.Equal(t, store.StateRunning, req.State, "without a code the request runs at once")
	require.NoError(t, st.Finish(ctx, req, map[string][]byte{"doc": []byte("signature")}, map[string]any{"n": 1}))
	sig, err := st.Result(ctx, "fin", "fin/d/r", "doc")
	require.NoError(t, err)
	assert.Equal(t, "signature", string(sig))

	count, err := st.VerifyJournal(ctx)
	require.NoError(t, err)
	assert.Positive(t, count)
	recs, err := st.Journal(ctx, 0, 10000)
	require.NoError(t, err)
	for _, r := range recs {
		for _, v := range r.Detail {
			assert.NotContains(t, []any{"123456", "424242"}, v, "no code in the journal")
		}
	}
}
