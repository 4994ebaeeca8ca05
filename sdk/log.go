package sdk

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
)

// logSender is a slog.Handler that ships records to the host's Log service
// in batches from one goroutine. A full queue drops records (and counts
// them) rather than blocking the plugin; if the host cannot be reached,
// records go to stderr, which the host also captures.
type logSender struct {
	c      pb.LogClient
	min    slog.Level // the host keeps nothing below it (StartRequest.log_level)
	attrs  []*pb.LogAttr
	prefix string // group prefix for attribute keys
	q      *logQueue
}

type logQueue struct {
	mu      sync.Mutex
	recs    []*pb.LogRecord
	dropped int
	wake    chan struct{}
	flushed chan struct{} // closed and replaced after each send
}

const maxQueuedLogs = 4096

// newLogSender ships records of level min and above; the host drops the
// others, so they are not sent.
func newLogSender(c pb.LogClient, min slog.Level) *logSender {
	q := &logQueue{wake: make(chan struct{}, 1), flushed: make(chan struct{})}
	s := &logSender{c: c, min: min, q: q}
	go s.run()
	return s
}

func (s *logSender) Enabled(_ context.Context, l slog.Level) bool { return l >= s.min }

func (s *logSender) Handle(_ context.Context, r slog.Record) error {
	rec := &pb.LogRecord{TimeUnixNano: r.Time.UnixNano(), Level: int32(r.Level), Message: r.Message}
	rec.Attrs = append(rec.Attrs, s.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs = appendAttr(rec.Attrs, s.prefix, a)
		return true
	})
	q := s.q
	q.mu.Lock()
	if len(q.recs) >= maxQueuedLogs {
		q.dropped++
	} else {
		q.recs = append(q.recs, rec)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

func appendAttr(out []*pb.LogAttr, prefix string, a slog.Attr) []*pb.LogAttr {
	a.Value = a.Value.Resolve()
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			out = appendAttr(out, p, g)
		}
		return out
	}
	if a.Key == "" {
		return out
	}
	return append(out, &pb.LogAttr{Key: prefix + a.Key, Value: a.Value.String()})
}

func (s *logSender) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *s
	n.attrs = append([]*pb.LogAttr(nil), s.attrs...)
	for _, a := range attrs {
		n.attrs = appendAttr(n.attrs, s.prefix, a)
	}
	return &n
}

func (s *logSender) WithGroup(name string) slog.Handler {
	if name == "" {
		return s
	}
	n := *s
	n.prefix = s.prefix + name + "."
	return &n
}

func (s *logSender) run() {
	q := s.q
	for range q.wake {
		q.mu.Lock()
		recs, dropped := q.recs, q.dropped
		q.recs, q.dropped = nil, 0
		flushed := q.flushed
		q.flushed = make(chan struct{})
		q.mu.Unlock()
		if dropped > 0 {
			recs = append(recs, &pb.LogRecord{
				TimeUnixNano: time.Now().UnixNano(), Level: int32(slog.LevelWarn),
				Message: fmt.Sprintf("%d log records dropped (queue full)", dropped),
			})
		}
		if len(recs) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := s.c.Write(ctx, &pb.LogBatch{Records: recs})
			cancel()
			if err != nil {
				for _, r := range recs {
					fmt.Fprintf(os.Stderr, "%s %v\n", slog.Level(r.Level), r.Message)
				}
			}
		}
		close(flushed)
	}
}

// flush waits until the records queued so far are sent, up to timeout.
func (s *logSender) flush(timeout time.Duration) {
	s.q.mu.Lock()
	ch := s.q.flushed
	s.q.mu.Unlock()
	select {
	case s.q.wake <- struct{}{}:
	default:
	}
	select {
	case <-ch:
	case <-time.After(timeout):
	}
}

func (h *Host) flushLogs(timeout time.Duration) {
	if h != nil && h.log != nil {
		h.log.flush(timeout)
	}
}
