package journal

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

func newEncoder(w io.Writer) *json.Encoder { return json.NewEncoder(w) }

// ProblemKind classifies what Verify found.
type ProblemKind string

// Problem kinds.
const (
	Malformed    ProblemKind = "malformed"    // not a valid record (garbage, partial write, unknown field)
	TooLong      ProblemKind = "too-long"     // line longer than MaxLine
	Truncated    ProblemKind = "truncated"    // last line has no newline
	Edited       ProblemKind = "edited"       // content does not match its own hash
	Removed      ProblemKind = "removed"      // sequence gap
	Reordered    ProblemKind = "reordered"    // sequence goes backwards
	Inserted     ProblemKind = "inserted"     // sequence number repeated
	ChainBroken  ProblemKind = "chain-broken" // prev_hash does not match the previous record's hash
	BadFirstLink ProblemKind = "bad-genesis"  // first record does not chain from Genesis
	EmptyLine    ProblemKind = "empty-line"   // a blank line (never written by Append)
	Rewritten    ProblemKind = "rewritten"    // the record at an anchored seq has another hash
	CutOff       ProblemKind = "cut-off"      // an anchored seq is not in the journal
)

// Anchor is a head noted earlier (Report.HeadSeq and HeadHash, or
// Journal.Head): the record with sequence number Seq must still be there
// with hash Hash. A hash chain alone cannot detect a tail rewritten with
// recomputed hashes, or records cut off its end; an anchor kept outside
// the journal can.
type Anchor struct {
	Seq  uint64
	Hash string
}

// ParseAnchor parses "SEQ:HASH" as printed by `signet journal verify`.
func ParseAnchor(s string) (Anchor, error) {
	seqStr, hash, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseUint(seqStr, 10, 64)
	hash = strings.ToLower(hash)
	if !ok || err != nil || seq == 0 || !isHex(hash, 64) {
		return Anchor{}, fmt.Errorf("anchor %q: want SEQ:HASH (a sequence number and 64 hex digits)", clip(s, 100))
	}
	return Anchor{Seq: seq, Hash: hash}, nil
}

func (a Anchor) String() string { return fmt.Sprintf("%d:%s", a.Seq, a.Hash) }

// Problem is one break in the journal.
type Problem struct {
	// File is the file of the journal the line is in; set when a
	// journal's files are verified together (VerifyFile), empty for
	// Verify.
	File   string      `json:"file,omitempty"`
	Line   int         `json:"line"`          // 1-based line number in the file
	Seq    uint64      `json:"seq,omitempty"` // the record's seq, when the line parsed
	Kind   ProblemKind `json:"kind"`
	Detail string      `json:"detail"`
}

func (p Problem) String() string {
	where := fmt.Sprintf("line %d", p.Line)
	if p.File != "" {
		where = filepath.Base(p.File) + " line " + strconv.Itoa(p.Line)
	}
	if p.Seq != 0 {
		return fmt.Sprintf("%s (seq %d): %s: %s", where, p.Seq, p.Kind, p.Detail)
	}
	return fmt.Sprintf("%s: %s: %s", where, p.Kind, p.Detail)
}

// maxProblems bounds the report; the total is still counted.
const maxProblems = 100

// Report is the result of Verify.
type Report struct {
	// Files are the files verified, in chain order (VerifyFile: the
	// rotated files, oldest first, then the active file).
	Files    []string  `json:"files,omitempty"`
	Lines    int       `json:"lines"`     // lines read, in all files
	Records  int       `json:"records"`   // lines that parsed as records
	HeadSeq  uint64    `json:"head_seq"`  // seq of the last parsed record
	HeadHash string    `json:"head_hash"` // hash of the last parsed record (Genesis if none)
	Problems []Problem `json:"problems,omitempty"`
	// ProblemCount counts all problems, including those beyond the
	// first maxProblems listed in Problems.
	ProblemCount int `json:"problem_count"`
}

// OK reports whether the journal verified without a problem.
func (r Report) OK() bool { return r.ProblemCount == 0 }

// First returns the first problem.
func (r Report) First() (Problem, bool) {
	if len(r.Problems) == 0 {
		return Problem{}, false
	}
	return r.Problems[0], true
}

func (r *Report) add(p Problem) {
	r.ProblemCount++
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, p)
	}
}

// lineReader yields "\n"-terminated lines of at most MaxLine bytes.
type lineReader struct {
	br   *bufio.Reader
	line int
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next line without its newline; tooLong reports a line
// over MaxLine (its content is discarded); hasNL is false for a last line
// that has no newline. It returns io.EOF at the end.
func (lr *lineReader) next(buf []byte) (line []byte, tooLong, hasNL bool, err error) {
	line = buf[:0]
	for {
		chunk, err := lr.br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > MaxLine+1 {
				tooLong, line = true, line[:0]
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case err == nil:
			lr.line++
			return line[:len(line)-min(1, len(line))], tooLong, true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(line) == 0 && !tooLong {
				return nil, false, false, io.EOF
			}
			lr.line++
			return line, tooLong, false, nil
		default:
			return nil, false, false, err
		}
	}
}

// Verify reads a journal from r and checks every record and link, and
// that the first record in sequence with each anchor's Seq has the
// anchor's Hash. The error is for read failures only; what is wrong with
// the journal is in the Report.
func Verify(r io.Reader, anchors ...Anchor) (Report, error) {
	v := newVerifier(anchors)
	if err := v.file("", r); err != nil {
		return v.rep, err
	}
	v.finish()
	return v.rep, nil
}

// verifier checks one chain, possibly spread over several files read
// one after the other.
type verifier struct {
	rep      Report
	pending  map[uint64]string // anchors not yet met
	buf      []byte
	prev     *Record // the record the next one should follow
	prevLine int
	prevFile string
	bad      int // unreadable lines since prev
	lastFile string
	lastLine int
}

func newVerifier(anchors []Anchor) *verifier {
	v := &verifier{rep: Report{HeadHash: Genesis}, pending: map[uint64]string{}, buf: make([]byte, 0, 4096)}
	for _, a := range anchors {
		v.pending[a.Seq] = a.Hash
	}
	return v
}

// where names the line of the previous record for a detail.
func (v *verifier) where(file string) string {
	if v.prevFile != file {
		return fmt.Sprintf("line %d of %s", v.prevLine, v.prevFile)
	}
	return fmt.Sprintf("line %d", v.prevLine)
}

// file reads the lines of one file (named name in problems; "" for a
// journal that is one stream).
func (v *verifier) file(name string, r io.Reader) error {
	rep := &v.rep
	add := func(p Problem) { p.File = name; rep.add(p) }
	lr := newLineReader(r)
	for {
		line, tooLong, hasNL, err := lr.next(v.buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("verify journal: read: %w", err)
		}
		v.buf = line[:0]
		n := lr.line
		rep.Lines++
		v.lastFile, v.lastLine = name, n
		if tooLong {
			add(Problem{Line: n, Kind: TooLong, Detail: fmt.Sprintf("line longer than %d bytes", MaxLine)})
			v.bad++
			continue
		}
		if len(line) == 0 {
			add(Problem{Line: n, Kind: EmptyLine, Detail: "blank line"})
			v.bad++
			continue
		}
		rec, perr := parseLine(line)
		if !hasNL {
			detail := "last line has no newline: the file was truncated or a write was cut short"
			if perr != nil {
				detail += " (" + perr.Error() + ")"
			}
			add(Problem{Line: n, Seq: rec.Seq, Kind: Truncated, Detail: detail})
			if perr != nil {
				v.bad++
				continue
			}
		} else if perr != nil {
			add(Problem{Line: n, Kind: Malformed, Detail: perr.Error()})
			v.bad++
			continue
		}
		rep.Records++
		if got := rec.ComputeHash(); got != rec.Hash {
			add(Problem{Line: n, Seq: rec.Seq, Kind: Edited,
				Detail: "the record's content does not match its hash: it was edited after it was written"})
		}
		prev := v.prev
		switch {
		case prev == nil && rec.Seq == 1:
			if rec.PrevHash != Genesis {
				add(Problem{Line: n, Seq: rec.Seq, Kind: BadFirstLink,
					Detail: "the first record's prev_hash is not the genesis value: records before it were removed or it was forged"})
			}
		case prev == nil:
			detail := fmt.Sprintf("the first record has seq %d: %s removed from the start", rec.Seq, span(1, rec.Seq-1))
			if v.bad > 0 {
				detail += fmt.Sprintf(", or damaged: %d unreadable line(s) come before it", v.bad)
			}
			add(Problem{Line: n, Seq: rec.Seq, Kind: Removed, Detail: detail})
		case rec.Seq == prev.Seq+1:
			if rec.PrevHash != prev.Hash {
				add(Problem{Line: n, Seq: rec.Seq, Kind: ChainBroken,
					Detail: fmt.Sprintf("prev_hash does not match the hash of seq %d on %s: that record was replaced, or this one forged", prev.Seq, v.where(name))})
			}
		case rec.Seq > prev.Seq+1:
			detail := fmt.Sprintf("expected seq %d after seq %d on %s: %s removed or moved", prev.Seq+1, prev.Seq, v.where(name), span(prev.Seq+1, rec.Seq-1))
			if v.bad > 0 {
				detail += fmt.Sprintf(", or damaged: %d unreadable line(s) lie between", v.bad)
			}
			add(Problem{Line: n, Seq: rec.Seq, Kind: Removed, Detail: detail})
		case rec.Seq == prev.Seq:
			add(Problem{Line: n, Seq: rec.Seq, Kind: Inserted,
				Detail: fmt.Sprintf("seq %d already appeared on %s: a record was inserted", rec.Seq, v.where(name))})
		default: // rec.Seq < prev.Seq
			add(Problem{Line: n, Seq: rec.Seq, Kind: Reordered,
				Detail: fmt.Sprintf("seq %d comes after seq %d on %s: records (or files) were reordered or inserted", rec.Seq, prev.Seq, v.where(name))})
			continue // keep following the highest sequence seen
		}
		if want, ok := v.pending[rec.Seq]; ok {
			delete(v.pending, rec.Seq)
			if rec.Hash != want {
				add(Problem{Line: n, Seq: rec.Seq, Kind: Rewritten,
					Detail: fmt.Sprintf("hash %.16s… differs from the anchored %.16s…: the journal was rewritten up to here", rec.Hash, want)})
			}
		}
		r := rec
		v.prev, v.prevLine, v.prevFile, v.bad = &r, n, name, 0
		rep.HeadSeq, rep.HeadHash = rec.Seq, rec.Hash
	}
}

// finish reports the anchors never met.
func (v *verifier) finish() {
	missing := make([]uint64, 0, len(v.pending))
	for seq := range v.pending {
		missing = append(missing, seq)
	}
	slices.Sort(missing)
	for _, seq := range missing {
		v.rep.add(Problem{File: v.lastFile, Line: v.lastLine, Seq: seq, Kind: CutOff,
			Detail: fmt.Sprintf("the anchored record seq %d is not in the journal (head is seq %d): records were removed from the end", seq, v.rep.HeadSeq)})
	}
}

// verifyFiles verifies files as one chain, in order.
func verifyFiles(files []namedReader, anchors []Anchor) (Report, error) {
	v := newVerifier(anchors)
	for _, f := range files {
		v.rep.Files = append(v.rep.Files, f.name)
		if err := v.file(f.name, f.r); err != nil {
			return v.rep, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	v.finish()
	return v.rep, nil
}

func span(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("record %d was", from)
	}
	return fmt.Sprintf("records %d to %d were", from, to)
}

// VerifyFile verifies the journal at path, with its rotated files (see
// Files), as one chain, without opening it for writing: a rotated file
// removed, edited, or put in another file's place breaks the chain where
// it was. It fails with an error matching fs.ErrNotExist when there is no
// journal at path.
func VerifyFile(path string, anchors ...Anchor) (Report, error) {
	files, closeAll, err := openFiles(path)
	if err != nil {
		return Report{}, fmt.Errorf("verify journal: %w", err)
	}
	defer closeAll()
	return verifyFiles(files, anchors)
}

// Filter selects records for List. Zero fields match everything.
type Filter struct {
	Since, Until time.Time // Time in [Since, Until)
	Plugin       string
	Origin       string // matches Origin or Caller
	Op           Op
	KeyURI       string
	// Last keeps only the last N matching records (0: all).
	Last int
}

func (f Filter) match(r *Record) bool {
	return (f.Since.IsZero() || !r.Time.Before(f.Since)) &&
		(f.Until.IsZero() || r.Time.Before(f.Until)) &&
		(f.Plugin == "" || r.Plugin == f.Plugin) &&
		(f.Origin == "" || r.Origin == f.Origin || r.Caller == f.Origin) &&
		(f.Op == "" || r.Op == f.Op) &&
		(f.KeyURI == "" || strings.EqualFold(r.KeyURI, f.KeyURI))
}

// List reads a journal from r and returns the records matching filter, in
// file order. Lines that are not records are skipped: List shows what is
// there, Verify says whether it can be trusted.
func List(r io.Reader, filter Filter) ([]Record, error) {
	out, err := listInto(nil, r, filter)
	return trimLast(out, filter), err
}

// listInto appends the records of r matching filter to out, keeping at
// most about 2*filter.Last of them.
func listInto(out []Record, r io.Reader, filter Filter) ([]Record, error) {
	lr := newLineReader(r)
	buf := make([]byte, 0, 4096)
	for {
		line, tooLong, _, err := lr.next(buf)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("list journal: read: %w", err)
		}
		buf = line[:0]
		if tooLong || len(line) == 0 {
			continue
		}
		rec, err := parseLine(line)
		if err != nil || !filter.match(&rec) {
			continue
		}
		out = append(out, rec)
		if filter.Last > 0 && len(out) > 2*filter.Last {
			out = append(out[:0], out[len(out)-filter.Last:]...)
		}
	}
}

func trimLast(out []Record, filter Filter) []Record {
	if filter.Last > 0 && len(out) > filter.Last {
		out = out[len(out)-filter.Last:]
	}
	return out
}

func listFiles(files []namedReader, filter Filter) ([]Record, error) {
	if filter.Last > 0 {
		// The last records are in the newest files: read back from the
		// end only as far as needed.
		var out []Record
		for i := len(files) - 1; i >= 0 && len(out) < filter.Last; i-- {
			recs, err := listInto(nil, files[i].r, filter)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", files[i].name, err)
			}
			out = append(trimLast(recs, filter), out...)
		}
		return trimLast(out, filter), nil
	}
	var out []Record
	for _, f := range files {
		var err error
		if out, err = listInto(out, f.r, filter); err != nil {
			return trimLast(out, filter), fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return trimLast(out, filter), nil
}

// ReadFile lists the journal at path, with its rotated files (oldest
// first), without opening it for writing. It fails with an error matching
// fs.ErrNotExist when there is no journal at path.
func ReadFile(path string, filter Filter) ([]Record, error) {
	files, closeAll, err := openFiles(path)
	if err != nil {
		return nil, fmt.Errorf("list journal: %w", err)
	}
	defer closeAll()
	return listFiles(files, filter)
}
