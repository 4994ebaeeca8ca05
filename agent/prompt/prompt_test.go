package prompt

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-agent/signet/hsm"
)

// script is a Console that plays lines and records what was written. The
// real terminal cannot be driven from a test without a pty; everything
// but the no-echo read is the same code.
type script struct {
	lines   []string
	out     bytes.Buffer
	secrets int
}

func (s *script) Write(p []byte) (int, error) { return s.out.Write(p) }
func (s *script) next() (string, error) {
	if len(s.lines) == 0 {
		return "", io.EOF
	}
	l := s.lines[0]
	s.lines = s.lines[1:]
	return l, nil
}
func (s *script) ReadSecret() ([]byte, error) {
	s.secrets++
	l, err := s.next()
	return []byte(l), err
}
func (s *script) ReadLine() (string, error) { return s.next() }
func (s *script) Close() error              { return nil }

func request(state hsm.PINState) hsm.PINRequest {
	return hsm.PINRequest{
		Kind:  hsm.UserPIN,
		Token: hsm.TokenInfo{URI: "pkcs11:token=Work%20Card", Label: "Work Card"},
		Key: &hsm.KeyInfo{URI: "pkcs11:token=Work%20Card;id=%01;type=private", Label: "sign",
			Certificate: &x509.Certificate{Subject: pkix.Name{CommonName: "Ism Familiya"}}},
		State:   state,
		Attempt: 1,
	}
}

func TestTerminalDialogue(t *testing.T) {
	cases := []struct {
		name        string
		state       hsm.PINState
		lines       []string
		wantPIN     string
		wantConfirm bool
		wantErr     error
		wantShown   []string
		wantSecrets int
	}{
		{"pin", hsm.PINState{Retries: 3}, []string{"123456"}, "123456", false, nil, []string{"Work Card", "Ism Familiya", "3 tries left", "PIN"}, 1},
		{"empty cancels", hsm.PINState{}, []string{""}, "", false, hsm.ErrCancelled, nil, 1},
		{"eof cancels", hsm.PINState{}, nil, "", false, hsm.ErrCancelled, nil, 1},
		{"final try confirmed", hsm.PINState{FinalTry: true}, []string{"YES", "9999"}, "9999", true, nil, []string{"FINAL TRY", "Type YES"}, 1},
		{"final try refused", hsm.PINState{FinalTry: true}, []string{"yes", "9999"}, "", false, hsm.ErrCancelled, []string{"FINAL TRY"}, 0},
		{"count low", hsm.PINState{CountLow: true}, []string{"7777"}, "7777", false, nil, []string{"tries left are low"}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &script{lines: c.lines}
			p := WithConsole(func() (Console, error) { return s, nil })
			resp, err := p(context.Background(), request(c.state))
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err %v, want %v", err, c.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if string(resp.PIN) != c.wantPIN || resp.ConfirmFinalTry != c.wantConfirm {
				t.Fatalf("response %q confirm %v", resp.PIN, resp.ConfirmFinalTry)
			}
			for _, w := range c.wantShown {
				if !strings.Contains(s.out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, s.out.String())
				}
			}
			if c.wantPIN != "" && strings.Contains(s.out.String(), c.wantPIN) {
				t.Errorf("output echoes the PIN")
			}
			if s.secrets != c.wantSecrets {
				t.Errorf("secret reads %d, want %d", s.secrets, c.wantSecrets)
			}
		})
	}
}

func TestLockedIsNotAsked(t *testing.T) {
	opened := false
	p := WithConsole(func() (Console, error) { opened = true; return &script{}, nil })
	_, err := p(context.Background(), request(hsm.PINState{Locked: true}))
	if !errors.Is(err, hsm.ErrPINLocked) || opened {
		t.Fatalf("err %v, opened %v", err, opened)
	}
	if _, err := FromEnv("X")(context.Background(), request(hsm.PINState{Locked: true})); !errors.Is(err, hsm.ErrPINLocked) {
		t.Fatalf("env: %v", err)
	}
}

func TestNoTerminal(t *testing.T) {
	p := WithConsole(func() (Console, error) { return nil, os.ErrNotExist })
	_, err := p(context.Background(), request(hsm.PINState{}))
	if !errors.Is(err, hsm.ErrCancelled) || !strings.Contains(err.Error(), "SIGNET_PIN") {
		t.Fatalf("err %v", err)
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("SIGNET_TEST_PIN", "4321")
	p := FromEnv("SIGNET_TEST_PIN")
	ctx := context.Background()
	resp, err := p(ctx, request(hsm.PINState{}))
	if err != nil || string(resp.PIN) != "4321" {
		t.Fatalf("%q %v", resp.PIN, err)
	}
	// A second attempt means the secret was wrong: do not repeat it.
	req := request(hsm.PINState{})
	req.Attempt = 2
	req.LastError = &hsm.PINError{Token: "t", Err: hsm.ErrPINIncorrect}
	_, err = p(ctx, req)
	if !errors.Is(err, hsm.ErrPINIncorrect) || strings.Contains(err.Error(), "4321") {
		t.Fatalf("second attempt: %v", err)
	}
	if _, err := p(ctx, request(hsm.PINState{FinalTry: true})); !errors.Is(err, hsm.ErrFinalTry) {
		t.Fatalf("final try: %v", err)
	}
	_, err = FromEnv("SIGNET_TEST_UNSET_VAR")(ctx, request(hsm.PINState{}))
	if !errors.Is(err, hsm.ErrCancelled) || !strings.Contains(err.Error(), "SIGNET_TEST_UNSET_VAR") {
		t.Fatalf("unset: %v", err)
	}
}

func TestFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pin")
	if err := os.WriteFile(path, []byte("пароль 1\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err := FromFile(path)(context.Background(), request(hsm.PINState{}))
	if err != nil || string(resp.PIN) != "пароль 1" {
		t.Fatalf("%q %v", resp.PIN, err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxSecretFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := FromFile(big)(context.Background(), request(hsm.PINState{})); err == nil {
		t.Fatal("oversized PIN file accepted")
	}
	if _, err := FromFile(filepath.Join(dir, "none"))(context.Background(), request(hsm.PINState{})); err == nil {
		t.Fatal("missing PIN file accepted")
	}
}

func TestByKind(t *testing.T) {
	t.Setenv("P1", "pin")
	t.Setenv("P2", "password")
	p := ByKind(FromEnv("P1"), FromEnv("P2"))
	req := request(hsm.PINState{})
	r, _ := p(context.Background(), req)
	req.Kind = hsm.Password
	r2, _ := p(context.Background(), req)
	if string(r.PIN) != "pin" || string(r2.PIN) != "password" {
		t.Fatalf("%q %q", r.PIN, r2.PIN)
	}
	if _, err := ByKind(nil, nil)(context.Background(), req); !errors.Is(err, hsm.ErrCancelled) {
		t.Fatal(err)
	}
}
