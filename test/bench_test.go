package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signet-agent/signet/internal/testutil"
	"github.com/stretchr/testify/require"
)

// BenchmarkColdStart measures `signet serve` from exec until every one of
// three configured plugins is ready (the agent logs "signet agent ready"
// after the plugin manager's Start, which waits for each plugin's listeners),
// and the idle resident memory of the agent plus its plugins. Targets:
// ≤ 300 ms and ≤ 100 MiB.
func BenchmarkColdStart(b *testing.B) {
	dir := b.TempDir()
	cfg := newAgentConfig(dir)
	for i := range 3 {
		cfg.Plugins = append(cfg.Plugins, pluginConf{Name: fmt.Sprintf("example%d", i), Path: filepath.Join(binDir, "signet-plugin-example"), Listen: []listenConf{anyPort}})
	}
	cfgPath := writeConfig(b, dir, cfg)
	// Create the local CA once, outside the measurement (first start only).
	run := func() (time.Duration, float64) {
		log := &testutil.SyncBuffer{}
		cmd := exec.Command(filepath.Join(binDir, "signet"), "serve", "--config", cfgPath, "--socket", filepath.Join(dir, "control.sock"))
		cmd.Env = append(hsmEnv.Environ(), "HOME="+dir)
		cmd.Stdout, cmd.Stderr = log, log
		start := time.Now()
		require.NoError(b, cmd.Start())
		defer cmd.Process.Kill() // a no-op after the SIGTERM below; ends the agent when a check fails
		for !strings.Contains(log.String(), "signet agent ready") {
			require.LessOrEqual(b, time.Since(start), 30*time.Second, "not ready:\n%s", log.String())
			time.Sleep(time.Millisecond)
		}
		took := time.Since(start)
		require.Equal(b, 3, strings.Count(log.String(), "plugin ready"), "plugins ready:\n%s", log.String())
		time.Sleep(500 * time.Millisecond) // idle
		rss := rssMiB(cmd.Process.Pid)
		for _, c := range children(cmd.Process.Pid) {
			rss += rssMiB(c)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		return took, rss
	}
	// floor: exec the same plugin binary three times in parallel without
	// the handshake cookie (it prints a notice and exits) and wait for all:
	// what process creation and Go start-up cost on this machine now.
	floor := func() time.Duration {
		start := time.Now()
		cmds := make([]*exec.Cmd, 3)
		for i := range cmds {
			cmds[i] = exec.Command(filepath.Join(binDir, "signet-plugin-example"))
			require.NoError(b, cmds[i].Start())
		}
		for _, c := range cmds {
			c.Wait()
		}
		return time.Since(start)
	}
	run()
	b.ResetTimer()
	var total, floorTotal time.Duration
	var rss float64
	n := 0
	for b.Loop() {
		floorTotal += floor()
		t, r := run()
		total += t
		rss += r
		n++
	}
	ms := float64(total.Milliseconds()) / float64(n)
	fms := float64(floorTotal.Milliseconds()) / float64(n)
	b.ReportMetric(ms, "ms-to-ready")
	b.ReportMetric(fms, "ms-exec-floor")
	b.ReportMetric(ms/fms, "ready/floor")
	b.ReportMetric(rss/float64(n), "MiB-RSS-host+3")
}

// rssMiB reads VmRSS of pid.
func rssMiB(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// children lists the child pids of pid (children of any of its threads).
func children(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		d, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		for _, f := range strings.Fields(string(d)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}
