//go:build unix

package sdk

import (
	"io"
	"os"
	"strconv"
	"time"

	"github.com/signet-agent/signet/internal/wire"
)

// watchParent exits the plugin when its parent (the host) is gone. Two
// ways, besides the Pdeathsig the host sets on Linux: the lifeline pipe
// from the host reads EOF (immediate, any Unix), and, as a last resort,
// Getppid changes (an orphan is re-parented).
func watchParent(s *server) {
	if fd, err := strconv.Atoi(os.Getenv(wire.EnvLifeline)); err == nil && fd > 2 {
		if f := os.NewFile(uintptr(fd), "signet-lifeline"); f != nil {
			go func() {
				_, _ = io.Copy(io.Discard, f) // returns at EOF: the host is gone
				s.stop(2 * time.Second)
				s.exit(1)
			}()
		}
	}
	ppid := os.Getppid()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for range t.C {
		if os.Getppid() != ppid {
			s.stop(2 * time.Second)
			s.exit(1)
		}
	}
}
