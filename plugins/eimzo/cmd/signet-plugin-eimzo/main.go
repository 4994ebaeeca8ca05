// Command signet-plugin-eimzo is the Signet plugin that speaks the E-IMZO
// WebSocket API; see package github.com/signet-agent/signet/plugins/eimzo.
package main

import (
	"github.com/signet-agent/signet/plugins/eimzo"
	"github.com/signet-agent/signet/sdk"
)

func main() { sdk.Serve(eimzo.Plugin{}) }
