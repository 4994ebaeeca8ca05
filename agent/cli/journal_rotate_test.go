package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/journal"
)

// runJournal runs `signet journal ARGS` in-process.
func runJournal(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var so, se bytes.Buffer
	code := Run(context.Background(), &App{Stdout: &so, Stderr: &se}, append([]string{"journal"}, args...))
	return code, so.String(), se.String()
}

// TestJournalVerifyAcrossRotations: list and verify read a rotated
// journal as one chain; a removed middle file, an edited older file and
// two swapped files make verify fail naming the file.
func TestJournalVerifyAcrossRotations(t *testing.T) {
	build := func(t *testing.T) (string, []string) {
		path := filepath.Join(t.TempDir(), "journal.jsonl")
		j, err := journal.Open(path, journal.WithMaxSize(2<<10), journal.WithoutSync())
		require.NoError(t, err)
		for i := range 40 {
			_, err := j.Append(context.Background(), journal.Record{Op: journal.OpSign, Plugin: "eimzo",
				Origin: "https://portal.example", RequestID: fmt.Sprintf("req-%d", i), Decision: journal.DecisionAllowed,
				DecidedBy: journal.ByPolicy, Result: journal.ResultOK})
			require.NoError(t, err)
		}
		for range 5 {
			_, err := j.AppendRefusal(context.Background(), journal.Record{Op: journal.OpList, Origin: "https://evil.example",
				Decision: journal.DecisionDenied, DecidedBy: journal.ByAdmin, ErrorKind: "denied"}, "")
			require.NoError(t, err)
		}
		require.NoError(t, j.Close())
		files, err := journal.Files(path)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(files), 4)
		return path, files
	}

	path, files := build(t)
	code, out, errOut := runJournal(t, "verify", "--path", path)
	require.Equal(t, 0, code, "%s%s", out, errOut)
	assert.Contains(t, out, fmt.Sprintf("in %d files, chain intact", len(files)))

	code, out, errOut = runJournal(t, "list", "--path", path, "--json")
	require.Equal(t, 0, code, errOut)
	var recs []journal.Record
	require.NoError(t, json.Unmarshal([]byte(out), &recs))
	assert.Len(t, recs, 40+len(files)-1+2, "every record of every file, with one rotation record per later file")
	code, out, _ = runJournal(t, "list", "--path", path, "--origin", "https://evil.example")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "denied (admin) ×4", "the coalesced refusals show their count")

	cases := map[string]func(t *testing.T, files []string) string{
		"middle file removed": func(t *testing.T, files []string) string {
			require.NoError(t, os.Remove(files[1]))
			return filepath.Base(files[2]) + " line 1"
		},
		"older file edited": func(t *testing.T, files []string) string {
			data, err := os.ReadFile(files[0])
			require.NoError(t, err)
			edited := bytes.Replace(data, []byte(`"req-2"`), []byte(`"req-9"`), 1)
			require.NotEqual(t, data, edited)
			require.NoError(t, os.WriteFile(files[0], edited, 0o600))
			return filepath.Base(files[0]) + " line 3 (seq 3): edited"
		},
		"files swapped": func(t *testing.T, files []string) string {
			tmp := files[1] + ".tmp"
			require.NoError(t, os.Rename(files[1], tmp))
			require.NoError(t, os.Rename(files[2], files[1]))
			require.NoError(t, os.Rename(tmp, files[2]))
			return "reordered"
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			path, files := build(t)
			want := change(t, files)
			code, out, errOut := runJournal(t, "verify", "--path", path)
			assert.Equal(t, 1, code)
			assert.Contains(t, out+errOut, want)
		})
	}
}
