package e2e

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
)

// cipherBenchSize is the document of BenchmarkCipherLargeDocument.
const cipherBenchSize = 1 << 30

// BenchmarkCipherLargeDocument: a 1 GiB document through the Cipher API —
// POST /data (octet-stream), a detached signature, GET ds/data — against
// `openssl dgst -sha256` of the same file in the same run. Reports the
// ratio (target ≤ 1.25) and the plugin's peak RSS (VmHWM, target ≤ 64 MiB).
func BenchmarkCipherLargeDocument(b *testing.B) {
	a := startCipherAgent(b)
	doc := filepath.Join(b.TempDir(), "doc.bin")
	writeRandomFile(b, doc, cipherBenchSize)
	ks := "pkcs11:token=" + tokenLabel + ";object=" + softhsmtest.KeyRSA
	pid := a.plugin("cipher").PID

	var api, dgst, upload, dgstCPU, pluginCPU time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		cmd := exec.Command("openssl", "dgst", "-sha256", doc)
		out, err := cmd.CombinedOutput()
		require.NoError(b, err, "%s", out)
		dgst += time.Since(start)
		dgstCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()

		cpu0 := processCPU(b, pid)
		start = time.Now()
		id := a.must(b, "", "POST", "/ticket", nil)["ticketUuid"].(string)
		f, err := os.Open(doc)
		require.NoError(b, err)
		up := time.Now()
		st, body := a.callReader(b, "", "POST", "/ticket/"+id+"/data", "application/octet-stream", f)
		upload += time.Since(up)
		f.Close()
		require.Equal(b, http.StatusOK, st, "%s", body)
		a.must(b, "", "PUT", "/ticket/"+id+"/option", map[string]string{"signatureType": "detached"})
		a.must(b, "", "PUT", "/ticket/"+id+"/keyStore", map[string]string{"keyStorePath": ks})
		a.must(b, "", "POST", "/ticket/"+id+"/ds/creator", nil)
		st, sig := a.call(b, "", "GET", "/ticket/"+id+"/ds/data", "", nil)
		require.Equal(b, http.StatusOK, st, "%s", sig)
		api += time.Since(start)
		pluginCPU += processCPU(b, pid) - cpu0
		b.StopTimer()
		require.Greater(b, len(sig), 100)
		a.must(b, "", "DELETE", "/ticket/"+id, nil)
		b.StartTimer()
	}
	b.StopTimer()
	hwm := vmHWM(b, pid)
	b.ReportMetric(float64(api)/float64(dgst), "api/openssl-dgst")
	b.ReportMetric(float64(api.Milliseconds())/float64(b.N), "api-ms/op")
	b.ReportMetric(float64(dgst.Milliseconds())/float64(b.N), "openssl-dgst-ms/op")
	b.ReportMetric(float64(upload.Milliseconds())/float64(b.N), "upload-ms/op")
	b.ReportMetric(float64(hwm)/(1<<20), "plugin-peak-rss-MiB")
	b.ReportMetric(float64(pluginCPU)/float64(dgstCPU), "plugin-cpu/openssl-cpu")
}

// writeRandomFile writes size random bytes to path.
func writeRandomFile(t testing.TB, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	_, err = io.CopyN(f, rand.Reader, size)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// vmHWM is a process's peak resident set size in bytes.
func vmHWM(t testing.TB, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// processCPU is a process's user+system CPU time so far (/proc/PID/stat,
// in clock ticks of 10 ms).
func processCPU(t testing.TB, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	// Fields after the command name, which ends with the last ')'.
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	f := strings.Fields(rest)
	utime, err := strconv.ParseInt(f[11], 10, 64)
	require.NoError(t, err)
	stime, err := strconv.ParseInt(f[12], 10, 64)
	require.NoError(t, err)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
