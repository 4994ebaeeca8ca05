package sdk

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logRecorder is a host Log service that keeps what it is sent.
type logRecorder struct {
	mu      sync.Mutex
	batches int
	msgs    []string
}

func (r *logRecorder) Write(_ context.Context, b *pb.LogBatch, _ ...grpc.CallOption) (*pb.LogResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches++
	for _, rec := range b.GetRecords() {
		r.msgs = append(r.msgs, rec.GetMessage())
	}
	return &pb.LogResponse{}, nil
}

// TestLogSenderSkipsWhatTheHostDrops: records below the level the host
// keeps (StartRequest.log_level) are not sent at all — a debug line per
// call would otherwise cost a host call the host throws away.
func TestLogSenderSkipsWhatTheHostDrops(t *testing.T) {
	for _, tc := range []struct {
		min  slog.Level
		want []string
	}{
		{slog.LevelInfo, []string{"info", "warn"}},
		{slog.LevelDebug, []string{"debug", "info", "warn"}},
		{slog.LevelWarn, []string{"warn"}},
	} {
		t.Run(tc.min.String(), func(t *testing.T) {
			rec := &logRecorder{}
			log := slog.New(newLogSender(rec, tc.min))
			log.Debug("debug")
			log.Info("info")
			log.With("k", "v").Warn("warn")
			log.Handler().(*logSender).flush(5 * time.Second)
			rec.mu.Lock()
			defer rec.mu.Unlock()
			assert.Equal(t, tc.want, rec.msgs)
		})
	}
	// Nothing at all below the level: not even a batch.
	rec := &logRecorder{}
	s := newLogSender(rec, slog.LevelInfo)
	log := slog.New(s)
	for range 100 {
		log.Debug("per call")
	}
	s.flush(5 * time.Second)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Empty(t, rec.msgs)
	assert.Zero(t, rec.batches, "batches sent for records the host drops")
}
