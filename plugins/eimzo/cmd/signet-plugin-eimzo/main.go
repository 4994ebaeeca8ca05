// Command signet-plugin-eimzo is the Signet plugin that speaks the E-IMZO
// WebSocket API; see package github.com/signet-agent/signet/plugins/eimzo.
package main

import (
	"runtime"

	"github.com/signet-agent/signet/plugins/eimzo"
	"github.com/signet-agent/signet/sdk"
)

func main() {
	// One processor for Go code. The plugin's work is a page's calls, one
	// after the other, each mostly waiting on a socket or the host; with a
	// second processor idle, the Go scheduler wakes and parks threads around
	// every wait. One processor cut the plugin's CPU per create_pkcs7 by
	// about a fifth and its latency a little, with the same throughput on
	// two cores (docs/benchmarks.md). Goroutines are still preempted, so one long
	// signature does not hold the other connections back.
	runtime.GOMAXPROCS(1)
	sdk.Serve(eimzo.Plugin{})
}
