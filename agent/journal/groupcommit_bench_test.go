package journal

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkGroupCommit interleaves, in the same loop, one bare write+fsync
// of a record-sized line and a burst of 16 concurrent durable Appends
// (each waits for its own record). It reports the burst's time per append
// as a multiple of the bare write+fsync: 1/16 would be one fsync for all
// sixteen, 1 one fsync each.
func BenchmarkGroupCommit(b *testing.B) {
	const burst = 16
	line, _ := json.Marshal(sampleRecord(1))
	line = append(line, '\n')
	raw, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	require.NoError(b, err)
	defer raw.Close()
	j, _ := openTemp(b)
	rec := sampleRecord(1)
	var tRaw, tBurst time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := raw.Write(line); err != nil {
			b.Fatal(err)
		}
		if err := raw.Sync(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		var wg sync.WaitGroup
		for range burst {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := j.Append(context.Background(), rec); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		tRaw += t1.Sub(t0)
		tBurst += time.Since(t1)
	}
	b.ReportMetric(float64(tBurst)/burst/float64(tRaw), "append/write+fsync")
}
