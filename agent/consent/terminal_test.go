package consent

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/prompt"
	"github.com/signet-agent/signet/hsm"
	"github.com/stretchr/testify/require"
)

// console is a scripted terminal.
type console struct {
	mu    sync.Mutex
	lines []string
	out   bytes.Buffer
	block chan struct{} // when set, ReadLine blocks until closed
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *console) ReadLine() (string, error) {
	if c.block != nil {
		<-c.block
		return "", io.EOF
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.lines) == 0 {
		return "", io.EOF
	}
	l := c.lines[0]
	c.lines = c.lines[1:]
	return l, nil
}

func (c *console) ReadSecret() ([]byte, error) {
	l, err := c.ReadLine()
	return []byte(l), err
}

func (c *console) Close() error { return nil }

func (c *console) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func TestTerminalConfirm(t *testing.T) {
	grant := &GrantOffer{Uses: 5, Within: time.Minute}
	cases := []struct {
		name  string
		q     Question
		lines []string
		want  Answer
		err   error
	}{
		{"once", Question{FirstUse: true}, []string{"o"}, Answer{Allow: true}, nil},
		{"always", Question{FirstUse: true}, []string{"always"}, Answer{Allow: true, Remember: true}, nil},
		{"deny", Question{FirstUse: true}, []string{"d"}, Answer{}, nil},
		{"never", Question{FirstUse: true}, []string{"n"}, Answer{Remember: true}, nil},
		{"yes", Question{}, []string{"y"}, Answer{Allow: true}, nil},
		{"no", Question{}, []string{"no"}, Answer{}, nil},
		{"grant", Question{Grant: grant}, []string{"g"}, Answer{Allow: true, Remember: true}, nil},
		{"grant not offered", Question{}, []string{"g", "g", "g"}, Answer{}, nil},
		{"retry then yes", Question{}, []string{"maybe", " Y "}, Answer{Allow: true}, nil},
		{"end of input", Question{}, nil, Answer{}, hsm.ErrCancelled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			con := &console{lines: c.lines}
			term := NewTerminalWithConsole(func() (prompt.Console, error) { return con, nil })
			c.q.Request = sign(portal)
			a, err := term.Confirm(context.Background(), c.q)
			if c.err == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, c.err)
			}
			require.Equal(t, c.want, a)
			out := con.output()
			require.Contains(t, out, portal, "output lacks the request")
			require.Contains(t, out, "a.pdf  3 bytes  sha256 0101", "output lacks the request")
		})
	}
}

func TestTerminalTimeoutAndEscapes(t *testing.T) {
	con := &console{block: make(chan struct{})}
	defer close(con.block)
	term := NewTerminalWithConsole(func() (prompt.Console, error) { return con, nil })
	r := sign("https://x.example")
	r.Summary = "ok\x1b[2J\x1b[1A\rSignet: approved\u202e"
	r.Documents[0].Name = "evil\nyes\x07.pdf"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := term.Confirm(ctx, Question{Request: r})
	require.ErrorIs(t, err, hsm.ErrTimeout)
	out := con.output()
	for _, bad := range []string{"\x1b", "\r", "\x07", "\u202e", "evil\n"} {
		require.NotContains(t, out, bad)
	}
}
