package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/cms"
	"github.com/signet-agent/signet/sdk/kontur"
)

// BenchmarkKonturReplicas: 64 concurrent callers × 100 init+confirm flows
// (SIGNET_KONTUR_CALLERS, SIGNET_KONTUR_FLOWS override) against three
// replicas sharing PostgreSQL, each flow confirmed on another replica than
// the one that started it, and the same flows against one replica in the
// same run. Reports throughput, p50/p99 of a whole flow, and the lost and
// duplicated signatures (both must be 0), counted from the database.
func BenchmarkKonturReplicas(b *testing.B) {
	callers, flows := envInt("SIGNET_KONTUR_CALLERS", 64), envInt("SIGNET_KONTUR_FLOWS", 100)
	one := runKonturLoad(b, 1, callers, flows)
	three := runKonturLoad(b, 3, callers, flows)
	b.ReportMetric(three.perSec, "flows/s-3")
	b.ReportMetric(one.perSec, "flows/s-1")
	b.ReportMetric(three.perSec/one.perSec, "3-vs-1-replica")
	b.ReportMetric(float64(three.p50.Microseconds())/1000, "p50-ms-3")
	b.ReportMetric(float64(three.p99.Microseconds())/1000, "p99-ms-3")
	b.ReportMetric(float64(one.p50.Microseconds())/1000, "p50-ms-1")
	b.ReportMetric(float64(one.p99.Microseconds())/1000, "p99-ms-1")
	b.ReportMetric(float64(three.lost+one.lost), "lost")
	b.ReportMetric(float64(three.duplicated+one.duplicated), "duplicated")
	fmt.Printf("kontur load, %d callers × %d flows: 3 replicas %.0f flows/s (p50 %v, p99 %v), 1 replica %.0f flows/s (p50 %v, p99 %v): %.2f×; lost %d, duplicated %d\n",
		callers, flows, three.perSec, three.p50, three.p99, one.perSec, one.p50, one.p99, three.perSec/one.perSec,
		three.lost+one.lost, three.duplicated+one.duplicated)
}

type loadResult struct {
	perSec           float64
	p50, p99         time.Duration
	lost, duplicated int
}

func runKonturLoad(b *testing.B, replicas, callers, flows int) loadResult {
	b.Helper()
	kc := startKontur(b, replicas, true)
	ctx := context.Background()
	clients := make([]*kontur.Client, replicas)
	for i := range clients {
		clients[i] = &kontur.Client{BaseURL: kc.addrs[i], APIKey: konturAPIKey}
	}
	verify := &cms.VerifyOptions{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	verify.Roots.AddCert(fixture.PKI.Root)
	verify.Intermediates.AddCert(fixture.PKI.Intermediate)
	var failed atomic.Int64
	var firstErr atomic.Value
	lat := make([][]time.Duration, callers)
	// One run takes far longer than -benchtime, so the benchmark runs once.
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for f := 0; f < flows; f++ {
				t0 := time.Now()
				init, confirm := clients[(c+f)%replicas], clients[(c+f+1)%replicas]
				if err := konturFlow(ctx, init, confirm, fmt.Sprintf("c%d-f%d", c, f), verify); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := firstErr.Load(); err != nil {
		b.Logf("%d of %d flows failed; first: %v", failed.Load(), callers*flows, err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	r := loadResult{perSec: float64(len(all)) / elapsed.Seconds()}
	if len(all) > 0 {
		r.p50, r.p99 = all[len(all)/2], all[len(all)*99/100]
	}
	r.lost, r.duplicated = konturCounts(b, kc, callers*flows)
	return r
}

// konturFlow uploads a document to its own docflow, starts cloud signing on
// one replica, reads the code, confirms on another, and checks the
// signature with sdk/cms.
func konturFlow(ctx context.Context, init, confirm *kontur.Client, id string, opts *cms.VerifyOptions) error {
	place := kontur.Reply("acme", "df-"+id, "doc", "reply")
	doc := []byte("reply " + id)
	if err := init.PutContent(ctx, place, "", bytes.NewReader(doc)); err != nil {
		return err
	}
	in, err := init.CloudSign(ctx, place, false)
	if err != nil {
		return err
	}
	code, err := init.TestCode(ctx, in.RequestID)
	if err != nil {
		return err
	}
	links, err := confirm.ConfirmSign(ctx, place, in.RequestID, code)
	if err != nil {
		return err
	}
	if len(links) != 1 {
		return fmt.Errorf("%d signed documents", len(links))
	}
	sig, err := confirm.Bytes(ctx, links[0])
	if err != nil {
		return err
	}
	rep, err := cms.Verify(sig, bytes.NewReader(doc), opts)
	if err != nil {
		return err
	}
	if !rep.Valid() {
		return fmt.Errorf("signature of %s does not verify", id)
	}
	return nil
}

// konturCounts reads from the database how many of want flows have no
// signature (lost) and how many signatures beyond one a task or a reply
// got (duplicated).
func konturCounts(b *testing.B, kc *konturCluster, want int) (lost, duplicated int) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, kc.db.DSN("signet"))
	require.NoError(b, err)
	defer conn.Close(ctx)
	var signed, dupTasks, dupReplies int
	require.NoError(b, conn.QueryRow(ctx, `SELECT count(DISTINCT target) FROM requests WHERE state = 'succeed'`).Scan(&signed))
	require.NoError(b, conn.QueryRow(ctx, `SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM results GROUP BY task_id) x WHERE n > 1`).Scan(&dupTasks))
	require.NoError(b, conn.QueryRow(ctx, `SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM requests WHERE state = 'succeed' GROUP BY target) x WHERE n > 1`).Scan(&dupReplies))
	return want - signed, dupTasks + dupReplies
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
