package cms

import (
	"crypto/x509"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
)

// ownKeyStoreError is a key store's own error, marked as KeyStoreError.
type ownKeyStoreError struct{}

func (ownKeyStoreError) Error() string  { return "vendor token asleep" }
func (ownKeyStoreError) KeyStoreError() {}

// TestDecryptPassesEveryKeyStoreError checks that Decrypt passes on each of
// the key store's sentinel errors (and a key store's own marked error)
// wrapped, while an unmarked error of the key is the bare
// ErrDecryptionFailed. cms knows none of them by name.
func TestDecryptPassesEveryKeyStoreError(t *testing.T) {
	r := envFixture(t)["rsa2048"]
	der, err := Encrypt([]byte("x"), []*x509.Certificate{r.cert}, EncryptOptions{})
	require.NoError(t, err)

	visible := []error{
		hsm.ErrPINIncorrect, hsm.ErrPINLocked, hsm.ErrFinalTry, hsm.ErrTokenRemoved,
		hsm.ErrKeyNotFound, hsm.ErrCancelled, hsm.ErrUnsupported, hsm.ErrInvalidURI,
		hsm.ErrInvalidRequest, hsm.ErrDenied, hsm.ErrTimeout, ownKeyStoreError{},
	}
	for _, want := range visible {
		require.Implements(t, (*KeyStoreError)(nil), want)
		keyErr := fmt.Errorf("key store: %w", want)
		_, err := Decrypt(der, r.cert, &envFailingDecrypter{pub: r.cert.PublicKey, err: keyErr})
		assert.ErrorIs(t, err, want, "key error %q", keyErr)
		assert.NotErrorIs(t, err, ErrDecryptionFailed, "key error %q", keyErr)
	}

	_, err = Decrypt(der, r.cert, &envFailingDecrypter{pub: r.cert.PublicKey, err: errors.New("vendor: 0x80000001")})
	assert.Same(t, ErrDecryptionFailed, err, "an unmarked key error is the bare ErrDecryptionFailed")
}
