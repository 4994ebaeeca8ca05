package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = `goos: linux
BenchmarkEIMZOCreatePKCS7/P256/latency-2 	     300	  32765696 ns/op	 2.0 agent-cpu-ms/call	 1.0 plugin-cpu-ms/call	 0.5 raw-p50-ms	 1.5 keep-p50-ms	 1.0 keep-added-p50-ms	 2.5 conn-per-call-p50-ms	 2.0 conn-per-call-added-p50-ms
--- BENCH: BenchmarkEIMZOCreatePKCS7/P256/latency-2
    eimzo_bench_test.go:131: BenchmarkEIMZOCreatePKCS7/P256/latency 1 2 3
BenchmarkLargeDocument/signet-sign-2 	 2	 1 ns/op	 1.2 sign/openssl	 300 peak-RSS-MiB
BenchmarkLargeDocument/signet-sign-2 	 2	 1 ns/op	 1.6 sign/openssl	 200 peak-RSS-MiB
BenchmarkLargeDocument/signet-sign-2 	 2	 1 ns/op	 1.4 sign/openssl	 100 peak-RSS-MiB
BenchmarkCMSOverhead-2 	 1000	 1 ns/op	 1.08 cms/bare-cpu	 1.1 cms/bare-wall
PASS
`

func TestRowsFromBenchmarkOutput(t *testing.T) {
	res, err := Parse(strings.NewReader(sample))
	require.NoError(t, err)
	assert.Equal(t, 1.4, res["BenchmarkLargeDocument/signet-sign"]["sign/openssl"], "median of three runs")
	rows := Rows(res)
	byName := map[string]Row{}
	for _, r := range rows {
		byName[r.Name] = r
	}
	keep := byName["create_pkcs7 P256 kept-open p50 ÷ raw C_Sign p50"]
	assert.InDelta(t, 3.0, keep.Ratio, 1e-9, "keep p50 / raw p50")
	assert.Equal(t, "P1", keep.ID)
	cpu := byName["create_pkcs7 P256 CPU per call (agent+plugin) ÷ raw C_Sign p50"]
	assert.InDelta(t, 6.0, cpu.Ratio, 1e-9, "(agent+plugin CPU) / raw p50")
	large := byName["1 GiB detached via signet-sign ÷ openssl dgst -sha256"]
	assert.Equal(t, "P2", large.ID)
	assert.Equal(t, 200.0, large.Values["peak-RSS-MiB"])
	assert.Equal(t, "P6", rows[len(rows)-1].ID, "rows in rule order")
	assert.NotContains(t, byName, "create_pkcs7 P256 8 clients kept-open ÷ raw 4 goroutines", "no row without its benchmark")
}

func TestParseRejectsBadValue(t *testing.T) {
	_, err := Parse(strings.NewReader("BenchmarkX-2 10 abc ns/op\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"abc"`)
}

func TestJSONAndCompare(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "bench.txt")
	require.NoError(t, os.WriteFile(in, []byte(sample), 0o600))
	oldJSON, newJSON := filepath.Join(dir, "old.json"), filepath.Join(dir, "new.json")
	var out bytes.Buffer
	require.NoError(t, run([]string{"-json", oldJSON, in}, &out))
	assert.Contains(t, out.String(), "P6  CMS 1 KiB ÷ bare signature (CPU)")

	var rep Report
	data, err := os.ReadFile(oldJSON)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &rep))
	for i := range rep.Rows {
		rep.Rows[i].Ratio *= 2
	}
	data, err = json.Marshal(rep)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(newJSON, data, 0o600))

	out.Reset()
	require.NoError(t, run([]string{"-compare", oldJSON, newJSON}, &out))
	line := ""
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "CMS 1 KiB") {
			line = l
		}
	}
	assert.Regexp(t, `1\.080 +2\.160 +2\.000`, line, "old, new, new÷old")
}
