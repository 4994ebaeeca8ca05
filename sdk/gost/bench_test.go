package gost

import (
	"crypto/rand"
	"crypto/sha256"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golang.org/x/sys/unix"
)

// threadCPU is the CPU time of the calling OS thread: on a shared, loaded
// machine wall time mostly measures the wait for a CPU.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// BenchmarkGost94VsSHA256 hashes the same 64 KiB with GOST R 34.11-94
// (CryptoPro) and crypto/sha256, alternating in one loop, and reports the
// ratio gost/sha256 of thread CPU time and of wall time. Throughput
// (MB/s) is that of the GOST hash alone.
func BenchmarkGost94VsSHA256(b *testing.B) {
	buf := make([]byte, 64<<10)
	rand.Read(buf)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var gw, sw, gc, sc time.Duration
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for b.Loop() {
		t0, c0 := time.Now(), threadCPU()
		Sum94CryptoPro(buf)
		t1, c1 := time.Now(), threadCPU()
		sha256.Sum256(buf)
		t2, c2 := time.Now(), threadCPU()
		gw += t1.Sub(t0)
		sw += t2.Sub(t1)
		gc += c1 - c0
		sc += c2 - c1
	}
	b.ReportMetric(float64(gc)/float64(sc), "gost/sha256-cpu")
	b.ReportMetric(float64(gw)/float64(sw), "gost/sha256-wall")
}

// BenchmarkGostVerify is one signature verification on CryptoPro-A (the
// cost of checking one E-IMZO API key, less two short hashes).
func BenchmarkGostVerify(b *testing.B) {
	priv, err := GenerateKey(CurveCryptoProA, rand.Reader)
	require.NoError(b, err)
	digest := Sum94CryptoPro([]byte("localhost"))
	sig, err := Sign(rand.Reader, priv, digest[:])
	require.NoError(b, err)
	for b.Loop() {
		require.NoError(b, Verify(&priv.PublicKey, digest[:], sig))
	}
}
