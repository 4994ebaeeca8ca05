package journal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-agent/signet/hsm"
)

// stepClock returns a clock that advances one second per call.
func stepClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func sampleRecord(i int) Record {
	sum := sha256.Sum256([]byte(fmt.Sprint("doc", i)))
	r := Record{
		Plugin:     fmt.Sprintf("p%d", i),
		Origin:     "https://portal.example",
		RequestID:  fmt.Sprintf("req-%d", i),
		Op:         OpSign,
		Summary:    "Invoice <b>42</b>",
		KeyURI:     "pkcs11:token=Signet%20Test;object=key1;type=private",
		CertSerial: "0a1b2c",
		Documents:  []Document{{Name: fmt.Sprintf("invoice-%d.pdf", i), Size: int64(1000 + i), SHA256: DocumentDigest(sum[:])}},
		Decision:   DecisionAllowed,
		DecidedBy:  ByUser,
	}
	r.SetOutcome(nil)
	return r
}

func openTemp(t testing.TB, opts ...Option) (*Journal, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "signet", "journal.jsonl")
	j, err := Open(path, append([]Option{WithClock(stepClock())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j, path
}

func appendN(t testing.TB, j *Journal, from, n int) []Record {
	t.Helper()
	var out []Record
	for i := from; i < from+n; i++ {
		r, err := j.Append(context.Background(), sampleRecord(i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func mustVerifyOK(t *testing.T, path string, records int) Report {
	t.Helper()
	rep, err := VerifyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("verify: %v", rep.Problems)
	}
	if rep.Records != records || rep.HeadSeq != uint64(records) {
		t.Fatalf("verify: %d records, head seq %d; want %d", rep.Records, rep.HeadSeq, records)
	}
	return rep
}

func TestAppendVerifyList(t *testing.T) {
	j, path := openTemp(t)
	written := appendN(t, j, 1, 5)
	for i, r := range written {
		if r.Seq != uint64(i+1) {
			t.Errorf("record %d: seq %d", i, r.Seq)
		}
		want := Genesis
		if i > 0 {
			want = written[i-1].Hash
		}
		if r.PrevHash != want || r.Hash != r.ComputeHash() {
			t.Errorf("record %d: bad links", i)
		}
	}
	rep := mustVerifyOK(t, path, 5)
	if seq, head := j.Head(); seq != 5 || head != rep.HeadHash || head != written[4].Hash {
		t.Errorf("head %d %s, report %s", seq, head, rep.HeadHash)
	}
	if rep2, err := j.Verify(); err != nil || !rep2.OK() || rep2.Records != 5 {
		t.Errorf("Journal.Verify: %+v %v", rep2, err)
	}
	got, err := j.List(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, written) {
		t.Errorf("List differs from what Append returned:\n%+v\n%+v", got, written)
	}
}

func TestFileModes(t *testing.T) {
	_, path := openTemp(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v", fi.Mode())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", di.Mode())
	}
}

func TestOpenRestrictsLooseMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after Open", fi.Mode())
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	j, path := openTemp(t)
	_ = j
	_, err := Open(path)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	j.Close()
	j2, err := Open(path)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	j2.Close()
}

// AppendLazy writes its record in the chain, in order, without an fsync;
// the next Append's fsync covers it (and Close's).
func TestAppendLazy(t *testing.T) {
	j, path := openTemp(t)
	ctx := context.Background()
	var written []Record
	for i, lazy := range []bool{true, false, true, true, false} {
		rec := sampleRecord(i + 1)
		var r Record
		var err error
		if lazy {
			r, err = j.AppendLazy(ctx, rec)
		} else {
			r, err = j.Append(ctx, rec)
		}
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, r)
		j.syncMu.Lock()
		synced := j.synced
		j.syncMu.Unlock()
		switch {
		case lazy && synced >= int64(len(written)):
			t.Errorf("record %d: lazy append waited for fsync (synced %d)", i+1, synced)
		case !lazy && synced < int64(len(written)):
			t.Errorf("record %d: Append returned with %d of %d lines synced", i+1, synced, len(written))
		}
	}
	got, err := j.List(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, written) {
		t.Errorf("List differs from what was appended:\n%+v\n%+v", got, written)
	}
	mustVerifyOK(t, path, len(written))
	j.Close()
	if _, err := j.AppendLazy(ctx, sampleRecord(9)); !errors.Is(err, ErrClosed) {
		t.Fatalf("AppendLazy after Close: %v", err)
	}
}

func TestAppendAfterClose(t *testing.T) {
	j, _ := openTemp(t)
	j.Close()
	if _, err := j.Append(context.Background(), sampleRecord(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v", err)
	}
}

func TestAppendRejects(t *testing.T) {
	j, _ := openTemp(t)
	if _, err := j.Append(context.Background(), Record{}); err == nil {
		t.Error("record without op accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := j.Append(ctx, sampleRecord(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
	if seq, _ := j.Head(); seq != 0 {
		t.Errorf("rejected records advanced the chain to %d", seq)
	}
}

func TestConcurrentAppend(t *testing.T) {
	j, path := openTemp(t)
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := j.Append(context.Background(), sampleRecord(i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mustVerifyOK(t, path, n)
	recs, err := ReadFile(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.RequestID] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct requests recorded, want %d", len(seen), n)
	}
}

func TestReopenContinuesChain(t *testing.T) {
	j, path := openTemp(t)
	first := appendN(t, j, 1, 3)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j2, err := Open(path, WithClock(stepClock()))
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if seq, head := j2.Head(); seq != 3 || head != first[2].Hash {
		t.Fatalf("reopened head %d %s", seq, head)
	}
	more := appendN(t, j2, 4, 2)
	if more[0].Seq != 4 || more[0].PrevHash != first[2].Hash {
		t.Errorf("continued record: seq %d prev %s", more[0].Seq, more[0].PrevHash)
	}
	mustVerifyOK(t, path, 5)
}

// A crash in the middle of a write leaves a partial last line. Reopening
// keeps it (as evidence), starts on a fresh line and continues the chain
// from the last whole record; Verify reports only the partial line.
func TestReopenAfterPartialWrite(t *testing.T) {
	j, path := openTemp(t)
	appendN(t, j, 1, 3)
	j.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":4,"time":"2026-11-23T10:00:0`)
	f.Close()

	j2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	r, err := j2.Append(context.Background(), sampleRecord(4))
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 4 {
		t.Errorf("seq %d after partial write, want 4", r.Seq)
	}
	rep, err := VerifyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ProblemCount != 1 || rep.Problems[0].Line != 4 || rep.Problems[0].Kind != Malformed {
		t.Fatalf("problems: %v", rep.Problems)
	}
	if rep.HeadSeq != 4 || rep.Records != 4 {
		t.Errorf("head %d records %d", rep.HeadSeq, rep.Records)
	}
}

func TestOpenCorruptTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	if err := os.WriteFile(path, []byte("not a journal\nat all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
}

func TestNormalizeSurvivesRoundTrip(t *testing.T) {
	j, path := openTemp(t)
	r := sampleRecord(1)
	r.Plugin = "bad\xffutf8"
	r.Summary = strings.Repeat("ж", 5000) // longer than maxText, multi-byte
	r.Origin = "https://a.example\x1b[31m"
	r.Documents = nil
	for i := range MaxDocuments + 5 {
		r.Documents = append(r.Documents, Document{Name: strings.Repeat("n", 600), Size: int64(i), SHA256: "NOT-HEX"})
	}
	r.Time = time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	got, err := j.Append(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if got.DocumentsOmitted != 5 || len(got.Documents) != MaxDocuments {
		t.Errorf("documents %d omitted %d", len(got.Documents), got.DocumentsOmitted)
	}
	if len(got.Summary) > maxText || !strings.HasSuffix(got.Summary, "…") {
		t.Errorf("summary not clipped: %d bytes", len(got.Summary))
	}
	if got.Documents[0].SHA256 != "" {
		t.Errorf("invalid digest kept: %q", got.Documents[0].SHA256)
	}
	if got.Time.Location() != time.UTC {
		t.Errorf("time not UTC: %v", got.Time)
	}
	mustVerifyOK(t, path, 1)
	recs, _ := ReadFile(path, Filter{})
	if !reflect.DeepEqual(recs[0], got) {
		t.Error("record read back differs from record written")
	}
}

// Records must never carry a secret: there is no field that could.
func TestNoSecretFields(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeOf(Record{}), reflect.TypeOf(Document{})} {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := strings.ToLower(f.Name + " " + f.Tag.Get("json"))
			for _, bad := range []string{"pin", "pass", "secret", "key_material", "content", "data"} {
				if strings.Contains(name, bad) {
					t.Errorf("%s.%s looks like a secret-bearing field", typ.Name(), f.Name)
				}
			}
		}
	}
}

func TestErrorKind(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("sign: %w", hsm.ErrPINIncorrect), "pin-incorrect"},
		{&hsm.PINError{Token: "t", Err: hsm.ErrPINLocked}, "pin-locked"},
		{fmt.Errorf("consent: %w", hsm.ErrDenied), "denied"},
		{hsm.ErrTimeout, "timeout"},
		{context.Canceled, "cancelled"},
		{context.DeadlineExceeded, "timeout"},
		{errors.New("boom"), "error"},
	}
	for _, c := range cases {
		if got := ErrorKind(c.err); got != c.want {
			t.Errorf("ErrorKind(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	var r Record
	r.SetOutcome(fmt.Errorf("sign with key1: %w", hsm.ErrKeyNotFound))
	if r.Result != ResultError || r.ErrorKind != "key-not-found" || !strings.Contains(r.Error, "key1") {
		t.Errorf("SetOutcome: %+v", r)
	}
}

func TestListFilter(t *testing.T) {
	j, path := openTemp(t)
	for i := 1; i <= 6; i++ {
		r := sampleRecord(i)
		if i%2 == 0 {
			r.Op = OpDecrypt
			r.Origin = ""
			r.Caller = "cli"
		}
		if _, err := j.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := ReadFile(path, Filter{})
	cases := []struct {
		name string
		f    Filter
		want []uint64
	}{
		{"all", Filter{}, []uint64{1, 2, 3, 4, 5, 6}},
		{"op", Filter{Op: OpDecrypt}, []uint64{2, 4, 6}},
		{"caller", Filter{Origin: "cli"}, []uint64{2, 4, 6}},
		{"plugin", Filter{Plugin: "p3"}, []uint64{3}},
		{"last", Filter{Last: 2}, []uint64{5, 6}},
		{"last of op", Filter{Op: OpSign, Last: 2}, []uint64{3, 5}},
		{"since", Filter{Since: all[3].Time}, []uint64{4, 5, 6}},
		{"until", Filter{Until: all[1].Time}, []uint64{1}},
	}
	for _, c := range cases {
		got, err := ReadFile(path, c.f)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		for _, r := range got {
			seqs = append(seqs, r.Seq)
		}
		if !reflect.DeepEqual(seqs, c.want) {
			t.Errorf("%s: %v, want %v", c.name, seqs, c.want)
		}
	}
}

// rehash re-encodes a line after changing it with edit, recomputing its
// hash as a careful forger would.
func rehash(t *testing.T, line []byte, edit func(*Record)) []byte {
	t.Helper()
	r, err := parseLine(line)
	if err != nil {
		t.Fatal(err)
	}
	edit(&r)
	r.Hash = r.ComputeHash()
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTamperDetected(t *testing.T) {
	type want struct {
		line int
		seq  uint64
		kind ProblemKind
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, lines [][]byte) []byte // lines without newlines
		want   []want
	}{
		{"edit a field", func(t *testing.T, l [][]byte) []byte {
			l[2] = bytes.Replace(l[2], []byte(`"plugin":"p3"`), []byte(`"plugin":"px"`), 1)
			return join(l)
		}, []want{{3, 3, Edited}}},
		{"edit the decision", func(t *testing.T, l [][]byte) []byte {
			l[3] = bytes.Replace(l[3], []byte(`"decision":"allowed"`), []byte(`"decision":"denied"`), 1)
			return join(l)
		}, []want{{4, 4, Edited}}},
		{"edit the time", func(t *testing.T, l [][]byte) []byte {
			l[1] = bytes.Replace(l[1], []byte(`T10:00:02Z`), []byte(`T09:00:02Z`), 1)
			return join(l)
		}, []want{{2, 2, Edited}}},
		{"edit and rehash", func(t *testing.T, l [][]byte) []byte {
			l[2] = rehash(t, l[2], func(r *Record) { r.Origin = "https://evil.example" })
			return join(l)
		}, []want{{4, 4, ChainBroken}}},
		{"delete a line", func(t *testing.T, l [][]byte) []byte {
			return join(append(l[:2:2], l[3:]...))
		}, []want{{3, 4, Removed}}},
		{"delete the first line", func(t *testing.T, l [][]byte) []byte {
			return join(l[1:])
		}, []want{{1, 2, Removed}}},
		{"delete the last line", func(t *testing.T, l [][]byte) []byte {
			return join(l[:5])
		}, nil}, // undetectable without an anchor: the head moves back (checked below)
		{"swap two lines", func(t *testing.T, l [][]byte) []byte {
			l[2], l[3] = l[3], l[2]
			return join(l)
		}, []want{{3, 4, Removed}, {4, 3, Reordered}}},
		{"move a line to the end", func(t *testing.T, l [][]byte) []byte {
			moved := l[1]
			return join(append(append(l[:1:1], l[2:]...), moved))
		}, []want{{2, 3, Removed}, {6, 2, Reordered}}},
		{"truncate the last line", func(t *testing.T, l [][]byte) []byte {
			b := join(l)
			return b[:len(b)-20]
		}, []want{{6, 0, Truncated}}},
		{"drop the final newline", func(t *testing.T, l [][]byte) []byte {
			b := join(l)
			return b[:len(b)-1]
		}, []want{{6, 6, Truncated}}},
		{"append garbage", func(t *testing.T, l [][]byte) []byte {
			return append(join(l), "garbage\n"...)
		}, []want{{7, 0, Malformed}}},
		{"append garbage without newline", func(t *testing.T, l [][]byte) []byte {
			return append(join(l), "\x00\x01garbage"...)
		}, []want{{7, 0, Truncated}}},
		{"insert a forged record", func(t *testing.T, l [][]byte) []byte {
			forged := rehash(t, l[2], func(r *Record) { r.Plugin = "forged"; r.PrevHash = mustParse(t, l[1]).Hash })
			return join(append(l[:2:2], append([][]byte{forged}, l[2:]...)...))
		}, []want{{4, 3, Inserted}}},
		{"insert a copied record", func(t *testing.T, l [][]byte) []byte {
			return join(append(l[:4:4], append([][]byte{l[1]}, l[4:]...)...))
		}, []want{{5, 2, Reordered}}},
		{"append a forged record without the chain", func(t *testing.T, l [][]byte) []byte {
			forged := rehash(t, l[5], func(r *Record) { r.Seq = 7; r.PrevHash = strings.Repeat("0", 64) })
			return join(append(l, forged))
		}, []want{{7, 7, ChainBroken}}},
		{"add an unknown field", func(t *testing.T, l [][]byte) []byte {
			l[0] = bytes.Replace(l[0], []byte(`{"seq":1,`), []byte(`{"seq":1,"pin":"1234",`), 1)
			return join(l)
		}, []want{{1, 0, Malformed}, {2, 2, Removed}}},
		{"data after a record", func(t *testing.T, l [][]byte) []byte {
			l[1] = append(l[1], "}"...)
			l[2] = append(l[2], ` {"seq":99}`...)
			return join(l)
		}, []want{{2, 0, Malformed}, {3, 0, Malformed}, {4, 4, Removed}}},
		{"blank line", func(t *testing.T, l [][]byte) []byte {
			return join(append(l[:3:3], append([][]byte{{}}, l[3:]...)...))
		}, []want{{4, 0, EmptyLine}}},
		{"overlong line", func(t *testing.T, l [][]byte) []byte {
			return append(join(l), append(bytes.Repeat([]byte("x"), MaxLine+10), '\n')...)
		}, []want{{7, 0, TooLong}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j, path := openTemp(t, WithoutSync())
			appendN(t, j, 1, 6)
			j.Close()
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := bytes.Split(bytes.TrimSuffix(orig, []byte("\n")), []byte("\n"))
			if len(lines) != 6 {
				t.Fatalf("%d lines", len(lines))
			}
			tampered := c.tamper(t, lines)
			if err := os.WriteFile(path, tampered, 0o600); err != nil {
				t.Fatal(err)
			}
			rep, err := VerifyFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			for _, p := range rep.Problems {
				got = append(got, want{p.Line, p.Seq, p.Kind})
				if p.Detail == "" {
					t.Errorf("problem without detail: %v", p)
				}
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("problems:\n got %v\nwant %v\n%v", got, c.want, rep.Problems)
			}
			if c.want == nil && rep.HeadSeq != 5 {
				t.Errorf("head seq %d", rep.HeadSeq)
			}
		})
	}
}

func mustParse(t *testing.T, line []byte) Record {
	r, err := parseLine(line)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func join(lines [][]byte) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// FuzzVerify: Verify and List never panic on arbitrary files, and a journal
// Verify accepts has consecutive sequence numbers from 1.
func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "j.jsonl")
	j, err := Open(path, WithoutSync(), WithClock(stepClock()))
	if err != nil {
		f.Fatal(err)
	}
	appendN(f, j, 1, 3)
	j.Close()
	good, _ := os.ReadFile(path)
	f.Add(good)
	f.Add(good[:len(good)-7])
	f.Add([]byte{})
	f.Add([]byte("\n\n\n"))
	f.Add([]byte(`{"seq":1}` + "\n"))
	f.Add(bytes.Replace(good, []byte(`"seq":2`), []byte(`"seq":9`), 1))
	f.Add([]byte(`{"seq":18446744073709551615,"time":"2026-01-01T00:00:00Z","op":"x","prev_hash":"` + Genesis + `","hash":"` + Genesis + `"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Verify(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() && uint64(rep.Records) != rep.HeadSeq {
			t.Fatalf("verified journal with %d records has head seq %d", rep.Records, rep.HeadSeq)
		}
		if rep.ProblemCount < len(rep.Problems) || len(rep.Problems) > maxProblems {
			t.Fatalf("problem counts %d/%d", rep.ProblemCount, len(rep.Problems))
		}
		recs, err := List(bytes.NewReader(data), Filter{Last: 2})
		if err != nil || len(recs) > 2 {
			t.Fatalf("List: %d records, %v", len(recs), err)
		}
	})
}

// BenchmarkAppend measures Append with and without fsync, serial and with
// concurrent appenders (group commit), against a baseline of writing a
// line of the same size to a plain file with fsync after each write.
func BenchmarkAppend(b *testing.B) {
	line, _ := json.Marshal(sampleRecord(1))
	line = append(line, '\n')
	b.Run("baseline-write+fsync", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		for b.Loop() {
			if _, err := f.Write(line); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-write", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		for b.Loop() {
			if _, err := f.Write(line); err != nil {
				b.Fatal(err)
			}
		}
	})
	run := func(name string, parallel bool, opts ...Option) {
		b.Run(name, func(b *testing.B) {
			j, _ := openTemp(b, opts...)
			rec := sampleRecord(1)
			ctx := context.Background()
			if !parallel {
				for b.Loop() {
					if _, err := j.Append(ctx, rec); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(8) // 8×GOMAXPROCS appenders
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := j.Append(ctx, rec); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
	run("fsync", false)
	// A signature no one was asked about after a rule-settled key choice:
	// one lazy record (the choice) and one durable record (decision and
	// outcome), against the two durable records it took before.
	b.Run("choice-lazy+sign-fsync", func(b *testing.B) {
		j, _ := openTemp(b)
		rec := sampleRecord(1)
		ctx := context.Background()
		for b.Loop() {
			if _, err := j.AppendLazy(ctx, rec); err != nil {
				b.Fatal(err)
			}
			if _, err := j.Append(ctx, rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("choice-fsync+sign-fsync", func(b *testing.B) {
		j, _ := openTemp(b)
		rec := sampleRecord(1)
		ctx := context.Background()
		for b.Loop() {
			for range 2 {
				if _, err := j.Append(ctx, rec); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	run("fsync-parallel", true)
	run("nosync", false, WithoutSync())
	run("nosync-parallel", true, WithoutSync())
}

func TestAnchors(t *testing.T) {
	j, path := openTemp(t, WithoutSync())
	recs := appendN(t, j, 1, 6)
	j.Close()
	head := Anchor{Seq: 6, Hash: recs[5].Hash}
	mid := Anchor{Seq: 3, Hash: recs[2].Hash}

	a, err := ParseAnchor(head.String())
	if err != nil || a != head {
		t.Fatalf("ParseAnchor round trip: %v %v", a, err)
	}
	for _, bad := range []string{"", "6", "x:" + head.Hash, "0:" + head.Hash, "6:abc", "6:" + strings.Repeat("g", 64)} {
		if _, err := ParseAnchor(bad); err == nil {
			t.Errorf("ParseAnchor(%q) accepted", bad)
		}
	}

	rep, err := VerifyFile(path, head, mid)
	if err != nil || !rep.OK() {
		t.Fatalf("intact journal with anchors: %v %v", rep.Problems, err)
	}

	orig, _ := os.ReadFile(path)
	lines := bytes.Split(bytes.TrimSuffix(orig, []byte("\n")), []byte("\n"))

	// Records cut off the end: the chain is fine, the anchor is not.
	os.WriteFile(path, join(lines[:4]), 0o600)
	rep, _ = VerifyFile(path, head, mid)
	if rep.ProblemCount != 1 || rep.Problems[0].Kind != CutOff || rep.Problems[0].Seq != 6 {
		t.Errorf("cut-off tail: %v", rep.Problems)
	}

	// Tail rewritten with recomputed hashes from record 5 on: only the
	// anchor notices.
	l := append([][]byte(nil), lines...)
	l[4] = rehash(t, l[4], func(r *Record) { r.Decision = DecisionDenied })
	l[5] = rehash(t, l[5], func(r *Record) { r.PrevHash = mustParse(t, l[4]).Hash })
	os.WriteFile(path, join(l), 0o600)
	if rep, _ = VerifyFile(path); !rep.OK() {
		t.Fatalf("consistent rewrite should pass without an anchor: %v", rep.Problems)
	}
	rep, _ = VerifyFile(path, head, mid)
	if rep.ProblemCount != 1 || rep.Problems[0].Kind != Rewritten || rep.Problems[0].Line != 6 {
		t.Errorf("rewritten tail: %v", rep.Problems)
	}
}

// After a record was moved to the end, Append continues from the highest
// seq, so the new records verify and only the moved record is reported.
func TestReopenAfterTamperedTail(t *testing.T) {
	j, path := openTemp(t, WithoutSync())
	appendN(t, j, 1, 4)
	j.Close()
	orig, _ := os.ReadFile(path)
	l := bytes.Split(bytes.TrimSuffix(orig, []byte("\n")), []byte("\n"))
	os.WriteFile(path, join([][]byte{l[0], l[2], l[3], l[1]}), 0o600)

	j2, err := Open(path, WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	r, err := j2.Append(context.Background(), sampleRecord(5))
	if err != nil || r.Seq != 5 {
		t.Fatalf("append after tampered tail: seq %d, %v", r.Seq, err)
	}
	rep, _ := VerifyFile(path)
	var kinds []ProblemKind
	for _, p := range rep.Problems {
		kinds = append(kinds, p.Kind)
	}
	if !reflect.DeepEqual(kinds, []ProblemKind{Removed, Reordered}) || rep.HeadSeq != 5 {
		t.Errorf("problems %v head %d", rep.Problems, rep.HeadSeq)
	}
}

func TestSeqBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	r := sampleRecord(1)
	r.Seq, r.Time, r.PrevHash = MaxSeq+1, time.Now().UTC(), Genesis
	r.Hash = r.ComputeHash()
	line, _ := json.Marshal(r)
	os.WriteFile(path, append(line, '\n'), 0o600)
	if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
		t.Errorf("journal with seq beyond MaxSeq: %v", err)
	}
}

// Verify and List while appenders run see a consistent prefix.
func TestVerifyDuringAppends(t *testing.T) {
	j, _ := openTemp(t, WithoutSync())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if _, err := j.Append(context.Background(), sampleRecord(g*100+i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for checks := 0; ; checks++ {
		rep, err := j.Verify()
		if err != nil || !rep.OK() {
			t.Fatalf("verify during appends: %v %v", rep.Problems, err)
		}
		if _, err := j.List(Filter{Last: 3}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
			if rep, _ := j.Verify(); !rep.OK() || rep.Records != 200 {
				t.Fatalf("final: %d records, %v", rep.Records, rep.Problems)
			}
			return
		default:
		}
	}
}

func FuzzParseAnchor(f *testing.F) {
	f.Add("6:" + Genesis)
	f.Add("0:" + Genesis)
	f.Add("18446744073709551616:" + Genesis)
	f.Add(":")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAnchor(s)
		if err != nil {
			return
		}
		b, err := ParseAnchor(a.String())
		if err != nil || a != b || a.Seq == 0 || !isHex(a.Hash, 64) {
			t.Fatalf("%q: %v %v %v", s, a, b, err)
		}
	})
}

// BenchmarkVerify reports Verify throughput over a journal of 10,000
// records, against reading the same file line by line without checking.
func BenchmarkVerify(b *testing.B) {
	j, path := openTemp(b, WithoutSync())
	appendN(b, j, 1, 10000)
	j.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-read-lines", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			lr := newLineReader(bytes.NewReader(data))
			buf := make([]byte, 0, 4096)
			for {
				line, _, _, err := lr.next(buf)
				if err != nil {
					break
				}
				buf = line[:0]
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			rep, err := Verify(bytes.NewReader(data))
			if err != nil || !rep.OK() {
				b.Fatal(rep.Problems, err)
			}
		}
	})
}

// BenchmarkAppendVsFsync interleaves a plain write+fsync of a same-sized
// line with a journal Append (fsync on) and reports their time ratio, so
// that load from other processes affects both sides alike.
func BenchmarkAppendVsFsync(b *testing.B) {
	line, _ := json.Marshal(sampleRecord(1))
	line = append(line, '\n')
	raw, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	j, _ := openTemp(b)
	rec := sampleRecord(1)
	var tRaw, tJournal time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := raw.Write(line); err != nil {
			b.Fatal(err)
		}
		if err := raw.Sync(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := j.Append(context.Background(), rec); err != nil {
			b.Fatal(err)
		}
		tRaw += t1.Sub(t0)
		tJournal += time.Since(t1)
	}
	b.ReportMetric(float64(tJournal)/float64(tRaw), "x-write+fsync")
}
