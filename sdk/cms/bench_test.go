package cms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"golang.org/x/sys/unix"

	"github.com/signet-agent/signet/internal/softhsmtest"
)

// benchKey is an in-memory P-256 key with a PKI certificate.
func benchKey(b *testing.B) (*ecdsa.PrivateKey, *x509.Certificate, []*x509.Certificate) {
	b.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(b, err)
	cert, err := testPKI(b).Issue(&key.PublicKey, softhsmtest.IssueOptions{Subject: pkix.Name{CommonName: "bench"}})
	require.NoError(b, err)
	return key, cert, testPKI(b).Chain()
}

// threadCPU is the CPU time of the calling OS thread. On a shared, loaded
// machine wall time mostly measures the wait for a CPU; thread CPU time
// (with the goroutine locked to its thread) measures the work.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// BenchmarkCMSOverhead measures, alternating in the same loop, the bare
// signature (SHA-256 of a 1 KiB document + ECDSA P-256 sign) and a complete
// attached CMS SignedData over the same document (attributes, ESS
// certificate hash, encoding, chain of 3 certificates). It reports the
// ratio cms/bare in wall time and in thread CPU time; the target is ≤ 1.10.
func BenchmarkCMSOverhead(b *testing.B) {
	key, cert, chain := benchKey(b)
	doc := make([]byte, 1024)
	rand.Read(doc)
	opts := &SignOptions{Chain: chain}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var bare, full, bareCPU, fullCPU time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0, c0 := time.Now(), threadCPU()
		d := sha256.Sum256(doc)
		_, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
		require.NoError(b, err)
		t1, c1 := time.Now(), threadCPU()
		_, err = Sign(doc, key, cert, opts)
		require.NoError(b, err)
		t2, c2 := time.Now(), threadCPU()
		bare += t1.Sub(t0)
		full += t2.Sub(t1)
		bareCPU += c1 - c0
		fullCPU += c2 - c1
	}
	b.ReportMetric(float64(bareCPU.Nanoseconds())/float64(b.N), "bare-cpu-ns/op")
	b.ReportMetric(float64(fullCPU.Nanoseconds())/float64(b.N), "cms-cpu-ns/op")
	b.ReportMetric(float64(full)/float64(bare), "cms/bare-wall")
	b.ReportMetric(float64(fullCPU)/float64(bareCPU), "cms/bare-cpu")
}

// zeroReader yields n zero bytes without allocating them.
type zeroReader struct{ n int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > z.n {
		p = p[:z.n]
	}
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

// BenchmarkDetachedStream measures detached signing of a 64 MiB stream
// against io.Copy of the same stream into sha256.New(), alternating in the
// same loop, and reports throughput ratio sign/hash (target ≥ 0.9).
func BenchmarkDetachedStream(b *testing.B) {
	const size = 64 << 20
	key, cert, chain := benchKey(b)
	opts := &SignOptions{Chain: chain}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var hashT, signT, hashCPU, signCPU time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0, c0 := time.Now(), threadCPU()
		h := sha256.New()
		_, err := io.Copy(h, &zeroReader{n: size})
		require.NoError(b, err)
		h.Sum(nil)
		t1, c1 := time.Now(), threadCPU()
		_, err = SignDetached(&zeroReader{n: size}, key, cert, opts)
		require.NoError(b, err)
		t2, c2 := time.Now(), threadCPU()
		hashT += t1.Sub(t0)
		signT += t2.Sub(t1)
		hashCPU += c1 - c0
		signCPU += c2 - c1
	}
	mb := float64(size) / (1 << 20) * float64(b.N)
	b.ReportMetric(mb/hashT.Seconds(), "hash-MiB/s")
	b.ReportMetric(mb/signT.Seconds(), "sign-MiB/s")
	b.ReportMetric(hashT.Seconds()/signT.Seconds(), "sign/hash-wall")
	b.ReportMetric(hashCPU.Seconds()/signCPU.Seconds(), "sign/hash-cpu")
}
