// Package profiling lets a benchmark take CPU profiles of the agent and of
// its plugin processes: when the environment variable EnvDir names a
// directory, Start writes a CPU profile of this process there until the
// returned stop is called. It is off unless the variable is set; the
// profile holds call stacks and timings, never memory contents.
//
//	stop := profiling.Start(os.Getenv(profiling.EnvDir), "signet")
//	defer stop()
package profiling

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
)

// EnvDir names the directory CPU profiles are written to. The host passes
// it on to the plugins it starts.
const EnvDir = "SIGNET_CPU_PROFILE_DIR"

// Start begins a CPU profile of this process written to
// dir/name-PID.cpu.pprof and returns the function that ends it (safe to
// call more than once). With dir empty it does nothing. A profile that
// cannot be started is reported on stderr and skipped: profiling never
// stops the program.
func Start(dir, name string) (stop func()) {
	if dir == "" {
		return func() {}
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%d.cpu.pprof", name, os.Getpid()))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cpu profile: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "cpu profile %s: %v\n", path, err)
		f.Close()
		return func() {}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}
}
