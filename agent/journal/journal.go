// Package journal is Signet's append-only audit journal: one JSON line for
// every consent decision and every key operation (who asked, which plugin,
// key, certificate, documents, decision, outcome), each carrying the hash
// of the one before it, so that editing, removing, reordering or inserting
// a record is found by Verify. Append returns once its record is on disk
// (concurrent appenders share fsyncs); AppendLazy and AppendRefusal do not
// wait, and refusals of one site are coalesced. The file rotates at a size
// limit and the rotated files stay part of the chain. A Journal is safe for
// concurrent use; records have no field for a PIN, password, key or
// document content. The design is described in docs/journal.md.
//
//	j, err := journal.Open(journal.PathIn(dataDir))
//	if err != nil {
//		return err
//	}
//	defer j.Close()
//	rec := journal.Record{Plugin: "eimzo", Origin: "https://portal.example",
//		Op: journal.OpSign, KeyURI: uri, Decision: journal.DecisionAllowed,
//		DecidedBy: journal.ByUser}
//	rec.SetOutcome(signErr)
//	if _, err := j.Append(ctx, rec); err != nil {
//		return err // not on record: withhold the signature
//	}
//	rep, err := journal.VerifyFile(journal.PathIn(dataDir))
//	fmt.Println(rep.OK(), rep.HeadSeq, rep.HeadHash)
package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

var (
	// ErrCorrupt is returned by Open when the file's tail holds no record
	// to continue the chain from.
	ErrCorrupt = errors.New("journal corrupt")
	// ErrLocked is returned by Open when another process has the journal open.
	ErrLocked = errors.New("journal in use by another process")
	// ErrClosed is returned by Append after Close.
	ErrClosed = errors.New("journal closed")
)

var (
	errContextCanceled = context.Canceled
	errDeadline        = context.DeadlineExceeded
)

// Journal is an open journal file.
type Journal struct {
	path    string
	now     func() time.Time
	sync    bool
	maxSize int64 // rotate once the active file reaches this size; 0: never
	// syncFile makes a file durable: (*os.File).Sync, or a fault in tests.
	syncFile func(*os.File) error

	mu      sync.Mutex // guards everything below, and writes to f
	f       *os.File
	rotated []string // rotated files, oldest first
	seq     uint64
	head    string
	size    int64 // bytes written so far (file size)
	needNL  bool  // the file does not end in '\n'
	err     error // sticky write or fsync error
	written int64 // count of lines written, for group commit

	syncMu sync.Mutex // serialises fsyncs and rotations

	// Group commit (syncUpTo): commitMu guards synced and syncing and is
	// never held during an fsync; committed is signalled when a batch's
	// fsync ends. Lock order: syncMu, then commitMu, then mu.
	commitMu  sync.Mutex
	committed *sync.Cond
	synced    int64 // lines known to be on disk
	syncing   bool  // an appender is fsyncing a batch

	refusals *refusals // coalesced refusals (AppendRefusal)
}

// Option configures Open.
type Option func(*Journal)

// WithClock sets the clock used for records whose Time is zero.
func WithClock(now func() time.Time) Option { return func(j *Journal) { j.now = now } }

// WithoutSync turns off fsync (tests and benchmarks only: a crash can lose
// the last records).
func WithoutSync() Option { return func(j *Journal) { j.sync = false } }

// WithSyncFunc replaces the fsync of the journal's files with sync (tests:
// count the fsyncs, or inject a failure the disk cannot be made to
// produce). sync must make f durable or return an error.
func WithSyncFunc(sync func(f *os.File) error) Option {
	return func(j *Journal) { j.syncFile = sync }
}

// DefaultMaxSize is the size at which the active file is rotated unless
// WithMaxSize says otherwise.
const DefaultMaxSize = 64 << 20

// WithMaxSize rotates the active file once it reaches n bytes (see
// docs/journal.md, "Rotation"); n <= 0 never rotates.
func WithMaxSize(n int64) Option { return func(j *Journal) { j.maxSize = max(n, 0) } }

// Open opens the journal at path for appending, creating it (mode 0600,
// parent directory 0700) if needed, and reads its tail — or, when it is
// empty, the tail of the last rotated file — to continue the chain.
func Open(path string, opts ...Option) (*Journal, error) {
	j := &Journal{path: path, now: time.Now, sync: true, head: Genesis, maxSize: DefaultMaxSize, syncFile: (*os.File).Sync}
	j.committed = sync.NewCond(&j.commitMu)
	j.refusals = newRefusals(j, DefaultRefusalWindow, DefaultMaxRefusalOrigins)
	for _, o := range opts {
		o(j)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	rotated, err := RotatedFiles(path)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j.rotated = rotated
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open journal: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, fmt.Errorf("open journal: restrict mode: %w", err)
		}
	}
	j.f = f
	j.size = fi.Size()
	if j.size > 0 {
		err = j.readTail(f, j.size)
	} else if n := len(rotated); n > 0 {
		// A crash between rotating and writing the new file's first
		// record: the chain continues from the last rotated file.
		err = j.readTailOf(rotated[n-1])
		j.needNL = false
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	return j, nil
}

func (j *Journal) readTailOf(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read tail: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read tail: %w", err)
	}
	if fi.Size() == 0 {
		return fmt.Errorf("%w: rotated file %s is empty", ErrCorrupt, filepath.Base(path))
	}
	return j.readTail(f, fi.Size())
}

// readTail finds the record with the highest seq among the parseable
// records in the last tailWindow bytes of f (normally the last line; after a
// tampered tail, continuing from the highest seq keeps the new records in
// sequence and leaves the damage where it is).
func (j *Journal) readTail(f *os.File, size int64) error {
	const tailWindow = 4 * MaxLine
	off := size - tailWindow
	if off < 0 {
		off = 0
	}
	buf := make([]byte, size-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read tail: %w", err)
	}
	j.needNL = buf[len(buf)-1] != '\n'
	lines := bytes.Split(buf, []byte{'\n'})
	if off > 0 {
		lines = lines[1:] // the first piece may be the end of a longer line
	}
	found := false
	for _, line := range lines {
		if len(line) == 0 || len(line) > MaxLine {
			continue
		}
		r, err := parseLine(line)
		if err != nil {
			continue
		}
		if !found || r.Seq > j.seq {
			j.seq, j.head, found = r.Seq, r.Hash, true
		}
	}
	if !found {
		return fmt.Errorf("%w: no parseable record in the last %d bytes", ErrCorrupt, len(buf))
	}
	return nil
}

// Path returns the journal's file name.
func (j *Journal) Path() string { return j.path }

// Head returns the sequence number and hash of the last record (0 and
// Genesis for an empty journal).
func (j *Journal) Head() (uint64, string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.seq, j.head
}

// Append adds r to the journal and returns it as written, with Seq, Time,
// PrevHash and Hash set. Strings are cleaned and bounded (see Record).
// Append returns when the record is on disk.
func (j *Journal) Append(ctx context.Context, r Record) (Record, error) {
	return j.append(ctx, r, true)
}

func (j *Journal) append(ctx context.Context, r Record, wait bool) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, fmt.Errorf("journal append: %w", err)
	}
	if r.Op == "" {
		return Record{}, fmt.Errorf("journal append: record without op")
	}
	if r.Time.IsZero() {
		r.Time = j.now()
	}
	// Refusals of this origin counted so far go first, so the journal
	// keeps each origin's events in order.
	j.refusals.flushFor(&r)
	r.normalize()
	return j.appendRecord(r, wait)
}

// appendRecord writes the normalised r and, when wait, waits for the
// disk.
func (j *Journal) appendRecord(r Record, wait bool) (Record, error) {
	j.mu.Lock()
	r, err := j.writeLocked(r)
	if err != nil {
		j.mu.Unlock()
		return Record{}, err
	}
	mine := j.written
	rotate := j.maxSize > 0 && j.size >= j.maxSize
	j.mu.Unlock()

	if rotate {
		// A failed rotation leaves the active file in place; the next
		// append tries again. The record itself is written. An append
		// that does not wait for the disk does not wait for the
		// rotation's fsync either.
		if wait {
			_ = j.rotate()
		} else {
			go j.rotate()
		}
	}
	if j.sync && wait {
		if err := j.syncUpTo(mine); err != nil {
			return Record{}, err
		}
	}
	return r, nil
}

// writeLocked assigns r its place in the chain and writes it to the
// active file; j.mu is held.
func (j *Journal) writeLocked(r Record) (Record, error) {
	if j.f == nil {
		return Record{}, fmt.Errorf("journal append: %w", ErrClosed)
	}
	if j.err != nil {
		return Record{}, fmt.Errorf("journal append: earlier failure: %w", j.err)
	}
	if j.seq >= MaxSeq {
		return Record{}, fmt.Errorf("journal append: sequence exhausted at %d", j.seq)
	}
	r.Seq = j.seq + 1
	r.PrevHash = j.head
	r.Hash = r.ComputeHash()
	line, err := marshalLine(&r, j.needNL)
	if err != nil {
		return Record{}, err
	}
	n, err := j.f.Write(line)
	j.size += int64(n)
	if err != nil {
		// Part of the line may be in the file: the next append starts
		// on a fresh line and the chain continues from the last good
		// record. Verify will show the partial line.
		j.needNL = n > 0
		return Record{}, fmt.Errorf("journal append: write %s: %w", j.path, err)
	}
	j.needNL = false
	j.seq, j.head = r.Seq, r.Hash
	j.written++
	return r, nil
}

// AppendLazy is Append without waiting for the disk: it returns once the
// record is written to the file (in the chain, in order), and the record
// becomes durable with the next Append that waits — whose fsync covers
// every line written before it — or with Close. It is for a record that
// leads to nothing on its own (a decision whose effect is another
// operation that is journaled with Append): whatever that effect was, its
// own record's durability implies this one's. A crash before then may
// lose the record, never reorder it.
func (j *Journal) AppendLazy(ctx context.Context, r Record) (Record, error) {
	return j.append(ctx, r, false)
}

func marshalLine(r *Record, leadingNL bool) ([]byte, error) {
	var b bytes.Buffer
	if leadingNL {
		b.WriteByte('\n')
	}
	enc := newEncoder(&b)
	if err := enc.Encode(r); err != nil { // Encode appends '\n'
		return nil, fmt.Errorf("journal append: encode: %w", err)
	}
	if b.Len() > MaxLine {
		// normalize bounds every field so this cannot happen
		return nil, fmt.Errorf("journal append: record of %d bytes exceeds %d", b.Len(), MaxLine)
	}
	return b.Bytes(), nil
}

// syncUpTo returns once line number mine is on disk (group commit): the
// first appender to find no fsync running becomes the batch's writer and
// fsyncs every line written so far; the others wait, and all whose lines
// that fsync covered are released together when it ends. A failed fsync
// is sticky (j.err) and fails every waiter it was to cover, and every
// later one. A lone appender pays exactly one fsync.
func (j *Journal) syncUpTo(mine int64) error {
	j.commitMu.Lock()
	defer j.commitMu.Unlock()
	for {
		if j.synced >= mine {
			return nil
		}
		if err := j.stuck(); err != nil {
			return fmt.Errorf("journal append: earlier failure: %w", err)
		}
		if j.syncing {
			j.committed.Wait()
			continue
		}
		j.syncing = true
		j.commitMu.Unlock()
		target, err := j.syncBatch()
		j.commitMu.Lock()
		j.syncing = false
		if err == nil {
			j.synced = max(j.synced, target)
		}
		j.committed.Broadcast()
		if err != nil {
			return err
		}
	}
}

// stuck returns the sticky write or fsync error; j.commitMu may be held.
func (j *Journal) stuck() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// syncBatch fsyncs the active file and returns the number of lines then
// on disk. It holds syncMu, so no rotation runs meanwhile: lines of files
// rotated before were made durable by their rotation.
func (j *Journal) syncBatch() (int64, error) {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	target, f, stuck := j.written, j.f, j.err
	j.mu.Unlock()
	if stuck != nil {
		return 0, fmt.Errorf("journal append: earlier failure: %w", stuck)
	}
	if f == nil {
		return 0, fmt.Errorf("journal append: %w", ErrClosed)
	}
	if err := j.syncFile(f); err != nil {
		j.mu.Lock()
		if j.err == nil {
			j.err = err
		}
		j.mu.Unlock()
		return 0, fmt.Errorf("journal append: fsync %s: %w", j.path, err)
	}
	return target, nil
}

// Close writes the refusals still being counted (AppendRefusal), makes
// everything durable and closes the file. Appends after Close fail with
// ErrClosed.
func (j *Journal) Close() error {
	j.refusals.close()
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	if j.f == nil {
		j.mu.Unlock()
		return nil
	}
	var err error
	if j.sync && j.err == nil {
		err = j.syncFile(j.f)
	}
	durable := err == nil && j.err == nil
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	j.f = nil
	written := j.written
	j.mu.Unlock()
	if durable {
		// Appenders still waiting for their batch: Close's fsync covered it.
		j.commitMu.Lock()
		j.synced = max(j.synced, written)
		j.committed.Broadcast()
		j.commitMu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("close journal: %w", err)
	}
	return nil
}

// Verify checks the journal as it is now — its rotated files and the
// active file (records appended while it runs are not included) — and
// the anchors if any (see VerifyFile).
func (j *Journal) Verify(anchors ...Anchor) (Report, error) {
	files, closeAll, err := j.snapshotFiles()
	if err != nil {
		return Report{}, fmt.Errorf("verify journal: %w", err)
	}
	defer closeAll()
	return verifyFiles(files, anchors)
}

// List returns the records matching filter from every file of the
// journal, oldest first (see ReadFile).
func (j *Journal) List(filter Filter) ([]Record, error) {
	files, closeAll, err := j.snapshotFiles()
	if err != nil {
		return nil, fmt.Errorf("list journal: %w", err)
	}
	defer closeAll()
	return listFiles(files, filter)
}

// FileName is the journal's name in the data directory.
const FileName = "journal.jsonl"

// PathIn returns the journal's path in dataDir.
func PathIn(dataDir string) string { return filepath.Join(dataDir, FileName) }
