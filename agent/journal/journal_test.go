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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NoError(t, err)
	t.Cleanup(func() { j.Close() })
	return j, path
}

func appendN(t testing.TB, j *Journal, from, n int) []Record {
	t.Helper()
	var out []Record
	for i := from; i < from+n; i++ {
		r, err := j.Append(context.Background(), sampleRecord(i))
		require.NoError(t, err)
		out = append(out, r)
	}
	return out
}

// requireVerified verifies the journal at path and requires it intact,
// with the given number of records.
func requireVerified(t *testing.T, path string, records int) Report {
	t.Helper()
	rep, err := VerifyFile(path)
	require.NoError(t, err)
	require.True(t, rep.OK(), "verify: %v", rep.Problems)
	require.Equal(t, records, rep.Records, "verify: records")
	require.Equal(t, uint64(records), rep.HeadSeq, "verify: head seq")
	return rep
}

func TestAppendVerifyList(t *testing.T) {
	j, path := openTemp(t)
	written := appendN(t, j, 1, 5)
	for i, r := range written {
		assert.Equal(t, uint64(i+1), r.Seq, "record %d: seq", i)
		want := Genesis
		if i > 0 {
			want = written[i-1].Hash
		}
		assert.Equal(t, want, r.PrevHash, "record %d: bad link", i)
		assert.Equal(t, r.ComputeHash(), r.Hash, "record %d: bad hash", i)
	}
	rep := requireVerified(t, path, 5)
	seq, head := j.Head()
	assert.Equal(t, uint64(5), seq, "head")
	assert.Equal(t, rep.HeadHash, head, "head")
	assert.Equal(t, written[4].Hash, head, "head")
	rep2, err := j.Verify()
	if assert.NoError(t, err, "Journal.Verify") {
		assert.True(t, rep2.OK(), "Journal.Verify: %+v", rep2)
		assert.Equal(t, 5, rep2.Records, "Journal.Verify")
	}
	got, err := j.List(Filter{})
	require.NoError(t, err)
	assert.Equal(t, written, got, "List differs from what Append returned")
}

func TestFileModes(t *testing.T) {
	_, path := openTemp(t)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "file mode")
	di, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm(), "dir mode")
}

func TestOpenRestrictsLooseMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	require.NoError(t, os.WriteFile(path, nil, 0o644))
	j, err := Open(path)
	require.NoError(t, err)
	defer j.Close()
	fi, _ := os.Stat(path)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "mode after Open")
}

func TestSecondOpenIsLocked(t *testing.T) {
	j, path := openTemp(t)
	_ = j
	_, err := Open(path)
	require.ErrorIs(t, err, ErrLocked, "second Open")
	j.Close()
	j2, err := Open(path)
	require.NoError(t, err, "Open after Close")
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
		require.NoError(t, err)
		written = append(written, r)
		j.syncMu.Lock()
		synced := j.synced
		j.syncMu.Unlock()
		if lazy {
			assert.Less(t, synced, int64(len(written)), "record %d: lazy append waited for fsync", i+1)
		} else {
			assert.GreaterOrEqual(t, synced, int64(len(written)), "record %d: Append returned before its line was synced", i+1)
		}
	}
	got, err := j.List(Filter{})
	require.NoError(t, err)
	assert.Equal(t, written, got, "List differs from what was appended")
	requireVerified(t, path, len(written))
	j.Close()
	_, err = j.AppendLazy(ctx, sampleRecord(9))
	require.ErrorIs(t, err, ErrClosed, "AppendLazy after Close")
}

func TestAppendAfterClose(t *testing.T) {
	j, _ := openTemp(t)
	j.Close()
	_, err := j.Append(context.Background(), sampleRecord(1))
	require.ErrorIs(t, err, ErrClosed)
}

func TestAppendRejects(t *testing.T) {
	j, _ := openTemp(t)
	_, err := j.Append(context.Background(), Record{})
	assert.Error(t, err, "record without op accepted")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = j.Append(ctx, sampleRecord(1))
	assert.ErrorIs(t, err, context.Canceled, "cancelled ctx")
	seq, _ := j.Head()
	assert.Zero(t, seq, "rejected records advanced the chain")
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
		assert.NoError(t, err)
	}
	requireVerified(t, path, n)
	recs, err := ReadFile(path, Filter{})
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.RequestID] = true
	}
	assert.Len(t, seen, n, "distinct requests recorded")
}

func TestReopenContinuesChain(t *testing.T) {
	j, path := openTemp(t)
	first := appendN(t, j, 1, 3)
	require.NoError(t, j.Close())
	j2, err := Open(path, WithClock(stepClock()))
	require.NoError(t, err)
	defer j2.Close()
	seq, head := j2.Head()
	require.Equal(t, uint64(3), seq, "reopened head")
	require.Equal(t, first[2].Hash, head, "reopened head")
	more := appendN(t, j2, 4, 2)
	assert.Equal(t, uint64(4), more[0].Seq, "continued record")
	assert.Equal(t, first[2].Hash, more[0].PrevHash, "continued record")
	requireVerified(t, path, 5)
}

// A crash in the middle of a write leaves a partial last line. Reopening
// keeps it (as evidence), starts on a fresh line and continues the chain
// from the last whole record; Verify reports only the partial line.
func TestReopenAfterPartialWrite(t *testing.T) {
	j, path := openTemp(t)
	appendN(t, j, 1, 3)
	j.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	f.WriteString(`{"seq":4,"time":"2026-11-23T10:00:0`)
	f.Close()

	j2, err := Open(path)
	require.NoError(t, err)
	defer j2.Close()
	r, err := j2.Append(context.Background(), sampleRecord(4))
	require.NoError(t, err)
	assert.Equal(t, uint64(4), r.Seq, "seq after partial write")
	rep, err := VerifyFile(path)
	require.NoError(t, err)
	require.Equal(t, 1, rep.ProblemCount, "problems: %v", rep.Problems)
	require.Equal(t, 4, rep.Problems[0].Line, "problems: %v", rep.Problems)
	require.Equal(t, Malformed, rep.Problems[0].Kind, "problems: %v", rep.Problems)
	assert.Equal(t, uint64(4), rep.HeadSeq, "head seq")
	assert.Equal(t, 4, rep.Records, "records")
}

func TestOpenCorruptTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	require.NoError(t, os.WriteFile(path, []byte("not a journal\nat all\n"), 0o600))
	_, err := Open(path)
	require.ErrorIs(t, err, ErrCorrupt)
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
	require.NoError(t, err)
	assert.Equal(t, 5, got.DocumentsOmitted, "documents omitted")
	if assert.Len(t, got.Documents, MaxDocuments) {
		assert.Empty(t, got.Documents[0].SHA256, "invalid digest kept")
	}
	assert.LessOrEqual(t, len(got.Summary), maxText, "summary not clipped")
	assert.True(t, strings.HasSuffix(got.Summary, "…"), "summary not clipped")
	assert.Equal(t, time.UTC, got.Time.Location(), "time not UTC: %v", got.Time)
	requireVerified(t, path, 1)
	recs, _ := ReadFile(path, Filter{})
	assert.Equal(t, got, recs[0], "record read back differs from record written")
}

// Records must never carry a secret: there is no field that could.
func TestNoSecretFields(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeOf(Record{}), reflect.TypeOf(Document{})} {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := strings.ToLower(f.Name + " " + f.Tag.Get("json"))
			for _, bad := range []string{"pin", "pass", "secret", "key_material", "content", "data"} {
				assert.NotContains(t, name, bad, "%s.%s looks like a secret-bearing field", typ.Name(), f.Name)
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
		assert.Equal(t, c.want, ErrorKind(c.err), "ErrorKind(%v)", c.err)
	}
	var r Record
	r.SetOutcome(fmt.Errorf("sign with key1: %w", hsm.ErrKeyNotFound))
	assert.Equal(t, ResultError, r.Result, "SetOutcome")
	assert.Equal(t, "key-not-found", r.ErrorKind, "SetOutcome")
	assert.Contains(t, r.Error, "key1", "SetOutcome")
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
		_, err := j.Append(context.Background(), r)
		require.NoError(t, err)
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
		require.NoError(t, err)
		var seqs []uint64
		for _, r := range got {
			seqs = append(seqs, r.Seq)
		}
		assert.Equal(t, c.want, seqs, c.name)
	}
}

// rehash re-encodes a line after changing it with edit, recomputing its
// hash as a careful forger would.
func rehash(t *testing.T, line []byte, edit func(*Record)) []byte {
	t.Helper()
	r, err := parseLine(line)
	require.NoError(t, err)
	edit(&r)
	r.Hash = r.ComputeHash()
	out, err := json.Marshal(r)
	require.NoError(t, err)
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
			prev, err := parseLine(l[1])
			require.NoError(t, err)
			forged := rehash(t, l[2], func(r *Record) { r.Plugin = "forged"; r.PrevHash = prev.Hash })
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
			require.NoError(t, err)
			lines := bytes.Split(bytes.TrimSuffix(orig, []byte("\n")), []byte("\n"))
			require.Len(t, lines, 6)
			tampered := c.tamper(t, lines)
			require.NoError(t, os.WriteFile(path, tampered, 0o600))
			rep, err := VerifyFile(path)
			require.NoError(t, err)
			var got []want
			for _, p := range rep.Problems {
				got = append(got, want{p.Line, p.Seq, p.Kind})
				assert.NotEmpty(t, p.Detail, "problem without detail: %v", p)
			}
			assert.Equal(t, c.want, got, "problems: %v", rep.Problems)
			if c.want == nil {
				assert.Equal(t, uint64(5), rep.HeadSeq, "head seq")
			}
		})
	}
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
		require.NoError(t, err)
		if rep.OK() {
			require.Equal(t, uint64(rep.Records), rep.HeadSeq, "verified journal: head seq and record count")
		}
		require.GreaterOrEqual(t, rep.ProblemCount, len(rep.Problems), "problem count")
		require.LessOrEqual(t, len(rep.Problems), maxProblems, "problems kept")
		recs, err := List(bytes.NewReader(data), Filter{Last: 2})
		require.NoError(t, err, "List")
		require.LessOrEqual(t, len(recs), 2, "List: records")
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
		require.NoError(b, err)
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
		require.NoError(b, err)
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
	require.NoError(t, err, "ParseAnchor round trip")
	require.Equal(t, head, a, "ParseAnchor round trip")
	for _, bad := range []string{"", "6", "x:" + head.Hash, "0:" + head.Hash, "6:abc", "6:" + strings.Repeat("g", 64)} {
		_, err := ParseAnchor(bad)
		assert.Error(t, err, "ParseAnchor(%q) accepted", bad)
	}

	rep, err := VerifyFile(path, head, mid)
	require.NoError(t, err, "intact journal with anchors")
	require.True(t, rep.OK(), "intact journal with anchors: %v", rep.Problems)

	orig, _ := os.ReadFile(path)
	lines := bytes.Split(bytes.TrimSuffix(orig, []byte("\n")), []byte("\n"))

	// Records cut off the end: the chain is fine, the anchor is not.
	os.WriteFile(path, join(lines[:4]), 0o600)
	rep, _ = VerifyFile(path, head, mid)
	if assert.Equal(t, 1, rep.ProblemCount, "cut-off tail: %v", rep.Problems) {
		assert.Equal(t, CutOff, rep.Problems[0].Kind, "cut-off tail")
		assert.Equal(t, uint64(6), rep.Problems[0].Seq, "cut-off tail")
	}

	// Tail rewritten with recomputed hashes from record 5 on: only the
	// anchor notices.
	l := append([][]byte(nil), lines...)
	l[4] = rehash(t, l[4], func(r *Record) { r.Decision = DecisionDenied })
	prev, err := parseLine(l[4])
	require.NoError(t, err)
	l[5] = rehash(t, l[5], func(r *Record) { r.PrevHash = prev.Hash })
	os.WriteFile(path, join(l), 0o600)
	rep, _ = VerifyFile(path)
	require.True(t, rep.OK(), "consistent rewrite should pass without an anchor: %v", rep.Problems)
	rep, _ = VerifyFile(path, head, mid)
	if assert.Equal(t, 1, rep.ProblemCount, "rewritten tail: %v", rep.Problems) {
		assert.Equal(t, Rewritten, rep.Problems[0].Kind, "rewritten tail")
		assert.Equal(t, 6, rep.Problems[0].Line, "rewritten tail")
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
	require.NoError(t, err)
	defer j2.Close()
	r, err := j2.Append(context.Background(), sampleRecord(5))
	require.NoError(t, err, "append after tampered tail")
	require.Equal(t, uint64(5), r.Seq, "append after tampered tail")
	rep, _ := VerifyFile(path)
	var kinds []ProblemKind
	for _, p := range rep.Problems {
		kinds = append(kinds, p.Kind)
	}
	assert.Equal(t, []ProblemKind{Removed, Reordered}, kinds, "problems %v", rep.Problems)
	assert.Equal(t, uint64(5), rep.HeadSeq, "head seq")
}

func TestSeqBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	r := sampleRecord(1)
	r.Seq, r.Time, r.PrevHash = MaxSeq+1, time.Now().UTC(), Genesis
	r.Hash = r.ComputeHash()
	line, _ := json.Marshal(r)
	os.WriteFile(path, append(line, '\n'), 0o600)
	_, err := Open(path)
	assert.ErrorIs(t, err, ErrCorrupt, "journal with seq beyond MaxSeq")
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
				// assert, not require: this is not the test's goroutine.
				if _, err := j.Append(context.Background(), sampleRecord(g*100+i)); !assert.NoError(t, err) {
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for checks := 0; ; checks++ {
		rep, err := j.Verify()
		require.NoError(t, err, "verify during appends")
		require.True(t, rep.OK(), "verify during appends: %v", rep.Problems)
		_, err = j.List(Filter{Last: 3})
		require.NoError(t, err)
		select {
		case <-done:
			rep, _ := j.Verify()
			require.True(t, rep.OK(), "final: %v", rep.Problems)
			require.Equal(t, 200, rep.Records, "final")
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
		require.NoError(t, err, "%q", s)
		require.Equal(t, a, b, "%q", s)
		require.NotZero(t, a.Seq, "%q", s)
		require.True(t, isHex(a.Hash, 64), "%q: hash %q", s, a.Hash)
	})
}

// BenchmarkVerify reports Verify throughput over a journal of 10,000
// records, against reading the same file line by line without checking.
func BenchmarkVerify(b *testing.B) {
	j, path := openTemp(b, WithoutSync())
	appendN(b, j, 1, 10000)
	j.Close()
	data, err := os.ReadFile(path)
	require.NoError(b, err)
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

// rawWriteFsync returns the journal benchmarks' baseline: a write of a
// record-sized line to a plain file and its fsync.
func rawWriteFsync(b *testing.B) func() {
	b.Helper()
	line, _ := json.Marshal(sampleRecord(1))
	line = append(line, '\n')
	raw, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	require.NoError(b, err)
	b.Cleanup(func() { raw.Close() })
	return func() {
		if _, err := raw.Write(line); err != nil {
			b.Fatal(err)
		}
		if err := raw.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendVsFsync interleaves a plain write+fsync of a same-sized
// line with a journal Append (fsync on) and reports their time ratio, so
// that load from other processes affects both sides alike.
func BenchmarkAppendVsFsync(b *testing.B) {
	rawAppend := rawWriteFsync(b)
	j, _ := openTemp(b)
	rec := sampleRecord(1)
	var tRaw, tJournal time.Duration
	for b.Loop() {
		t0 := time.Now()
		rawAppend()
		t1 := time.Now()
		if _, err := j.Append(context.Background(), rec); err != nil {
			b.Fatal(err)
		}
		tRaw += t1.Sub(t0)
		tJournal += time.Since(t1)
	}
	b.ReportMetric(float64(tJournal)/float64(tRaw), "x-write+fsync")
}
