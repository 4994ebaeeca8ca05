package hsm

import (
	"errors"
	"fmt"
)

// Sentinel errors callers act on. Backends wrap them with context
// (fmt.Errorf("sign with %s: %w", uri, ErrKeyNotFound)); test with errors.Is.
var (
	ErrPINIncorrect   = errors.New("incorrect PIN or password")
	ErrPINLocked      = errors.New("PIN locked")
	ErrFinalTry       = errors.New("PIN is on its final try and the prompt did not confirm it")
	ErrTokenRemoved   = errors.New("token not present")
	ErrKeyNotFound    = errors.New("key not found")
	ErrCancelled      = errors.New("cancelled")
	ErrUnsupported    = errors.New("operation not supported")
	ErrInvalidURI     = errors.New("invalid key URI")
	ErrInvalidRequest = errors.New("invalid request")

	// Consent outcomes (agent/consent), kept here so every layer — host,
	// SDK, plugins — shares one value for errors.Is.
	ErrDenied  = errors.New("denied")
	ErrTimeout = errors.New("timed out waiting for a decision")
)

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
