package journal

import (
	"context"
	"sync"
	"testing"
	"time"
)

// BenchmarkGroupCommit interleaves, in the same loop, one bare write+fsync
// of a record-sized line and a burst of 16 concurrent durable Appends
// (each waits for its own record). It reports the burst's time per append
// as a multiple of the bare write+fsync: 1/16 would be one fsync for all
// sixteen, 1 one fsync each.
func BenchmarkGroupCommit(b *testing.B) {
	const burst = 16
	rawAppend := rawWriteFsync(b)
	j, _ := openTemp(b)
	rec := sampleRecord(1)
	var tRaw, tBurst time.Duration
	for b.Loop() {
		t0 := time.Now()
		rawAppend()
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
