// Command signet-plugin-cryptoarm is the Signet plugin for CryptoARM's
// cryptoarm:// links; see package github.com/signet-agent/signet/plugins/cryptoarm.
package main

import (
	"github.com/signet-agent/signet/plugins/cryptoarm"
	"github.com/signet-agent/signet/sdk"
)

func main() { sdk.Serve(&cryptoarm.Plugin{}) }
