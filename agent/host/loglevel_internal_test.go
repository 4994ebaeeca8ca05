package host

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestLowestLevel: the level the host passes a plugin at Start is the
// lowest its log keeps.
func TestLowestLevel(t *testing.T) {
	for _, lvl := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		h := slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: lvl})
		assert.Equal(t, lvl, lowestLevel(context.Background(), h), "handler at %s", lvl)
	}
	h := slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError + 4})
	assert.Equal(t, slog.LevelError, lowestLevel(context.Background(), h), "a handler keeping nothing")
}
