// Command signet-plugin-cipher is the Signet plugin that speaks the Cipher
// local crypto service REST API; see package
// github.com/signet-agent/signet/plugins/cipher.
package main

import (
	"github.com/signet-agent/signet/plugins/cipher"
	"github.com/signet-agent/signet/sdk"
)

func main() { sdk.Serve(cipher.Plugin{}) }
