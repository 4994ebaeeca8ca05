package prompt

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/signet-agent/signet/hsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
				require.ErrorIs(t, err, c.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, c.wantPIN, string(resp.PIN), "response PIN")
			require.Equal(t, c.wantConfirm, resp.ConfirmFinalTry, "response confirm")
			for _, w := range c.wantShown {
				assert.Contains(t, s.out.String(), w, "output lacks %q", w)
			}
			if c.wantPIN != "" {
				assert.NotContains(t, s.out.String(), c.wantPIN, "output echoes the PIN")
			}
			assert.Equal(t, c.wantSecrets, s.secrets, "secret reads")
		})
	}
}

func TestLockedIsNotAsked(t *testing.T) {
	opened := false
	p := WithConsole(func() (Console, error) { opened = true; return &script{}, nil })
	_, err := p(context.Background(), request(hsm.PINState{Locked: true}))
	require.ErrorIs(t, err, hsm.ErrPINLocked)
	require.False(t, opened, "the console was opened for a locked token")
	_, err = FromEnv("X")(context.Background(), request(hsm.PINState{Locked: true}))
	require.ErrorIs(t, err, hsm.ErrPINLocked, "env")
}

func TestNoTerminal(t *testing.T) {
	p := WithConsole(func() (Console, error) { return nil, os.ErrNotExist })
	_, err := p(context.Background(), request(hsm.PINState{}))
	require.ErrorIs(t, err, hsm.ErrCancelled)
	require.ErrorContains(t, err, "SIGNET_PIN")
}

func TestFromEnv(t *testing.T) {
	t.Setenv("SIGNET_TEST_PIN", "4321")
	p := FromEnv("SIGNET_TEST_PIN")
	ctx := context.Background()
	resp, err := p(ctx, request(hsm.PINState{}))
	require.NoError(t, err)
	require.Equal(t, "4321", string(resp.PIN))
	// A second attempt means the secret was wrong: do not repeat it.
	req := request(hsm.PINState{})
	req.Attempt = 2
	req.LastError = &hsm.PINError{Token: "t", Err: hsm.ErrPINIncorrect}
	_, err = p(ctx, req)
	require.ErrorIs(t, err, hsm.ErrPINIncorrect, "second attempt")
	require.NotContains(t, err.Error(), "4321", "second attempt")
	_, err = p(ctx, request(hsm.PINState{FinalTry: true}))
	require.ErrorIs(t, err, hsm.ErrFinalTry, "final try")
	_, err = FromEnv("SIGNET_TEST_UNSET_VAR")(ctx, request(hsm.PINState{}))
	require.ErrorIs(t, err, hsm.ErrCancelled, "unset")
	require.ErrorContains(t, err, "SIGNET_TEST_UNSET_VAR", "unset")
}

func TestFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pin")
	require.NoError(t, os.WriteFile(path, []byte("пароль 1\r\n"), 0o600))
	resp, err := FromFile(path)(context.Background(), request(hsm.PINState{}))
	require.NoError(t, err)
	require.Equal(t, "пароль 1", string(resp.PIN))
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, make([]byte, maxSecretFile+1), 0o600))
	_, err = FromFile(big)(context.Background(), request(hsm.PINState{}))
	require.Error(t, err, "oversized PIN file accepted")
	_, err = FromFile(filepath.Join(dir, "none"))(context.Background(), request(hsm.PINState{}))
	require.Error(t, err, "missing PIN file accepted")
}

func TestByKind(t *testing.T) {
	t.Setenv("P1", "pin")
	t.Setenv("P2", "password")
	p := ByKind(FromEnv("P1"), FromEnv("P2"))
	req := request(hsm.PINState{})
	r, _ := p(context.Background(), req)
	req.Kind = hsm.Password
	r2, _ := p(context.Background(), req)
	require.Equal(t, "pin", string(r.PIN))
	require.Equal(t, "password", string(r2.PIN))
	_, err := ByKind(nil, nil)(context.Background(), req)
	require.ErrorIs(t, err, hsm.ErrCancelled)
}
