package serve

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// journalStreamOf returns JOURNAL_STREAM's value for f.
func journalStreamOf(t *testing.T, f *os.File) string {
	t.Helper()
	fi, err := f.Stat()
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

func logLines(t *testing.T, getenv func(*os.File) func(string) string) []string {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	require.NoError(t, err)
	defer f.Close()
	log := NewLogger(f, getenv(f), slog.LevelInfo).With("component", "test")
	log.Debug("not shown")
	log.Info("started", "pid", 1)
	log.Warn("two\nlines")
	log.Error("failed", "error", "boom")
	data, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// TestLoggerOnJournal: when stderr is the journal's stream, lines carry no
// timestamp of their own (the journal stamps them) and start with the
// sd-daemon priority; a value with a newline stays one entry.
func TestLoggerOnJournal(t *testing.T) {
	lines := logLines(t, func(f *os.File) func(string) string {
		s := journalStreamOf(t, f)
		return func(k string) string { return map[string]string{EnvJournalStream: s}[k] }
	})
	require.Len(t, lines, 3, "%q", lines)
	assert.Equal(t, "<6>level=INFO msg=started component=test pid=1", lines[0])
	assert.Equal(t, `<4>level=WARN msg="two\nlines" component=test`, lines[1])
	assert.Equal(t, "<3>level=ERROR msg=failed component=test error=boom", lines[2])
}

// TestLoggerOffJournal: on a terminal or file, and when JOURNAL_STREAM
// names another file (inherited by a child whose stderr was redirected),
// lines keep their timestamp and have no priority prefix.
func TestLoggerOffJournal(t *testing.T) {
	for name, env := range map[string]string{"unset": "", "other file": "1:2", "garbage": "x"} {
		lines := logLines(t, func(*os.File) func(string) string {
			return func(k string) string { return map[string]string{EnvJournalStream: env}[k] }
		})
		require.Len(t, lines, 3, name)
		assert.True(t, strings.HasPrefix(lines[0], "time="), "%s: %q", name, lines[0])
	}
}
