package serve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
)

// EnvJournalStream is set by systemd to "DEVICE:INODE" of the journal
// stream it connected to the service's stdout and stderr.
const EnvJournalStream = "JOURNAL_STREAM"

// NewLogger returns the agent's default logger writing text to w. When w
// is the journal's stream (JOURNAL_STREAM names w's device and inode), the
// lines carry no time (the journal stamps each line itself) and start with
// the sd-daemon(3) priority prefix ("<3>" for errors …), so `journalctl -p`
// filters them.
func NewLogger(w *os.File, getenv func(string) string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if !isJournalStream(w, getenv(EnvJournalStream)) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(newJournalHandler(w, opts))
}

// isJournalStream reports whether f is the stream named by JOURNAL_STREAM
// ("DEVICE:INODE", decimal).
func isJournalStream(f *os.File, stream string) bool {
	var dev, ino uint64
	if stream == "" {
		return false
	}
	if _, err := fmt.Sscanf(stream, "%d:%d", &dev, &ino); err != nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == dev && uint64(st.Ino) == ino
}

// journalHandler is a text handler without the time attribute whose lines
// start with the record's sd-daemon priority.
type journalHandler struct {
	out   *journalOut
	inner slog.Handler // writes into out.buf
}

// journalOut is shared by a handler and those derived from it (WithAttrs).
type journalOut struct {
	mu  sync.Mutex
	w   io.Writer
	buf bytes.Buffer
}

func newJournalHandler(w io.Writer, opts *slog.HandlerOptions) *journalHandler {
	o := *opts
	o.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	out := &journalOut{w: w}
	return &journalHandler{out: out, inner: slog.NewTextHandler(&out.buf, &o)}
}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.buf.Reset()
	h.out.buf.WriteString(priority(r.Level))
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	// One record, one journal entry: a newline inside a value would split
	// it, and the text handler quotes those.
	_, err := h.out.w.Write(h.out.buf.Bytes())
	return err
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &journalHandler{out: h.out, inner: h.inner.WithAttrs(as)}
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	return &journalHandler{out: h.out, inner: h.inner.WithGroup(name)}
}

// priority is the sd-daemon(3) prefix for l.
func priority(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "<3>"
	case l >= slog.LevelWarn:
		return "<4>"
	case l >= slog.LevelInfo:
		return "<6>"
	}
	return "<7>"
}
