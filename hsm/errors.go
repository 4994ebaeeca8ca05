package hsm

import (
	"errors"
	"fmt"
)

// Sentinel errors callers act on. Backends wrap them with context
// (fmt.Errorf("sign with %s: %w", uri, ErrKeyNotFound)); test with errors.Is.
// Each is a key store error (see keyStoreError).
var (
	ErrPINIncorrect   = newKeyStoreError("incorrect PIN or password")
	ErrPINLocked      = newKeyStoreError("PIN locked")
	ErrFinalTry       = newKeyStoreError("PIN is on its final try and the prompt did not confirm it")
	ErrTokenRemoved   = newKeyStoreError("token not present")
	ErrKeyNotFound    = newKeyStoreError("key not found")
	ErrCancelled      = newKeyStoreError("cancelled")
	ErrUnsupported    = newKeyStoreError("operation not supported")
	ErrInvalidURI     = newKeyStoreError("invalid key URI")
	ErrInvalidRequest = newKeyStoreError("invalid request")

	// Consent outcomes (agent/consent), kept here so every layer — host,
	// SDK, plugins — shares one value for errors.Is.
	ErrDenied  = newKeyStoreError("denied")
	ErrTimeout = newKeyStoreError("timed out waiting for a decision")
)

// keyStoreError is the type of the sentinel errors. Its KeyStoreError
// method implements cms.KeyStoreError, so that decryption in sdk/cms
// reports these errors (wrapped) instead of a bare decryption failure,
// without knowing this package's list of them.
type keyStoreError struct{ msg string }

func newKeyStoreError(msg string) error { return &keyStoreError{msg: msg} }

func (e *keyStoreError) Error() string { return e.msg }

// KeyStoreError marks the error as the key store's.
func (*keyStoreError) KeyStoreError() {}

// PINError is returned when a PIN or password was refused. It carries the
// token's PIN state after the attempt, so a prompt can show the tries left.
// It matches ErrPINIncorrect or ErrPINLocked with errors.Is.
type PINError struct {
	Token string   // token URI or label, for the message
	State PINState // after the failed attempt
	Err   error    // ErrPINIncorrect or ErrPINLocked
}

func (e *PINError) Error() string {
	msg := fmt.Sprintf("%s: %v", e.Token, e.Err)
	switch {
	case e.State.Locked:
		// the wrapped error already says locked, or says so now
		if !errors.Is(e.Err, ErrPINLocked) {
			msg += " (PIN now locked)"
		}
	case e.State.FinalTry:
		msg += " (one try left)"
	case e.State.Retries > 0:
		msg += fmt.Sprintf(" (%d tries left)", e.State.Retries)
	case e.State.CountLow:
		msg += " (tries left are low)"
	}
	return msg
}

func (e *PINError) Unwrap() error { return e.Err }
