//go:build unix

package sdk

import (
	"os"
	"time"
)

// watchParent exits the plugin when its parent (the host) is gone: on Unix
// an orphan is re-parented, so Getppid changes. This is the fallback for
// the Pdeathsig the host sets on Linux and the only mechanism elsewhere.
func watchParent(s *server) {
	ppid := os.Getppid()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for range t.C {
		if os.Getppid() != ppid {
			s.stop(2 * time.Second)
			os.Exit(1)
		}
	}
}
