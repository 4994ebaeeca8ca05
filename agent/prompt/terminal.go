package prompt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"

	"golang.org/x/term"

	"github.com/signet-agent/signet/hsm"
)

// Console is the terminal a prompt talks to. The real one is the
// controlling terminal (OpenTTY); tests use a scripted one.
type Console interface {
	io.Writer
	// ReadSecret reads one line without echo.
	ReadSecret() ([]byte, error)
	// ReadLine reads one line with echo.
	ReadLine() (string, error)
	Close() error
}

// Terminal returns a prompt on the controlling terminal (/dev/tty; CONIN$
// and CONOUT$ on Windows), opened for each request. Without a terminal the
// request fails with an error wrapping hsm.ErrCancelled that says how to
// give the secret instead.
func Terminal() hsm.PINPrompt {
	return WithConsole(OpenTTY)
}

// WithConsole returns a prompt that asks on the console open returns.
func WithConsole(open func() (Console, error)) hsm.PINPrompt {
	return func(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
		if req.State.Locked {
			return hsm.PINResponse{}, lockedError(req)
		}
		c, err := open()
		if err != nil {
			return hsm.PINResponse{}, fmt.Errorf("no terminal to ask for the %s (%v); set SIGNET_PIN / SIGNET_PFX_PASSWORD or use --pin-file: %w", req.Kind, err, hsm.ErrCancelled)
		}
		defer c.Close()
		type result struct {
			resp hsm.PINResponse
			err  error
		}
		done := make(chan result, 1)
		go func() {
			r, err := ask(c, req)
			done <- result{r, err}
		}()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		defer signal.Stop(sig)
		select {
		case r := <-done:
			return r.resp, r.err
		case <-sig:
			fmt.Fprintln(c)
			return hsm.PINResponse{}, fmt.Errorf("interrupted: %w", hsm.ErrCancelled)
		case <-ctx.Done():
			fmt.Fprintln(c)
			return hsm.PINResponse{}, fmt.Errorf("%v: %w", ctx.Err(), hsm.ErrCancelled)
		}
	}
}

// ask runs the dialogue: description, YES before a final try, the secret.
func ask(c Console, req hsm.PINRequest) (hsm.PINResponse, error) {
	fmt.Fprintln(c, Describe(req))
	confirm := false
	if req.State.FinalTry {
		fmt.Fprint(c, "Type YES to use the final try: ")
		line, err := c.ReadLine()
		if err != nil || strings.TrimSpace(line) != "YES" {
			return hsm.PINResponse{}, fmt.Errorf("final try not confirmed: %w", hsm.ErrCancelled)
		}
		confirm = true
	}
	label := "PIN"
	if req.Kind == hsm.Password {
		label = "Password"
	}
	fmt.Fprintf(c, "%s (empty to cancel): ", label)
	pin, err := c.ReadSecret()
	fmt.Fprintln(c)
	if err != nil {
		hsm.Wipe(pin)
		if errors.Is(err, io.EOF) {
			return hsm.PINResponse{}, fmt.Errorf("end of input: %w", hsm.ErrCancelled)
		}
		return hsm.PINResponse{}, fmt.Errorf("read %s: %v: %w", label, err, hsm.ErrCancelled)
	}
	if len(pin) == 0 {
		return hsm.PINResponse{}, fmt.Errorf("empty %s: %w", strings.ToLower(label), hsm.ErrCancelled)
	}
	return hsm.PINResponse{PIN: pin, ConfirmFinalTry: confirm}, nil
}

// tty is the controlling terminal.
type tty struct {
	in, out *os.File
	r       *bufio.Reader

	mu    sync.Mutex
	saved *term.State // echo state to restore while a secret is read
}

func (t *tty) Write(p []byte) (int, error) { return t.out.Write(p) }

func (t *tty) ReadSecret() ([]byte, error) {
	fd := int(t.in.Fd())
	st, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	// Close restores echo if the prompt is abandoned mid-read (Ctrl-C).
	t.mu.Lock()
	t.saved = st
	t.mu.Unlock()
	defer t.restore()
	return term.ReadPassword(fd)
}

func (t *tty) ReadLine() (string, error) {
	if t.r == nil {
		t.r = bufio.NewReader(t.in)
	}
	s, err := t.r.ReadString('\n')
	if err != nil && s == "" {
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

func (t *tty) restore() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.saved != nil {
		term.Restore(int(t.in.Fd()), t.saved)
		t.saved = nil
	}
}

func (t *tty) Close() error {
	t.restore()
	err := t.in.Close()
	if t.out != t.in {
		t.out.Close()
	}
	return err
}
