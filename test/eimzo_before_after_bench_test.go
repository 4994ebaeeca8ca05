package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/signet-agent/signet/plugins/eimzo/eimzoclient"
	"github.com/stretchr/testify/require"
)

// EnvBaselineBin names a directory holding another build's signet and
// signet-plugin-eimzo (`make bench-ab BASE=<revision>` builds one).
const EnvBaselineBin = "SIGNET_BENCH_BASELINE_BIN"

// BenchmarkEIMZOBeforeAfter runs create_pkcs7 (P-256, 1 KiB, as
// BenchmarkEIMZOCreatePKCS7) through two agents at once — one of the
// baseline build in $SIGNET_BENCH_BASELINE_BIN, one of this tree — with
// their calls interleaved, so that a change is measured against the code
// before it in the same run: on a shared or throttled machine the speed
// drifts by a third between runs, more than most changes move it.
//
//   - latency: per iteration one raw C_Sign, then one kept-open call on
//     each agent (in rotating order) and one call on a new connection
//     each (TLS resumed). Reported: p50 added latency (call − raw) of each
//     build and mode, CPU per call of each agent and plugin, and new÷old.
//   - throughput: 8 kept-open clients on each agent and raw C_Sign with 4
//     goroutines, in rotating blocks of 64. Reported: each build's
//     throughput ÷ raw, CPU per call, and new÷old.
//
// Without the variable it is skipped.
func BenchmarkEIMZOBeforeAfter(b *testing.B) {
	baseDir := os.Getenv(EnvBaselineBin)
	if baseDir == "" {
		b.Skipf("%s is not set: `make bench-ab BASE=<revision>` runs this benchmark", EnvBaselineBin)
	}
	for _, f := range []string{"signet", "signet-plugin-eimzo"} {
		_, err := os.Stat(filepath.Join(baseDir, f))
		require.NoError(b, err, "baseline build")
	}
	cert := eimzoTokenFixtures(b)[eimzoP256Token].Keys["sign"].Certificate
	raw := openRawSigner(b)
	rs := raw.key(b, eimzoP256Token, false)
	doc := bytes.Repeat([]byte("E-IMZO benchmark document. "), 1024/27+1)[:1024]
	setup := eimzoSetup{
		Secrets:  map[string]string{"pkcs11:token=" + eimzoP256Token: softhsmtest.DefaultUserPIN},
		TokenKey: "pkcs11:token=" + eimzoP256Token + ";",
	}
	eimzoPluginPath(b) // this tree's plugin, built before binDir points elsewhere
	builds := []*abBuild{{name: "old"}, {name: "new"}}
	treeDir := binDir
	binDir = baseDir
	builds[0].agent = startEIMZOAgent(b, setup)
	binDir = treeDir
	builds[1].agent = startEIMZOAgent(b, setup)
	ctx := context.Background()
	for _, ab := range builds {
		cfg := ab.agent.TLS.Clone()
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(64)
		ab.client = &eimzoclient.Client{URL: ab.agent.WSS, Origin: "https://portal.example", TLSConfig: cfg, StrictClose: true}
		p, err := ab.client.CreatePKCS7(ctx, doc, "ckc", false)
		require.NoError(b, err, "%s build: create_pkcs7", ab.name)
		eimzoVerify(b, p, doc, false, false, cert)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

	b.Run("latency", func(b *testing.B) {
		for _, ab := range builds {
			k, err := ab.client.Open(ctx)
			require.NoError(b, err)
			defer k.Close()
			ab.keep = k
			ab.start(b)
		}
		var rawT []time.Duration
		i := 0
		for b.Loop() {
			t0 := time.Now()
			require.NoError(b, rs.sign(0))
			rawT = append(rawT, time.Since(t0))
			for j := range builds {
				ab := builds[(i+j)%len(builds)]
				t0 = time.Now()
				_, err := ab.keep.CreatePKCS7(ctx, doc, "ckc", false)
				require.NoError(b, err, "%s build, kept-open", ab.name)
				ab.keepT = append(ab.keepT, time.Since(t0))
				t0 = time.Now()
				_, err = ab.client.CreatePKCS7(ctx, doc, "ckc", false)
				require.NoError(b, err, "%s build, new connection", ab.name)
				ab.connT = append(ab.connT, time.Since(t0))
			}
			i++
		}
		r := median(rawT)
		b.ReportMetric(ms(r), "raw-p50-ms")
		var keep, conn, cpu [2]float64
		for n, ab := range builds {
			agentMS, pluginMS := ab.cpuPerCall(b, 2*i)
			keep[n], conn[n], cpu[n] = ms(median(ab.keepT)-r), ms(median(ab.connT)-r), agentMS+pluginMS
			b.ReportMetric(keep[n], ab.name+"-keep-added-p50-ms")
			b.ReportMetric(conn[n], ab.name+"-conn-added-p50-ms")
			b.ReportMetric(agentMS, ab.name+"-agent-cpu-ms/call")
			b.ReportMetric(pluginMS, ab.name+"-plugin-cpu-ms/call")
		}
		b.ReportMetric(keep[1]/keep[0], "new/old-keep-added")
		b.ReportMetric(conn[1]/conn[0], "new/old-conn-added")
		b.ReportMetric(cpu[1]/cpu[0], "new/old-cpu")
		b.Logf("P-256 create_pkcs7, %d calls per build and mode; raw C_Sign p50 %.3f ms; added p50 kept-open old %.3f new %.3f ms (%.2f×), new connection old %.3f new %.3f ms (%.2f×); CPU per call agent+plugin old %.2f new %.2f ms (%.2f×)",
			i, ms(r), keep[0], keep[1], keep[1]/keep[0], conn[0], conn[1], conn[1]/conn[0], cpu[0], cpu[1], cpu[1]/cpu[0])
	})

	b.Run("throughput", func(b *testing.B) {
		const block, clients = 64, 8
		for _, ab := range builds {
			ab.keeps = nil
			for range clients {
				k, err := ab.client.Open(ctx)
				require.NoError(b, err)
				defer k.Close()
				ab.keeps = append(ab.keeps, k)
			}
			ab.start(b)
			ab.total = 0
		}
		var rawTotal time.Duration
		i := 0
		for b.Loop() {
			for j := range len(builds) + 1 {
				k := (i + j) % (len(builds) + 1)
				t0 := time.Now()
				if k == len(builds) {
					require.NoError(b, spreadOps(block, 4, rs.sign))
					rawTotal += time.Since(t0)
					continue
				}
				ab := builds[k]
				require.NoError(b, spreadOps(block, clients, func(g int) error {
					_, err := ab.keeps[g].CreatePKCS7(ctx, doc, "ckc", false)
					return err
				}), "%s build", ab.name)
				ab.total += time.Since(t0)
			}
			i++
		}
		var ratio, cpu [2]float64
		for n, ab := range builds {
			agentMS, pluginMS := ab.cpuPerCall(b, i*block)
			ratio[n], cpu[n] = float64(rawTotal)/float64(ab.total), agentMS+pluginMS
			b.ReportMetric(ratio[n], ab.name+"-keep/raw")
			b.ReportMetric(agentMS, ab.name+"-agent-cpu-ms/call")
			b.ReportMetric(pluginMS, ab.name+"-plugin-cpu-ms/call")
		}
		b.ReportMetric(ratio[1]/ratio[0], "new/old-throughput")
		b.ReportMetric(cpu[1]/cpu[0], "new/old-cpu")
		b.Logf("P-256 create_pkcs7, %d clients kept-open, %d calls per build: throughput ÷ raw C_Sign (4 goroutines) old %.3f new %.3f (%.2f×); CPU per call agent+plugin old %.2f new %.2f ms (%.2f×)",
			clients, i*block, ratio[0], ratio[1], ratio[1]/ratio[0], cpu[0], cpu[1], cpu[1]/cpu[0])
	})
}

// abBuild is one side of BenchmarkEIMZOBeforeAfter.
type abBuild struct {
	name   string
	agent  *eimzoAgent
	client *eimzoclient.Client
	keep   *eimzoclient.Conn
	keeps  []*eimzoclient.Conn

	keepT, connT    []time.Duration
	total           time.Duration
	agent0, plugin0 time.Duration
}

// start notes the agent's and plugin's CPU time before a measurement.
func (ab *abBuild) start(b *testing.B) {
	ab.agent0, ab.plugin0 = ab.agent.cpuTimes(b)
}

// cpuPerCall returns the agent's and plugin's CPU per call since start.
func (ab *abBuild) cpuPerCall(b *testing.B, calls int) (agentMS, pluginMS float64) {
	a, p := ab.agent.cpuTimes(b)
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(max(calls, 1)) }
	return per(a - ab.agent0), per(p - ab.plugin0)
}
