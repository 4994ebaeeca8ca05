// Command signet-plugin-kontur is Signet's server mode for confirmed cloud
// signing: the Kontur.Extern cloud-sign and cloud-decrypt API over keys in
// the host's key store, with state shared by replicas in PostgreSQL. See
// plugins/kontur/README.md.
package main

import (
	"github.com/signet-agent/signet/plugins/kontur"
	"github.com/signet-agent/signet/sdk"
)

func main() { sdk.Serve(kontur.Plugin{}) }
