package journal

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rotatedJournal appends n records to a journal rotated at 4 KiB and
// returns its path, closed.
func rotatedJournal(t *testing.T, n int) string {
	t.Helper()
	j, path := openTemp(t, WithMaxSize(4<<10))
	appendN(t, j, 0, n)
	require.NoError(t, j.Close())
	return path
}

func TestRotation(t *testing.T) {
	path := rotatedJournal(t, 60)
	files, err := Files(path)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 4, "several files at a small size limit")
	assert.Equal(t, RotatedName(path, 1), files[0])
	assert.Equal(t, path, files[len(files)-1])

	recs, err := ReadFile(path, Filter{})
	require.NoError(t, err)
	rotations := len(files) - 1
	require.Len(t, recs, 60+rotations)
	for i, r := range recs {
		require.Equal(t, uint64(i+1), r.Seq, "one sequence across the files")
	}
	// Each later file starts with a record naming the file before it and
	// chaining to its last record.
	for i, f := range files[1:] {
		first, err := List(openFile(t, f), Filter{})
		require.NoError(t, err)
		prev, err := List(openFile(t, files[i]), Filter{})
		require.NoError(t, err)
		last := prev[len(prev)-1]
		assert.Equal(t, OpRotate, first[0].Op)
		assert.Equal(t, last.Hash, first[0].PrevHash)
		assert.Contains(t, first[0].Summary, filepath.Base(files[i]))
		assert.Contains(t, first[0].Summary, last.Hash)
	}
	rep := requireVerified(t, path, 60+rotations)
	assert.Equal(t, files, rep.Files)

	// Reopened, the journal continues the chain in the active file.
	j, err := Open(path, WithMaxSize(4<<10))
	require.NoError(t, err)
	appendN(t, j, 60, 30)
	rep, err = j.Verify()
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep.Problems)
	assert.Greater(t, len(rep.Files), len(files))
	last, err := j.List(Filter{Last: 1})
	require.NoError(t, err)
	require.Len(t, last, 1)
	assert.Equal(t, rep.HeadSeq, last[0].Seq)
	require.NoError(t, j.Close())
}

func openFile(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// TestRotationTamperDetected: the chain runs through the files, so a file
// removed, edited or put in another's place is found, with its name.
func TestRotationTamperDetected(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, files []string)
		kind   ProblemKind
		file   int // index of the file the problem is reported in
	}{
		{"middle file removed", func(t *testing.T, files []string) {
			require.NoError(t, os.Remove(files[1]))
		}, Removed, 2},
		{"oldest file removed", func(t *testing.T, files []string) {
			require.NoError(t, os.Remove(files[0]))
		}, Removed, 1},
		{"last rotated file removed", func(t *testing.T, files []string) {
			require.NoError(t, os.Remove(files[len(files)-2]))
		}, Removed, -1},
		{"older file edited", func(t *testing.T, files []string) {
			data, err := os.ReadFile(files[0])
			require.NoError(t, err)
			edited := bytes.Replace(data, []byte(`"req-3"`), []byte(`"req-X"`), 1)
			require.NotEqual(t, data, edited)
			require.NoError(t, os.WriteFile(files[0], edited, 0o600))
		}, Edited, 0},
		{"files swapped", func(t *testing.T, files []string) {
			tmp := files[1] + ".tmp"
			require.NoError(t, os.Rename(files[1], tmp))
			require.NoError(t, os.Rename(files[2], files[1]))
			require.NoError(t, os.Rename(tmp, files[2]))
		}, Removed, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := rotatedJournal(t, 60)
			files, err := Files(path)
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(files), 4)
			c.change(t, files)
			rep, err := VerifyFile(path)
			require.NoError(t, err)
			require.False(t, rep.OK(), "tampering not detected")
			p, _ := rep.First()
			assert.Equal(t, c.kind, p.Kind, "%v", rep.Problems)
			want := files[len(files)-1]
			if c.file >= 0 {
				want = files[c.file]
			}
			assert.Equal(t, want, p.File, "%v", rep.Problems)
			assert.Contains(t, p.String(), filepath.Base(want))
		})
	}
}

// TestRotationSwapDetected: swapping two files also shows as records
// going backwards where the earlier file now follows.
func TestRotationSwapDetected(t *testing.T) {
	path := rotatedJournal(t, 60)
	files, err := Files(path)
	require.NoError(t, err)
	tmp := files[1] + ".tmp"
	require.NoError(t, os.Rename(files[1], tmp))
	require.NoError(t, os.Rename(files[2], files[1]))
	require.NoError(t, os.Rename(tmp, files[2]))
	rep, err := VerifyFile(path)
	require.NoError(t, err)
	var kinds []ProblemKind
	for _, p := range rep.Problems {
		kinds = append(kinds, p.Kind)
	}
	assert.Contains(t, kinds, Reordered)
}

// TestRotationCrashBeforeNewFile: a crash after the active file was moved
// aside and before the new one was written leaves no active file, or an
// empty one; the journal continues the chain from the last rotated file.
func TestRotationCrashBeforeNewFile(t *testing.T) {
	for _, empty := range []bool{false, true} {
		t.Run(fmt.Sprintf("empty=%v", empty), func(t *testing.T) {
			path := rotatedJournal(t, 60)
			files, err := Files(path)
			require.NoError(t, err)
			require.NoError(t, os.Remove(path))
			if empty {
				require.NoError(t, os.WriteFile(path, nil, 0o600))
			}
			rep, err := VerifyFile(path)
			require.NoError(t, err)
			require.True(t, rep.OK(), "%v", rep.Problems)
			j, err := Open(path, WithMaxSize(4<<10))
			require.NoError(t, err)
			appendN(t, j, 100, 3)
			require.NoError(t, j.Close())
			rep, err = VerifyFile(path)
			require.NoError(t, err)
			require.True(t, rep.OK(), "%v", rep.Problems)
			assert.Len(t, rep.Files, len(files))
		})
	}
}

// TestRotationConcurrent: appenders of every kind racing with rotations
// keep one intact chain.
func TestRotationConcurrent(t *testing.T) {
	j, path := openTemp(t, WithMaxSize(8<<10))
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 40 {
				r := sampleRecord(g*100 + i)
				var err error
				switch i % 3 {
				case 0:
					_, err = j.Append(ctx, r)
				case 1:
					_, err = j.AppendLazy(ctx, r)
				case 2:
					r.Origin = fmt.Sprintf("https://o%d.example", g)
					_, err = j.AppendRefusal(ctx, r, "")
				}
				assert.NoError(t, err)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			rep, err := j.Verify()
			assert.NoError(t, err)
			assert.True(t, rep.OK(), "%v", rep.Problems)
		}
	})
	wg.Wait()
	require.NoError(t, j.Close())
	rep, err := VerifyFile(path)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep.Problems)
	assert.Greater(t, len(rep.Files), 2)
	recs, err := ReadFile(path, Filter{})
	require.NoError(t, err)
	refused := 0
	for _, r := range recs {
		if r.Op == OpSign && r.Origin != "https://portal.example" {
			if r.Repeat != nil {
				refused += r.Repeat.Count
			} else {
				refused++
			}
		}
	}
	assert.Equal(t, 6*13, refused, "every refusal counted")
}

func TestRotatedNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	for _, name := range []string{"journal.000002.jsonl", "journal.000010.jsonl", "journal.000001.jsonl",
		"journal.1.jsonl", "journal.00000x.jsonl", "journal.000003.json", "other.000004.jsonl", "journal.jsonl"} {
		require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(path), name), nil, 0o600))
	}
	got, err := RotatedFiles(path)
	require.NoError(t, err)
	dir := filepath.Dir(path)
	assert.Equal(t, []string{filepath.Join(dir, "journal.000001.jsonl"), filepath.Join(dir, "journal.000002.jsonl"),
		filepath.Join(dir, "journal.000010.jsonl")}, got)
	_, err = Files(filepath.Join(t.TempDir(), "journal.jsonl"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestRotationListLast: the last records of a rotated journal come from the
// newest files, in order, across a file boundary.
func TestRotationListLast(t *testing.T) {
	path := rotatedJournal(t, 60)
	all, err := ReadFile(path, Filter{})
	require.NoError(t, err)
	for _, n := range []int{1, 5, 20, len(all), len(all) + 10} {
		got, err := ReadFile(path, Filter{Last: n})
		require.NoError(t, err)
		assert.Equal(t, all[max(0, len(all)-n):], got, "last %d", n)
	}
	got, err := ReadFile(path, Filter{Last: 3, Op: OpRotate})
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, OpRotate, got[2].Op)
}
