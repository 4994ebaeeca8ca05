package e2e

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/stretchr/testify/require"
)

// largeDocumentSize is the document BenchmarkLargeDocument signs.
const largeDocumentSize = 1 << 30

// largeDocumentPath is one way a large document gets a detached
// signature: command returns the process that signs doc into out, with
// the environment it needs (started in dir, a scratch directory).
type largeDocumentPath struct {
	name    string
	command func(b *testing.B, dir, doc, out string) *exec.Cmd
}

// largeDocumentPaths are the rows of BenchmarkLargeDocument (P2 in `make
// bench`): add a plugin that accepts large documents here.
var largeDocumentPaths = []largeDocumentPath{
	{name: "signet-sign", command: func(b *testing.B, dir, doc, out string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(binDir, "signet"), "sign", "--detached", "--module", hsmEnv.Module,
			"--key", "pkcs11:token="+tokenLabel+";object="+softhsmtest.KeyECDSA+";type=private", "--in", doc, "--out", out)
		cmd.Env = append(hsmEnv.Environ(), "HOME="+dir, "SIGNET_PIN="+softhsmtest.DefaultUserPIN)
		return cmd
	}},
}

// BenchmarkLargeDocument measures a detached signature over a 1 GiB file
// through each of largeDocumentPaths against `openssl dgst -sha256` of the
// same file (already in the page cache), interleaved in the same run:
// wall time, their ratio, and the peak resident memory of each process.
func BenchmarkLargeDocument(b *testing.B) {
	dir := b.TempDir()
	doc := filepath.Join(dir, "large.bin")
	writeLargeDocument(b, doc, largeDocumentSize)
	baseline := func(b *testing.B) *exec.Cmd {
		cmd := exec.Command("openssl", "dgst", "-sha256", doc)
		cmd.Stdout = io.Discard
		return cmd
	}
	for _, p := range largeDocumentPaths {
		b.Run(p.name, func(b *testing.B) {
			out := filepath.Join(dir, p.name+".p7s")
			var pathT, baseT time.Duration
			var pathRSS, baseRSS float64
			n := 0
			for b.Loop() {
				t, rss := runMeasured(b, baseline(b))
				baseT, baseRSS = baseT+t, max(baseRSS, rss)
				t, rss = runMeasured(b, p.command(b, dir, doc, out))
				pathT, pathRSS = pathT+t, max(pathRSS, rss)
				n++
			}
			sig, err := os.Stat(out)
			require.NoError(b, err, "%s wrote no signature", p.name)
			require.Less(b, sig.Size(), int64(1<<20), "%s: a detached signature holds no content", p.name)
			b.ReportMetric(pathT.Seconds()/float64(n), "s/sign")
			b.ReportMetric(baseT.Seconds()/float64(n), "openssl-s")
			b.ReportMetric(float64(pathT)/float64(baseT), "sign/openssl")
			b.ReportMetric(pathRSS, "peak-RSS-MiB")
			b.ReportMetric(baseRSS, "openssl-peak-RSS-MiB")
		})
	}
}

// runMeasured runs cmd to its end and returns its wall time and peak
// resident memory (MiB).
func runMeasured(b *testing.B, cmd *exec.Cmd) (time.Duration, float64) {
	b.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	require.NoError(b, err, "%s: %s", cmd.Args, stderr.String())
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	require.True(b, ok, "no rusage for %s", cmd.Args)
	return took, float64(ru.Maxrss) / 1024 // Linux: KiB
}

// writeLargeDocument writes size bytes of non-repeating content to path.
func writeLargeDocument(b *testing.B, path string, size int64) {
	b.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	require.NoError(b, err)
	defer f.Close()
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i*7 + i>>8)
	}
	for off := int64(0); off < size; off += int64(len(block)) {
		block[0], block[1], block[2], block[3] = byte(off>>20), byte(off>>28), byte(off>>36), 0xa5
		_, err := f.Write(block)
		require.NoError(b, err)
	}
}
