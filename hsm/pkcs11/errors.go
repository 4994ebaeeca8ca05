package pkcs11

import (
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
)

// code returns the PKCS#11 return value in err, or 0.
func code(err error) p11.Error {
	var e p11.Error
	if errors.As(err, &e) {
		return e
	}
	return 0
}

func isCode(err error, codes ...p11.Error) bool {
	c := code(err)
	if c == 0 {
		return false
	}
	for _, x := range codes {
		if c == x {
			return true
		}
	}
	return false
}

// removedCodes say the token (or our view of it) is gone: the backend drops
// the token's sessions and login and rescans the slots.
var removedCodes = []p11.Error{
	p11.CKR_DEVICE_REMOVED, p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_SLOT_ID_INVALID,
	p11.CKR_TOKEN_NOT_RECOGNIZED,
}

// staleCodes say our sessions are gone though the token may still be there.
var staleCodes = []p11.Error{p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED}

// sessionBroken reports whether a session that returned err must not be
// reused.
func sessionBroken(err error) bool {
	return isCode(err, removedCodes...) || isCode(err, staleCodes...) || isCode(err, p11.CKR_DEVICE_ERROR)
}

// mapErr wraps a PKCS#11 error with the hsm sentinel callers act on. The
// PKCS#11 error stays in the chain, so its name (CKR_…) is in the message.
func mapErr(err error) error {
	c, ok := err.(p11.Error)
	if !ok {
		return err // nil, or already wrapped with context
	}
	var s error
	switch c {
	case p11.CKR_PIN_INCORRECT, p11.CKR_PIN_INVALID, p11.CKR_PIN_LEN_RANGE:
		s = hsm.ErrPINIncorrect
	case p11.CKR_PIN_LOCKED:
		s = hsm.ErrPINLocked
	case p11.CKR_DEVICE_REMOVED, p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_SLOT_ID_INVALID, p11.CKR_TOKEN_NOT_RECOGNIZED:
		s = hsm.ErrTokenRemoved
	case p11.CKR_MECHANISM_INVALID, p11.CKR_MECHANISM_PARAM_INVALID, p11.CKR_FUNCTION_NOT_SUPPORTED,
		p11.CKR_KEY_TYPE_INCONSISTENT, p11.CKR_KEY_FUNCTION_NOT_PERMITTED, p11.CKR_CURVE_NOT_SUPPORTED,
		p11.CKR_DOMAIN_PARAMS_INVALID:
		s = hsm.ErrUnsupported
	case p11.CKR_FUNCTION_CANCELED:
		s = hsm.ErrCancelled
	case p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_KEY_HANDLE_INVALID:
		s = hsm.ErrKeyNotFound
	case p11.CKR_DATA_LEN_RANGE, p11.CKR_ENCRYPTED_DATA_INVALID, p11.CKR_ENCRYPTED_DATA_LEN_RANGE,
		p11.CKR_ARGUMENTS_BAD, p11.CKR_TEMPLATE_INCONSISTENT, p11.CKR_TEMPLATE_INCOMPLETE:
		s = hsm.ErrInvalidRequest
	default:
		return err
	}
	return fmt.Errorf("%w: %w", s, err)
}
