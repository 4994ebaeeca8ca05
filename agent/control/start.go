package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// StartOptions say how to start the agent when none is running.
type StartOptions struct {
	// Command is the agent's argv, e.g. {os.Executable(), "serve",
	// "--config", path}.
	Command []string
	// Env is the agent's environment (nil: this process's).
	Env []string
	// LogFile receives the agent's stdout and stderr (appended, 0600).
	// Empty: next to the socket, as agent.log.
	LogFile string
	// Wait bounds how long to wait for the socket to answer. Default 10s.
	Wait time.Duration
}

// Connect returns a client for the agent at path ("" for SocketPath). When
// no agent answers and start is not nil, it starts one in the background
// with start and waits until its socket answers; started reports that.
func Connect(ctx context.Context, path string, start *StartOptions) (c *Client, started bool, err error) {
	if path == "" {
		path = SocketPath()
	}
	c, err = Dial(ctx, path)
	if err == nil || start == nil || !errors.Is(err, ErrNotRunning) {
		return c, false, err
	}
	if len(start.Command) == 0 {
		return nil, false, errors.New("start agent: no command")
	}
	if err := prepareDir(filepath.Dir(path)); err != nil {
		return nil, false, err
	}
	logFile := start.LogFile
	if logFile == "" {
		logFile = filepath.Join(filepath.Dir(path), "agent.log")
	}
	lf, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("start agent: open log: %w", err)
	}
	defer lf.Close()
	logStart, _ := lf.Seek(0, 2)

	cmd := exec.Command(start.Command[0], start.Command[1:]...)
	cmd.Env = start.Env
	cmd.Stdin = nil // /dev/null
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = detach()
	if err := cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("start agent %s: %w", start.Command[0], err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	wait := start.Wait
	if wait <= 0 {
		wait = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	delay := 5 * time.Millisecond
	for {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		c, err := Dial(pctx, path)
		if err == nil {
			if _, err = c.Ping(pctx); err == nil {
				pcancel()
				return c, true, nil
			}
			c.Close()
		}
		pcancel()
		select {
		case werr := <-exited:
			// It may have lost a race against another agent that is
			// coming up right now: give the socket one more chance.
			if c, err := Dial(ctx, path); err == nil {
				if _, err := c.Ping(ctx); err == nil {
					return c, false, nil
				}
				c.Close()
			}
			return nil, false, fmt.Errorf("agent exited before its control socket answered (%v)%s", werr, logTail(logFile, logStart))
		case <-ctx.Done():
			return nil, false, fmt.Errorf("agent did not answer on %s within %v (log: %s)", path, wait, logFile)
		case <-time.After(delay):
		}
		if delay < 100*time.Millisecond {
			delay *= 2
		}
	}
}

// logTail returns what the agent wrote to its log since off, bounded, for
// an error message.
func logTail(file string, off int64) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 2048)
	n, _ := f.ReadAt(buf, off)
	out := bytes.TrimSpace(buf[:n])
	if len(out) == 0 {
		return " (log: " + file + ")"
	}
	return ": " + string(out) + " (log: " + file + ")"
}
