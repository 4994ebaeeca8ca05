// Package testutil holds small helpers that tests of several packages
// share. It is imported only by tests.
//
//	log := &testutil.SyncBuffer{}
//	cmd.Stdout, cmd.Stderr = log, log
//	...
//	require.Contains(t, log.String(), "ready")
package testutil

import (
	"bytes"
	"sync"
)

// SyncBuffer is a bytes.Buffer that many goroutines may write to and read
// from at once: a log sink for a process or a server under test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
