package cipher

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// blob is a file of a ticket with its size and SHA-256.
type blob struct {
	path   string
	size   int64
	sha256 []byte
}

// job is one asynchronous operation of a ticket (signing, verification,
// timestamping, modification, decryption).
type job struct {
	done   chan struct{}
	err    error // set before done is closed
	out    *blob // the result file, if any
	result any   // a JSON-able result (verifyResults), if any
}

func newJob() *job { return &job{done: make(chan struct{})} }

func (j *job) finish(out *blob, result any, err error) {
	j.out, j.result, j.err = out, result, err
	close(j.done)
}

func (j *job) finished() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

// Job kinds.
const (
	jobSign    = "ds/creator"
	jobVerify  = "ds/verifier"
	jobTS      = "ts/creator"
	jobModify  = "ds/modifier"
	jobDecrypt = "decryptor"
)

// ticket is one session: its files live in dir, which only this process's
// user can read, and go with the ticket.
type ticket struct {
	id     string
	origin string // "" for a local caller
	dir    string
	ctx    context.Context // cancelled when the ticket goes
	cancel context.CancelFunc

	mu         sync.Mutex
	expires    time.Time
	data       *blob // POST data
	sig        *blob // POST ds/data
	tsToken    []byte
	metaData   string
	opts       options
	keyStore   string // keyStorePath, or the token URI of container
	container  string // handle of the key container uploaded to this ticket (host)
	recipients []*x509.Certificate
	jobs       map[string]*job
	seq        int
}

// newFile names a fresh file in the ticket's directory.
func (t *ticket) newFile(kind string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	return filepath.Join(t.dir, fmt.Sprintf("%s-%d", kind, t.seq))
}

// store holds the tickets of every origin.
type store struct {
	dir    string
	limits Limits
	now    func() time.Time
	// forget releases what the host holds for a ticket that goes (its
	// uploaded key container); nil in tests of the store alone.
	forget func(t *ticket)

	mu      sync.Mutex
	tickets map[string]*ticket
}

// errTooManyTickets is answered with 503 and msgBusy.
var errTooManyTickets = &apiError{status: http.StatusServiceUnavailable, msg: msgBusy}

// newStore prepares dir (created 0700 if missing; refused if it is a link,
// not a directory or another user's), removes what earlier runs left there
// (the files of a previous run are gone at start), and keeps this process's
// tickets in their own run directory inside it.
func newStore(dir string, limits Limits, now func() time.Time) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ticket directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("ticket directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() {
		return nil, fmt.Errorf("ticket directory %s: not a directory of this user", dir)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ticket directory: %w", err)
	}
	if err := removeStaleRuns(dir); err != nil {
		return nil, err
	}
	// This process's files live in their own run directory, so that two
	// plugin processes of one user (two agents, parallel tests) never
	// remove each other's files.
	run := filepath.Join(dir, fmt.Sprintf("run-%d", os.Getpid()))
	if err := os.RemoveAll(run); err != nil {
		return nil, fmt.Errorf("ticket directory: %w", err)
	}
	if err := os.Mkdir(run, 0o700); err != nil {
		return nil, fmt.Errorf("ticket directory: %w", err)
	}
	dir = run
	return &store{dir: dir, limits: limits, now: now, tickets: map[string]*ticket{}}, nil
}

// removeStaleRuns removes what earlier plugin processes left in dir: every
// run directory whose process is gone, and anything else. A run directory
// of a live process is left alone.
func removeStaleRuns(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("ticket directory: %w", err)
	}
	for _, e := range entries {
		var pid int
		if n, _ := fmt.Sscanf(e.Name(), "run-%d", &pid); n == 1 && pid > 0 && pid != os.Getpid() && processAlive(pid) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("ticket directory: removing a previous run's files: %w", err)
		}
	}
	return nil
}

// processAlive reports whether a process with that pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *store) create(origin string) (*ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tickets) >= s.limits.MaxTickets {
		return nil, errTooManyTickets
	}
	id := newUUID()
	dir := filepath.Join(s.dir, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the session's directory: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &ticket{id: id, origin: origin, dir: dir, ctx: ctx, cancel: cancel,
		expires: s.now().Add(s.limits.TicketTTL), jobs: map[string]*job{}}
	s.tickets[id] = t
	return t, nil
}

// get returns the live ticket id of origin, extending its life; another
// origin's ticket is missing, exactly like an unknown one.
func (s *store) get(id, origin string) (*ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[id]
	if !ok || t.origin != origin {
		return nil, errSessionMissing
	}
	now := s.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.After(t.expires) {
		return nil, errSessionMissing
	}
	t.expires = now.Add(s.limits.TicketTTL)
	return t, nil
}

func (s *store) delete(id, origin string) error {
	s.mu.Lock()
	t, ok := s.tickets[id]
	if !ok || t.origin != origin {
		s.mu.Unlock()
		return errSessionMissing
	}
	delete(s.tickets, id)
	s.mu.Unlock()
	return s.remove(t)
}

// remove cancels the ticket's operations and removes its files.
func (s *store) remove(t *ticket) error {
	t.cancel()
	if s.forget != nil {
		s.forget(t)
	}
	if err := os.RemoveAll(t.dir); err != nil {
		return fmt.Errorf("removing the session's files: %w", err)
	}
	return nil
}

// sweep removes the expired tickets.
func (s *store) sweep() {
	now := s.now()
	var gone []*ticket
	s.mu.Lock()
	for id, t := range s.tickets {
		t.mu.Lock()
		expired := now.After(t.expires)
		t.mu.Unlock()
		if expired {
			delete(s.tickets, id)
			gone = append(gone, t)
		}
	}
	s.mu.Unlock()
	for _, t := range gone {
		_ = s.remove(t)
	}
}

// closeAll removes every ticket (the plugin stops).
func (s *store) closeAll() {
	s.mu.Lock()
	all := s.tickets
	s.tickets = map[string]*ticket{}
	s.mu.Unlock()
	for _, t := range all {
		_ = s.remove(t)
	}
}

// errDataTooLarge is a body over its limit.
var errDataTooLarge = &apiError{status: http.StatusRequestEntityTooLarge, msg: msgTooLarge}

// writeBlob streams r into a new private file of t, hashing as it writes,
// and refuses more than max bytes. Memory use is one buffer whatever the size.
func (t *ticket) writeBlob(kind string, r io.Reader, max int64) (*blob, error) {
	path := t.newFile(kind)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating the session's file: %w", err)
	}
	h := sha256.New()
	n, err := copyHashed(f, h, io.LimitReader(r, max+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > max {
		err = errDataTooLarge
	}
	if err != nil {
		_ = os.Remove(path)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errDataTooLarge
		}
		return nil, err
	}
	return &blob{path: path, size: n, sha256: h.Sum(nil)}, nil
}

// copyBufSize is the size of the copy buffers; copyBuffers of them are in
// flight per upload.
const (
	copyBufSize = 1 << 20
	copyBuffers = 4
)

// copyHashed copies r to w and h. Reading, hashing and writing run at the
// same time on different buffers, so a large upload costs about the time
// of the slowest of the three, not their sum; memory is copyBuffers
// buffers whatever the size.
func copyHashed(w io.Writer, h hash.Hash, r io.Reader) (int64, error) {
	type chunk struct {
		buf  []byte
		n    int
		done *sync.WaitGroup
	}
	free := make(chan []byte, copyBuffers)
	for i := 0; i < copyBuffers; i++ {
		free <- make([]byte, copyBufSize)
	}
	toHash := make(chan chunk, copyBuffers)
	toWrite := make(chan chunk, copyBuffers)
	inFlight := make(chan chunk, copyBuffers)
	var werr error
	var stages sync.WaitGroup
	stages.Add(3)
	go func() { // hasher
		defer stages.Done()
		for c := range toHash {
			h.Write(c.buf[:c.n])
			c.done.Done()
		}
	}()
	go func() { // writer
		defer stages.Done()
		for c := range toWrite {
			if werr == nil {
				_, werr = w.Write(c.buf[:c.n])
			}
			c.done.Done()
		}
	}()
	go func() { // recycler: a buffer is free once hashed and written
		defer stages.Done()
		for c := range inFlight {
			c.done.Wait()
			free <- c.buf
		}
	}()
	var total int64
	var rerr error
	for {
		buf := <-free
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			total += int64(n)
			c := chunk{buf: buf, n: n, done: &sync.WaitGroup{}}
			c.done.Add(2)
			toHash <- c
			toWrite <- c
			inFlight <- c
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	close(toHash)
	close(toWrite)
	close(inFlight)
	stages.Wait()
	if werr != nil {
		return total, fmt.Errorf("writing the session's file: %w", werr)
	}
	return total, rerr
}
