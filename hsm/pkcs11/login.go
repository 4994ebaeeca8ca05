package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
)

// ensureLogin makes sure the token s is logged in as the user, asking for
// the PIN through the prompt when needed. key is shown to the prompt.
func (b *Backend) ensureLogin(ctx context.Context, s tokenState, h p11.SessionHandle, key *hsm.KeyInfo) error {
	t := s.tok
	if !s.info.Flags.LoginRequired {
		return nil
	}
	if t.login.Load() == s.gen {
		idle := b.cfg.Login.IdleTimeout
		if idle == 0 {
			return nil
		}
		now := time.Now().UnixNano()
		if time.Duration(now-t.lastUse.Load()) <= idle {
			t.lastUse.Store(now)
			return nil
		}
		// idle too long: log out, then ask again
		if t.login.CompareAndSwap(s.gen, 0) {
			t.epoch.Add(1) // a listing made logged in shows private objects
			_ = b.api.Logout(h)
		}
	}

	// One login at a time per token; waiting for it honours ctx.
	select {
	case t.loginSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("log in to token %q: %w: %w", t.label, hsm.ErrCancelled, ctx.Err())
	}
	defer func() { <-t.loginSem }()

	done := t.login.Load() == s.gen
	if !done {
		// Logged in already by someone else in this process (login state is
		// per process and token)?
		if si, err := b.api.GetSessionInfo(h); err == nil &&
			(si.State == p11.CKS_RO_USER_FUNCTIONS || si.State == p11.CKS_RW_USER_FUNCTIONS) {
			done = true
		}
	}
	if !done {
		if err := b.login(ctx, s, h, p11.CKU_USER, hsm.UserPIN, key); err != nil {
			return err
		}
	}
	t.lastUse.Store(time.Now().UnixNano())
	t.login.Store(s.gen)
	t.epoch.Add(1) // a listing made before login lacks the private keys' attributes
	return nil
}

// markLoggedOut records that the token logged us out (CKR_USER_NOT_LOGGED_IN).
func (b *Backend) markLoggedOut(s tokenState) {
	if s.tok.login.CompareAndSwap(s.gen, 0) {
		s.tok.epoch.Add(1)
	}
}

// login runs C_Login as userType (CKU_USER, or CKU_CONTEXT_SPECIFIC right
// after C_SignInit/C_DecryptInit), asking the prompt for the PIN up to
// maxPINAttempts times. It never tries a PIN when the token says final try
// unless the prompt confirmed it, never prompts when the PIN is locked, and
// on a token with a PIN pad logs in without a PIN.
func (b *Backend) login(ctx context.Context, s tokenState, h p11.SessionHandle, userType uint, kind hsm.PINKind, key *hsm.KeyInfo) error {
	t := s.tok
	var lastErr error
	for attempt := 1; ; attempt++ {
		ti, err := b.api.GetTokenInfo(s.slot)
		if err != nil {
			return fmt.Errorf("log in to token %q: %w", t.label, mapErr(err))
		}
		info := b.tokenInfo(ti)
		state := info.Flags.PIN
		if state.Locked {
			return &hsm.PINError{Token: fmt.Sprintf("token %q", t.label), State: state, Err: hsm.ErrPINLocked}
		}
		if info.Flags.ProtectedAuthPath {
			// The PIN is entered on the reader's pad: C_Login with no PIN.
			err := b.api.Login(h, userType, "")
			if err == nil || isCode(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
				return nil
			}
			return b.loginFailure(s, err)
		}
		if attempt > maxPINAttempts && lastErr != nil {
			return lastErr
		}
		if b.cfg.PINPrompt == nil {
			return fmt.Errorf("log in to token %q: no PIN prompt configured: %w", t.label, hsm.ErrCancelled)
		}
		resp, err := b.cfg.PINPrompt(ctx, hsm.PINRequest{
			Kind: kind, Token: info, Key: key, State: state, Attempt: attempt, LastError: lastErr,
		})
		if err != nil {
			hsm.Wipe(resp.PIN)
			if !errors.Is(err, hsm.ErrCancelled) {
				err = fmt.Errorf("%w: %w", hsm.ErrCancelled, err)
			}
			if lastErr != nil {
				return fmt.Errorf("log in to token %q: %w (after %w)", t.label, err, lastErr)
			}
			return fmt.Errorf("log in to token %q: %w", t.label, err)
		}
		if state.FinalTry && !resp.ConfirmFinalTry {
			hsm.Wipe(resp.PIN)
			return fmt.Errorf("log in to token %q: %w", t.label, hsm.ErrFinalTry)
		}
		err = b.api.Login(h, userType, pinString(resp.PIN))
		hsm.Wipe(resp.PIN)
		if err == nil || isCode(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
			return nil
		}
		lerr := b.loginFailure(s, err)
		var pe *hsm.PINError
		if !errors.As(lerr, &pe) || errors.Is(pe, hsm.ErrPINLocked) {
			return lerr
		}
		lastErr = lerr
	}
}

// loginFailure turns a C_Login error into a *hsm.PINError carrying the PIN
// state read again from the token, or a mapped error.
func (b *Backend) loginFailure(s tokenState, err error) error {
	if !isCode(err, p11.CKR_PIN_INCORRECT, p11.CKR_PIN_INVALID, p11.CKR_PIN_LEN_RANGE, p11.CKR_PIN_LOCKED) {
		return fmt.Errorf("log in to token %q: %w", s.tok.label, mapErr(err))
	}
	state := hsm.PINState{Retries: -1, Locked: isCode(err, p11.CKR_PIN_LOCKED)}
	if ti, e := b.api.GetTokenInfo(s.slot); e == nil {
		st := pinState(ti.Flags)
		st.Locked = st.Locked || state.Locked
		state = st
	}
	pe := &hsm.PINError{Token: fmt.Sprintf("token %q", s.tok.label), State: state, Err: hsm.ErrPINIncorrect}
	if state.Locked {
		pe.Err = hsm.ErrPINLocked
	}
	return fmt.Errorf("%w (%w)", pe, err)
}

// pinString views pin as a string without copying it to the Go heap, so
// wiping pin wipes the only Go copy. (miekg/pkcs11 copies it to C memory
// for the call and frees that copy without wiping it — a limitation of the
// library, noted in docs/key-store.md.)
func pinString(pin []byte) string {
	if len(pin) == 0 {
		return ""
	}
	return unsafe.String(&pin[0], len(pin))
}
