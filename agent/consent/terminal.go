package consent

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/signet-agent/signet/agent/prompt"
	"github.com/signet-agent/signet/hsm"
)

// Terminal is a Prompter on the controlling terminal, for an agent or CLI
// run interactively. It puts one question at a time (a mutex serialises
// them: a terminal cannot show two), opens the terminal for each question,
// and asks for PINs with agent/prompt's terminal dialogue (no echo, YES
// before a final try).
//
// Everything shown comes from plugins and web pages, so it is cleaned of
// control characters first: a document name cannot move the cursor, clear
// the screen or forge an answer line with terminal escape sequences.
type Terminal struct {
	open func() (prompt.Console, error)
	mu   sync.Mutex
}

// NewTerminal returns a Prompter on the controlling terminal (/dev/tty).
func NewTerminal() *Terminal { return &Terminal{open: prompt.OpenTTY} }

// NewTerminalWithConsole returns a Terminal that asks on the consoles open
// returns (tests, other front ends).
func NewTerminalWithConsole(open func() (prompt.Console, error)) *Terminal {
	return &Terminal{open: open}
}

// maxListed bounds the documents listed individually on a terminal.
const maxListed = 20

// Confirm shows q and reads the answer.
func (t *Terminal) Confirm(ctx context.Context, q Question) (Answer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return Answer{}, ctxError(err)
	}
	c, err := t.open()
	if err != nil {
		return Answer{}, fmt.Errorf("no terminal to ask on (%v): %w", err, hsm.ErrCancelled)
	}
	defer c.Close()
	fmt.Fprint(c, DescribeQuestion(q))

	type result struct {
		a   Answer
		err error
	}
	done := make(chan result, 1)
	go func() {
		a, err := readAnswer(c, q)
		done <- result{a, err}
	}()
	select {
	case r := <-done:
		return r.a, r.err
	case <-ctx.Done():
		fmt.Fprintln(c, "\n(no answer in time)")
		return Answer{}, ctxError(ctx.Err())
	}
}

func ctxError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("question: %w", hsm.ErrTimeout)
	}
	return fmt.Errorf("question: %v: %w", err, hsm.ErrCancelled)
}

func choices(q Question) string {
	switch {
	case q.FirstUse:
		return "[o]nce, [a]lways, [d]eny, [n]ever"
	case q.Grant != nil:
		return fmt.Sprintf("[y]es, [g]rant %d uses within %v, [n]o", q.Grant.Uses, q.Grant.Within)
	}
	return "[y]es, [n]o"
}

// readAnswer reads lines until one is a valid choice (three tries). A
// question that offers keys (Request.Choices) then asks for the key's
// number (see readKey).
func readAnswer(c prompt.Console, q Question) (Answer, error) {
	if len(q.Request.Choices) == 0 {
		return readDecision(c, q)
	}
	a := Answer{Allow: true}
	if q.FirstUse {
		var err error
		if a, err = readDecision(c, q); err != nil || !a.Allow {
			return a, err
		}
	}
	uri, err := readKey(c, q.Request.Choices)
	if err != nil || uri == "" {
		return Answer{}, err // no key picked: refused (an "always" is not kept)
	}
	a.KeyURI = uri
	return a, nil
}

// readKey reads the number of the key to use (1..len(keys)), or "n" to
// refuse (uri ""); three invalid lines refuse too. No key is preselected:
// an empty line is not an answer.
func readKey(c prompt.Console, keys []hsm.KeyInfo) (uri string, err error) {
	for range 3 {
		fmt.Fprintf(c, "key to sign with [1-%d], or [n]o? ", len(keys))
		line, err := c.ReadLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", fmt.Errorf("end of input: %w", hsm.ErrCancelled)
			}
			return "", fmt.Errorf("read answer: %v: %w", err, hsm.ErrCancelled)
		}
		a := strings.ToLower(strings.TrimSpace(line))
		if a == "n" || a == "no" {
			return "", nil
		}
		if i, err := strconv.Atoi(a); err == nil && i >= 1 && i <= len(keys) {
			return keys[i-1].URI, nil
		}
	}
	return "", nil
}

// readDecision reads a decision line (three tries).
func readDecision(c prompt.Console, q Question) (Answer, error) {
	for range 3 {
		fmt.Fprintf(c, "%s? ", choices(q))
		line, err := c.ReadLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return Answer{}, fmt.Errorf("end of input: %w", hsm.ErrCancelled)
			}
			return Answer{}, fmt.Errorf("read answer: %v: %w", err, hsm.ErrCancelled)
		}
		a := strings.ToLower(strings.TrimSpace(line))
		switch {
		case q.FirstUse && (a == "o" || a == "once"):
			return Answer{Allow: true}, nil
		case q.FirstUse && (a == "a" || a == "always"):
			return Answer{Allow: true, Remember: true}, nil
		case q.FirstUse && (a == "d" || a == "deny"):
			return Answer{}, nil
		case q.FirstUse && (a == "n" || a == "never"):
			return Answer{Remember: true}, nil
		case !q.FirstUse && (a == "y" || a == "yes"):
			return Answer{Allow: true}, nil
		case !q.FirstUse && q.Grant != nil && (a == "g" || a == "grant"):
			return Answer{Allow: true, Remember: true}, nil
		case !q.FirstUse && (a == "n" || a == "no"):
			return Answer{}, nil
		}
	}
	return Answer{}, nil // no valid answer: deny
}

// PIN asks for a PIN or password on the terminal.
func (t *Terminal) PIN(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r, ok := RequestFrom(ctx); ok {
		if c, err := t.open(); err == nil {
			fmt.Fprintf(c, "For: %s %s by %s\n", clean(string(r.Kind)), clean(who(r)), clean(r.Plugin))
			c.Close()
		}
	}
	return prompt.WithConsole(t.open)(ctx, req)
}

func who(r Request) string {
	if r.Origin != "" {
		return "requested by " + r.Origin
	}
	if r.Caller != "" {
		return "requested by " + r.Caller
	}
	return "requested locally"
}

// DescribeQuestion renders q for a text front end, cleaned of control
// characters.
func DescribeQuestion(q Question) string {
	var d description
	r := q.Request
	d.b.WriteString("\n")
	if q.FirstUse {
		d.line("%s wants to use Signet (through plugin %s) to list your certificates and request signatures.", r.Origin, r.Plugin)
	}
	d.line("Signet: %s %s", string(r.Kind), who(r))
	d.line("  plugin:   %s", r.Plugin)
	for k, v := range r.Evidence {
		d.line("  evidence: %s = %s", k, v)
	}
	if r.KeyURI != "" {
		d.line("  key:      %s", r.KeyURI)
	}
	if r.Key != nil && r.Key.Certificate != nil {
		d.certificate("  ", r.Key.Certificate)
	}
	d.choices(r.Choices)
	if r.Summary != "" {
		d.line("  summary:  %s", r.Summary)
	}
	if t := HTMLText(r.SummaryHTML); t != "" {
		d.line("  details:  %s", t)
	}
	d.documents(r.Documents)
	if !q.Deadline.IsZero() {
		d.line("  answer by %s", q.Deadline.Local().Format(time.TimeOnly))
	}
	return d.b.String()
}

// description builds DescribeQuestion's text.
type description struct{ b strings.Builder }

// line writes one line; its string arguments are cleaned.
func (d *description) line(format string, args ...any) {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = clean(s)
		}
	}
	fmt.Fprintf(&d.b, format+"\n", args...)
}

// certificate writes a certificate's subject, issuer and validity.
func (d *description) certificate(indent string, c *x509.Certificate) {
	d.line(indent+"subject:  %s", c.Subject.String())
	d.line(indent+"issuer:   %s", c.Issuer.String())
	d.line(indent+"valid:    %s to %s", c.NotBefore.UTC().Format(time.DateOnly), c.NotAfter.UTC().Format(time.DateOnly))
}

// choices writes the candidate keys of a key choice, numbered from 1.
func (d *description) choices(cs []hsm.KeyInfo) {
	if len(cs) == 0 {
		return
	}
	d.line("  pick the key to sign with (this allows one signature with it):")
	for i, k := range cs {
		label := k.Label
		if label == "" {
			label = k.URI
		}
		d.line("  [%d] %s", i+1, label)
		if c := k.Certificate; c != nil {
			d.certificate("      ", c)
		}
		if k.Label != "" {
			d.line("      uri:      %s", k.URI)
		}
	}
}

// documents writes the documents, at most maxListed of them.
func (d *description) documents(docs []Document) {
	n := len(docs)
	if n == 0 {
		return
	}
	d.line("  documents (%d):", n)
	for i, doc := range docs {
		if i == maxListed {
			d.line("    … and %d more", n-maxListed)
			break
		}
		d.line("    %s  %d bytes  sha256 %s", doc.Name, doc.Size, hex.EncodeToString(doc.SHA256))
	}
}

// clean replaces control and other non-printing characters (escape
// sequences, bidi overrides) and bounds the length.
func clean(s string) string {
	const max = 300
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == max {
			b.WriteString("…")
			break
		}
		n++
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) && r != ' ' {
			b.WriteRune('?')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
