// Command signet is the Signet signing agent's command line. See agent/cli.
package main

import (
	"os"

	"github.com/signet-agent/signet/agent/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
