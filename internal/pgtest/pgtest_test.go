package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/pgtest"
)

func TestClusterSurvivesRestart(t *testing.T) {
	c := pgtest.Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.DSN("signet"))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (7)")
	require.NoError(t, err)
	conn.Close(ctx)

	c.Restart(t)
	conn, err = pgx.Connect(ctx, c.DSN("signet"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var v int
	require.NoError(t, conn.QueryRow(ctx, "SELECT v FROM t").Scan(&v))
	assert.Equal(t, 7, v, "data written before the restart is there after it")
}
