package wire

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-agent/signet/hsm"
	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
)

// kinds maps each sentinel error to its wire kind and gRPC code. Order
// matters: the first match wins (a PINError matches ErrPINIncorrect or
// ErrPINLocked through Unwrap).
var kinds = []struct {
	err  error
	kind pb.ErrorKind
	code codes.Code
}{
	{hsm.ErrPINLocked, pb.ErrorKind_PIN_LOCKED, codes.PermissionDenied},
	{hsm.ErrPINIncorrect, pb.ErrorKind_PIN_INCORRECT, codes.Unauthenticated},
	{hsm.ErrFinalTry, pb.ErrorKind_FINAL_TRY, codes.FailedPrecondition},
	{hsm.ErrTokenRemoved, pb.ErrorKind_TOKEN_REMOVED, codes.Unavailable},
	{hsm.ErrKeyNotFound, pb.ErrorKind_KEY_NOT_FOUND, codes.NotFound},
	{hsm.ErrDenied, pb.ErrorKind_DENIED, codes.PermissionDenied},
	{hsm.ErrTimeout, pb.ErrorKind_TIMEOUT, codes.DeadlineExceeded},
	{hsm.ErrCancelled, pb.ErrorKind_CANCELLED, codes.Canceled},
	{hsm.ErrUnsupported, pb.ErrorKind_UNSUPPORTED, codes.Unimplemented},
	{hsm.ErrInvalidURI, pb.ErrorKind_INVALID_URI, codes.InvalidArgument},
	{hsm.ErrInvalidRequest, pb.ErrorKind_INVALID_REQUEST, codes.InvalidArgument},
}

// ToStatus turns err into a gRPC status error carrying an ErrorDetail with
// the error's kind. The message is err's text, which by the project's rules
// never contains a secret. nil stays nil.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && !isWrapped(err) {
		return err // already a status (e.g. from a nested gRPC call)
	}
	detail := &pb.ErrorDetail{Kind: pb.ErrorKind_INTERNAL, Message: err.Error()}
	code := codes.Internal
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			detail.Kind, code = k.kind, k.code
			break
		}
	}
	if detail.Kind == pb.ErrorKind_INTERNAL {
		switch {
		case errors.Is(err, context.Canceled):
			detail.Kind, code = pb.ErrorKind_CANCELLED, codes.Canceled
		case errors.Is(err, context.DeadlineExceeded):
			detail.Kind, code = pb.ErrorKind_TIMEOUT, codes.DeadlineExceeded
		}
	}
	var pe *hsm.PINError
	if errors.As(err, &pe) {
		detail.PinState = PINStateToProto(pe.State)
		detail.Token = pe.Token
	}
	st, serr := status.New(code, err.Error()).WithDetails(detail)
	if serr != nil {
		return status.Error(code, err.Error())
	}
	return st.Err()
}

// isWrapped reports whether err is a wrapper around something (so its own
// text, not a nested status, is what we want to send).
func isWrapped(err error) bool { return errors.Unwrap(err) != nil }

// Error is an error received from the other side: its text, and the
// sentinel it matches with errors.Is.
type Error struct {
	Msg  string
	Kind pb.ErrorKind
	err  error // the sentinel, or nil
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.err }

// FromStatus turns a gRPC error back into an error that matches the same
// sentinel with errors.Is (a *hsm.PINError for PIN errors, carrying the
// token's PIN state). Transport failures (the other process died, the
// connection broke) come back as errors that say so. nil stays nil.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var detail *pb.ErrorDetail
	for _, d := range st.Details() {
		if ed, ok := d.(*pb.ErrorDetail); ok {
			detail = ed
			break
		}
	}
	if detail == nil {
		switch st.Code() {
		case codes.Canceled:
			return fmt.Errorf("%s: %w", st.Message(), context.Canceled)
		case codes.DeadlineExceeded:
			return fmt.Errorf("%s: %w", st.Message(), context.DeadlineExceeded)
		case codes.Unavailable:
			return fmt.Errorf("host or plugin unavailable (%s): %w", st.Message(), ErrUnavailable)
		case codes.Unimplemented:
			return fmt.Errorf("%s: %w", st.Message(), hsm.ErrUnsupported)
		}
		return fmt.Errorf("%s (%s)", st.Message(), st.Code())
	}
	var sentinel error
	for _, k := range kinds {
		if k.kind == detail.Kind {
			sentinel = k.err
			break
		}
	}
	e := &Error{Msg: detail.Message, Kind: detail.Kind, err: sentinel}
	if detail.Kind == pb.ErrorKind_PIN_INCORRECT || detail.Kind == pb.ErrorKind_PIN_LOCKED {
		// PINError formats token and tries itself; keep only the kind's text.
		e.Msg = sentinel.Error()
		return &hsm.PINError{Token: detail.Token, State: PINStateFromProto(detail.PinState), Err: e}
	}
	return e
}

// ErrUnavailable means the other process is gone or not reachable: a plugin
// crashed or is restarting, or the host is shutting down.
var ErrUnavailable = errors.New("unavailable")
