package hsm

import (
	"context"
	"time"
)

// PINKind says which secret a prompt asks for.
type PINKind int

const (
	// UserPIN is a token's user PIN (C_Login CKU_USER).
	UserPIN PINKind = iota
	// ContextPIN is the context-specific PIN a CKA_ALWAYS_AUTHENTICATE key
	// needs before each use (C_Login CKU_CONTEXT_SPECIFIC).
	ContextPIN
	// Password is a PFX file's password.
	Password
)

func (k PINKind) String() string {
	switch k {
	case UserPIN:
		return "user PIN"
	case ContextPIN:
		return "key PIN"
	case Password:
		return "password"
	}
	return "secret"
}

// PINRequest is what a PIN prompt must show the person.
type PINRequest struct {
	Kind  PINKind
	Token TokenInfo
	// Key is the key about to be used, when the login is for one key's use.
	Key *KeyInfo
	// State is the token's PIN state now: tries low, final try, locked.
	State PINState
	// Attempt counts prompts for this operation: 1 first, 2 after one wrong
	// PIN, and so on.
	Attempt int
	// LastError is the error of the previous attempt (a *PINError), or nil.
	LastError error
}

// PINResponse is the prompt's answer.
type PINResponse struct {
	// PIN is the secret. The backend wipes the slice after use; the prompt
	// must not keep a copy.
	PIN []byte
	// ConfirmFinalTry must be set when Request.State.FinalTry is set: the
	// person saw that this is the final try and chose to go on. Without it
	// the backend refuses with ErrFinalTry and does not try the PIN.
	ConfirmFinalTry bool
}

// PINPrompt asks for a PIN or password. ctx is the caller's context: the host
// attaches its description of the operation (origin, document) to it. A
// prompt that the person dismisses returns an error wrapping ErrCancelled.
type PINPrompt func(ctx context.Context, req PINRequest) (PINResponse, error)

// Wipe overwrites b with zeros. Use it on every PIN slice when done.
func Wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// LoginPolicy says how long a successful login (or an unlocked PFX key) is
// kept.
type LoginPolicy struct {
	// IdleTimeout drops the login after this long without use. Zero keeps it
	// until the token is removed or the store is closed.
	IdleTimeout time.Duration
}
