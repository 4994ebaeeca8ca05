package softhsmtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Token is a SoftHSM token created by CreateToken. Select it by Label.
type Token struct {
	Env     *Env
	Label   string
	Serial  string // as the token reports it (16 hex digits for SoftHSM)
	UserPIN string
	SOPIN   string

	dir string // the token's directory name under Env.TokenDir
}

// ErrTokenExists is returned by CreateToken when a token with the label
// exists already in the Env.
var ErrTokenExists = errors.New("token with this label exists")

// SlotToken is one initialised token seen by softhsm2-util --show-slots.
type SlotToken struct {
	Label  string
	Serial string
}

// Tokens lists the initialised tokens of the Env.
func (e *Env) Tokens() ([]SlotToken, error) {
	out, err := e.run("list tokens", "softhsm2-util", "--show-slots")
	if err != nil {
		return nil, err
	}
	return parseShowSlots(out), nil
}

// parseShowSlots reads the "Serial number:" and "Label:" lines of each
// token in `softhsm2-util --show-slots` output. Uninitialised tokens (no
// serial) are left out.
func parseShowSlots(out []byte) []SlotToken {
	var toks []SlotToken
	var serial string
	inToken := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "Slot "):
			inToken, serial = false, ""
		case line == "Token info:":
			inToken = true
		case inToken && strings.HasPrefix(line, "Serial number:"):
			serial = strings.TrimSpace(strings.TrimPrefix(line, "Serial number:"))
		case inToken && strings.HasPrefix(line, "Label:"):
			label := strings.TrimSpace(strings.TrimPrefix(line, "Label:"))
			if serial != "" {
				toks = append(toks, SlotToken{Label: label, Serial: serial})
			}
		}
	}
	return toks
}

// FindToken returns the serial of the token labelled label, or ok=false.
func (e *Env) FindToken(label string) (serial string, ok bool, err error) {
	toks, err := e.Tokens()
	if err != nil {
		return "", false, err
	}
	for _, t := range toks {
		if t.Label == label {
			return t.Serial, true, nil
		}
	}
	return "", false, nil
}

// CreateToken initialises a new token in a free slot with the given label
// (1–32 characters, unique in the Env), user PIN and SO PIN, and reads back
// its serial number.
func (e *Env) CreateToken(label, userPIN, soPIN string) (*Token, error) {
	if label == "" || len(label) > 32 {
		return nil, fmt.Errorf("create token %q: label must be 1-32 bytes", label)
	}
	if len(userPIN) < 4 || len(soPIN) < 4 {
		return nil, fmt.Errorf("create token %q: SoftHSM PINs need at least 4 characters", label)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t := &Token{Env: e, Label: label, UserPIN: userPIN, SOPIN: soPIN}
	if err := t.initLocked(); err != nil {
		return nil, err
	}
	return t, nil
}

// initLocked creates the token t describes. e.mu is held.
func (t *Token) initLocked() error {
	e := t.Env
	if _, ok, err := e.FindToken(t.Label); err != nil {
		return fmt.Errorf("create token %q: %w", t.Label, err)
	} else if ok {
		return fmt.Errorf("create token %q: %w", t.Label, ErrTokenExists)
	}
	before, err := tokenDirs(e.TokenDir)
	if err != nil {
		return fmt.Errorf("create token %q: %w", t.Label, err)
	}
	if _, err := e.run(fmt.Sprintf("create token %q", t.Label), "softhsm2-util",
		"--init-token", "--free", "--label", t.Label, "--pin", t.UserPIN, "--so-pin", t.SOPIN); err != nil {
		return err
	}
	after, err := tokenDirs(e.TokenDir)
	if err != nil {
		return fmt.Errorf("create token %q: %w", t.Label, err)
	}
	t.dir = ""
	for d := range after {
		if !before[d] {
			t.dir = d
		}
	}
	serial, ok, err := e.FindToken(t.Label)
	if err != nil {
		return fmt.Errorf("create token %q: %w", t.Label, err)
	}
	if !ok {
		return fmt.Errorf("create token %q: token not listed after softhsm2-util --init-token", t.Label)
	}
	t.Serial = serial
	return nil
}

func tokenDirs(dir string) (map[string]bool, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool)
	for _, ent := range ents {
		if ent.IsDir() {
			m[ent.Name()] = true
		}
	}
	return m, nil
}

// Remove deletes the token with softhsm2-util --delete-token: its keys and
// certificates are gone. To a process that has the module loaded the token
// disappears, which is how tests simulate pulling a token out. A Token that
// was already removed is not an error.
func (t *Token) Remove() error {
	t.Env.mu.Lock()
	defer t.Env.mu.Unlock()
	return t.removeLocked()
}

func (t *Token) removeLocked() error {
	if _, ok, err := t.Env.FindToken(t.Label); err != nil {
		return fmt.Errorf("remove token %q: %w", t.Label, err)
	} else if !ok {
		return nil
	}
	_, err := t.Env.run(fmt.Sprintf("remove token %q", t.Label), "softhsm2-util", "--delete-token", "--token", t.Label)
	if err != nil && strings.Contains(err.Error(), "Could not delete the directory") {
		// Another process initialising SoftHSM at the same moment (a
		// parallel test's pkcs11-tool) recreates the token directory's
		// lock file between softhsm2-util emptying and removing it. The
		// token itself is gone when its objects are; a leftover empty
		// directory lives in the Env's temporary tree and goes with it.
		if _, ok, ferr := t.Env.FindToken(t.Label); ferr == nil && !ok {
			return nil
		}
	}
	return err
}

// DeleteAll is Remove: it deletes the token and everything on it.
func (t *Token) DeleteAll() error { return t.Remove() }

// Recreate deletes the token if it exists and creates an empty one with the
// same label and PINs. The new token has a new serial (updated in t) and a
// new slot id, and none of the old keys.
func (t *Token) Recreate() error {
	t.Env.mu.Lock()
	defer t.Env.mu.Unlock()
	if err := t.removeLocked(); err != nil {
		return err
	}
	return t.initLocked()
}

// unpluggedDir is where Unplug keeps token directories.
func (e *Env) unpluggedDir() string { return filepath.Join(e.Dir, "unplugged") }

// Unplug moves the token's directory out of the token directory, so SoftHSM
// no longer sees it — like pulling a smart card out. Replug puts it back
// with the same label, serial, keys and certificates.
func (t *Token) Unplug() error {
	t.Env.mu.Lock()
	defer t.Env.mu.Unlock()
	if t.dir == "" {
		return fmt.Errorf("unplug token %q: token directory unknown", t.Label)
	}
	if err := os.MkdirAll(t.Env.unpluggedDir(), 0o700); err != nil {
		return fmt.Errorf("unplug token %q: %w", t.Label, err)
	}
	if err := os.Rename(filepath.Join(t.Env.TokenDir, t.dir), filepath.Join(t.Env.unpluggedDir(), t.dir)); err != nil {
		return fmt.Errorf("unplug token %q: %w", t.Label, err)
	}
	return nil
}

// Replug undoes Unplug.
func (t *Token) Replug() error {
	t.Env.mu.Lock()
	defer t.Env.mu.Unlock()
	if t.dir == "" {
		return fmt.Errorf("replug token %q: token directory unknown", t.Label)
	}
	if err := os.Rename(filepath.Join(t.Env.unpluggedDir(), t.dir), filepath.Join(t.Env.TokenDir, t.dir)); err != nil {
		return fmt.Errorf("replug token %q: %w", t.Label, err)
	}
	return nil
}

// PKCS11Tool runs pkcs11-tool on this token (--module and --token-label are
// added; add "--login", "--pin", t.UserPIN yourself when needed) and returns
// its standard output.
func (t *Token) PKCS11Tool(args ...string) ([]byte, error) {
	full := append([]string{"--module", t.Env.Module, "--token-label", t.Label}, args...)
	return t.Env.run(fmt.Sprintf("token %q", t.Label), "pkcs11-tool", full...)
}

// ListObjects returns `pkcs11-tool -O` output after a user login: private
// keys, public keys, certificates and data objects.
func (t *Token) ListObjects() (string, error) {
	out, err := t.PKCS11Tool("--login", "--pin", t.UserPIN, "--list-objects")
	return string(out), err
}

// OpenToken returns the existing token labelled label (made by
// create-token.sh or another process) with the PINs to use on it.
// Unplug and Replug do not work on a Token from OpenToken.
func (e *Env) OpenToken(label, userPIN, soPIN string) (*Token, error) {
	serial, ok, err := e.FindToken(label)
	if err != nil {
		return nil, fmt.Errorf("open token %q: %w", label, err)
	}
	if !ok {
		return nil, fmt.Errorf("open token %q: no such token in %s", label, e.TokenDir)
	}
	return &Token{Env: e, Label: label, Serial: serial, UserPIN: userPIN, SOPIN: soPIN}, nil
}
