// Package prompt provides the PIN and password sources the CLI uses: a
// terminal prompt without echo ([Terminal], on /dev/tty, so it works when
// stdin and stdout are redirected), and unattended sources that read the
// secret from an environment variable or a file ([FromEnv], [FromFile], for
// scripts and tests). Every source is an [hsm.PINPrompt]; [ByKind] routes
// token PINs and PFX passwords to different sources. The terminal shows
// what the [hsm.PINRequest] says (the token, the key, the kind of secret,
// the PIN state), asks the person to type YES before a final try, and
// reports a locked PIN without asking; an unattended source never confirms
// a final try unless told to. Empty input, end of input, Ctrl-C and a done
// context return an error wrapping [hsm.ErrCancelled]. Secrets are returned
// in fresh byte slices that the key store wipes; no source keeps a copy,
// prints or logs one.
//
//	pin := prompt.Terminal()
//	if os.Getenv("SIGNET_PIN") != "" {
//		pin = prompt.FromEnv("SIGNET_PIN")
//	}
//	store, err := keystore.Open(cfg, prompt.ByKind(pin, prompt.Terminal()))
package prompt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/signet-agent/signet/hsm"
)

// Describe renders what a prompt shows before it asks: token, key, the
// kind of secret, and the PIN state. It is shared by the terminal prompt
// and any other front end that wants the same wording.
func Describe(req hsm.PINRequest) string {
	var b strings.Builder
	tok := req.Token.Label
	if tok == "" {
		tok = req.Token.URI
	}
	fmt.Fprintf(&b, "Signet needs the %s for %s", req.Kind, tok)
	if req.Token.URI != "" && req.Token.URI != tok {
		fmt.Fprintf(&b, "\n  token: %s", req.Token.URI)
	}
	if req.Key != nil {
		name := req.Key.Label
		if req.Key.Certificate != nil && req.Key.Certificate.Subject.CommonName != "" {
			name = req.Key.Certificate.Subject.CommonName
		}
		fmt.Fprintf(&b, "\n  key:   %s (%s)", name, req.Key.URI)
	}
	if req.Attempt > 1 {
		if req.LastError != nil {
			fmt.Fprintf(&b, "\n  the last attempt failed: %v", req.LastError)
		} else {
			fmt.Fprintf(&b, "\n  attempt %d", req.Attempt)
		}
	}
	switch s := req.State; {
	case s.Locked:
		b.WriteString("\n  the PIN is LOCKED")
	case s.FinalTry:
		b.WriteString("\n  WARNING: this is the FINAL TRY; a wrong PIN locks the token")
	case s.Retries > 0:
		fmt.Fprintf(&b, "\n  %d tries left", s.Retries)
	case s.CountLow:
		b.WriteString("\n  a wrong PIN was entered before; tries left are low")
	}
	return b.String()
}

// lockedError is returned for a locked PIN without asking.
func lockedError(req hsm.PINRequest) error {
	return &hsm.PINError{Token: req.Token.URI, State: req.State, Err: hsm.ErrPINLocked}
}

// Static returns a source that answers every request with the secret get
// returns, for unattended use. A second attempt in one operation means the
// secret was wrong: it returns the previous error instead of trying the
// same secret again. It refuses a final try unless confirmFinalTry.
func Static(what string, get func() ([]byte, error), confirmFinalTry bool) hsm.PINPrompt {
	return func(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
		if err := ctx.Err(); err != nil {
			return hsm.PINResponse{}, fmt.Errorf("%v: %w", err, hsm.ErrCancelled)
		}
		if req.State.Locked {
			return hsm.PINResponse{}, lockedError(req)
		}
		if req.Attempt > 1 && req.LastError != nil {
			return hsm.PINResponse{}, fmt.Errorf("%s was refused: %w", what, req.LastError)
		}
		if req.State.FinalTry && !confirmFinalTry {
			return hsm.PINResponse{}, fmt.Errorf("%s: not trying it on the final try: %w", what, hsm.ErrFinalTry)
		}
		pin, err := get()
		if err != nil {
			return hsm.PINResponse{}, err
		}
		return hsm.PINResponse{PIN: pin, ConfirmFinalTry: req.State.FinalTry && confirmFinalTry}, nil
	}
}

// FromEnv returns a source reading the secret from the environment
// variable name at each request. An unset variable is a cancelled prompt
// (the error names the variable, never its value).
func FromEnv(name string) hsm.PINPrompt {
	what := "the secret from $" + name
	return Static(what, func() ([]byte, error) {
		v, ok := os.LookupEnv(name)
		if !ok {
			return nil, fmt.Errorf("environment variable %s is not set: %w", name, hsm.ErrCancelled)
		}
		return []byte(v), nil
	}, false)
}

// maxSecretFile bounds a PIN file.
const maxSecretFile = 4096

// FromFile returns a source reading the secret from the file at path at
// each request; one trailing newline (LF or CRLF) is removed.
func FromFile(path string) hsm.PINPrompt {
	what := "the secret from " + path
	return Static(what, func() ([]byte, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("PIN file: %w", err)
		}
		defer f.Close()
		buf := make([]byte, maxSecretFile+1)
		n, err := io.ReadFull(f, buf)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			hsm.Wipe(buf)
			return nil, fmt.Errorf("PIN file %s: %w", path, err)
		}
		if n > maxSecretFile {
			hsm.Wipe(buf)
			return nil, fmt.Errorf("PIN file %s is over %d bytes", path, maxSecretFile)
		}
		s := buf[:n]
		if len(s) > 0 && s[len(s)-1] == '\n' {
			s = s[:len(s)-1]
			if len(s) > 0 && s[len(s)-1] == '\r' {
				s = s[:len(s)-1]
			}
		}
		out := append([]byte(nil), s...)
		hsm.Wipe(buf)
		return out, nil
	}, false)
}

// ByKind routes a request to pin for token PINs (user and context-specific)
// and to password for PFX passwords. A nil source cancels.
func ByKind(pin, password hsm.PINPrompt) hsm.PINPrompt {
	return func(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
		p := pin
		if req.Kind == hsm.Password {
			p = password
		}
		if p == nil {
			return hsm.PINResponse{}, fmt.Errorf("no source for the %s of %s: %w", req.Kind, req.Token.URI, hsm.ErrCancelled)
		}
		return p(ctx, req)
	}
}
