package plugintest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/signet-agent/signet/agent/consent"
	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
	"github.com/stretchr/testify/require"
)

// plainConsent is the baseline server: the same service and message as the
// host's Consent, answering at once, on a plain (no TLS) unix socket.
type plainConsent struct {
	pb.UnimplementedConsentServer
	asker consent.Asker
}

func (p plainConsent) Ask(ctx context.Context, req *pb.AskRequest) (*pb.AskResponse, error) {
	if err := p.asker.Ask(ctx, consent.Request{Kind: consent.Origin, Origin: req.GetOp().GetOrigin(), Summary: req.GetOp().GetSummary()}); err != nil {
		return nil, err
	}
	return &pb.AskResponse{}, nil
}

// BenchmarkBrokerRoundTrip compares one plugin→host call through
// go-plugin's broker (gRPC with AutoMTLS on a unix socket) with a plain
// gRPC call between the same two processes over a unix socket, measured in
// the same run from inside the plugin process. It reports both latencies
// and their ratio (target ≤ 1.25).
func BenchmarkBrokerRoundTrip(b *testing.B) {
	h := Start(b, "./testdata/benchplugin", nil)
	sock := filepath.Join(b.TempDir(), "plain.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(b, err)
	srv := grpc.NewServer()
	pb.RegisterConsentServer(srv, plainConsent{asker: consent.AllowAll})
	go srv.Serve(ln)
	defer srv.Stop()

	c, err := net.Dial("tcp", h.Addr("ctl"))
	require.NoError(b, err)
	defer c.Close()
	r := bufio.NewReader(c)
	call := func(cmd string) time.Duration {
		fmt.Fprintln(c, cmd)
		line, err := r.ReadString('\n')
		require.NoError(b, err)
		line = strings.TrimSpace(line)
		ns, err := strconv.ParseInt(line, 10, 64)
		require.NoError(b, err, "%s: %s", cmd, line)
		return time.Duration(ns)
	}
	const batch = 500
	call(fmt.Sprintf("broker %d", batch)) // warm up both paths
	call(fmt.Sprintf("plain %d %s", batch, sock))
	b.ResetTimer()
	var broker, plain time.Duration
	calls := 0
	for b.Loop() {
		// Interleave so both paths see the same machine load.
		broker += call(fmt.Sprintf("broker %d", batch))
		plain += call(fmt.Sprintf("plain %d %s", batch, sock))
		calls += batch
	}
	bu := float64(broker.Microseconds()) / float64(calls)
	pu := float64(plain.Microseconds()) / float64(calls)
	b.ReportMetric(bu, "µs/broker-call")
	b.ReportMetric(pu, "µs/plain-call")
	b.ReportMetric(bu/pu, "broker/plain")
}
