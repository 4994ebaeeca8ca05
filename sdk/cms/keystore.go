package cms

import (
	"context"
	"errors"
)

// KeyStoreError is implemented by the errors of a key store that the
// caller of Decrypt acts on — a PIN refused or cancelled, a token removed,
// consent denied, an unsupported mechanism — and must therefore see. The
// sentinel errors of package hsm (and of package sdk, which are the same
// values) implement it, so a key adapter over either passes them on as they
// are; another key store marks its own errors with the method.
//
// Decrypt wraps a key error that implements KeyStoreError (anywhere in its
// chain, as errors.As finds it), or is a context error, so errors.Is finds
// it. Any other failure of an RSA key's Decrypt becomes the bare
// ErrDecryptionFailed, so that the caller (and whoever sent the message)
// cannot tell a padding failure from a later one.
type KeyStoreError interface {
	error
	// KeyStoreError marks the error; it does nothing.
	KeyStoreError()
}

// isKeyStoreError reports whether err from the recipient's key is one
// Decrypt passes on (see KeyStoreError).
func isKeyStoreError(err error) bool {
	var ks KeyStoreError
	return errors.As(err, &ks) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
