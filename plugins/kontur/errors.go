package kontur

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/signet-agent/signet/plugins/kontur/store"
	"github.com/signet-agent/signet/sdk"
)

// apiError is Kontur's error object.
type apiError struct {
	ID         string         `json:"id"`
	StatusCode int            `json:"status-code"`
	Message    string         `json:"message"`
	TrackID    string         `json:"track-id,omitempty"`
	TraceID    string         `json:"trace-id,omitempty"`
	Context    map[string]any `json:"context,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

func newError(status int, id, format string, args ...any) *apiError {
	return &apiError{ID: "urn:error:externapi:" + id, StatusCode: status, Message: fmt.Sprintf(format, args...)}
}

// toAPIError maps an error to the error object the caller gets. Errors
// that carry no meaning for the caller become a 500 whose message says only
// what failed, never a key, a code or a database detail.
func toAPIError(err error) *apiError {
	var ae *apiError
	var conflict *store.ConflictError
	var wrong *store.WrongCodeError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &conflict):
		e := newError(http.StatusConflict, "concurrentApiTaskActive", "There is an active concurrent operation")
		e.Context = map[string]any{"concurrent-task": map[string]string{"id": conflict.TaskID, "task-type": conflict.TaskType}}
		return e
	case errors.As(err, &wrong):
		e := newError(http.StatusBadRequest, "invalidConfirmationCode", "The confirmation code is wrong")
		e.Context = map[string]any{"attempts-left": wrong.AttemptsLeft}
		return e
	case errors.Is(err, store.ErrAttemptsExceeded):
		return newError(http.StatusForbidden, "confirmationAttemptsExceeded", "Too many wrong confirmation codes: the request is cancelled; start a new one")
	case errors.Is(err, store.ErrExpired):
		return newError(http.StatusGone, "confirmationCodeExpired", "The confirmation code expired: start a new request")
	case errors.Is(err, store.ErrNotAwaiting):
		return newError(http.StatusGone, "requestNotAwaitingConfirmation", "The request was already confirmed, replaced or cancelled")
	case errors.Is(err, store.ErrNotFound):
		return newError(http.StatusNotFound, "notFound", "No such request, task or document for this account")
	case errors.Is(err, store.ErrTooLarge):
		return newError(http.StatusRequestEntityTooLarge, "contentTooLarge", "%v", err)
	case errors.Is(err, errUnauthorized):
		return newError(http.StatusUnauthorized, "unauthorized", "%v", err)
	case errors.Is(err, errIssuerUnavailable), errors.Is(err, errDelivery):
		return newError(http.StatusServiceUnavailable, "serviceUnavailable", "%v", err)
	case errors.Is(err, sdk.ErrDenied):
		return newError(http.StatusForbidden, "accessDenied", "The agent's policy does not allow this account to use its key")
	case errors.Is(err, sdk.ErrKeyNotFound):
		return newError(http.StatusServiceUnavailable, "keyUnavailable", "The account's key is not available (token absent or locked)")
	case isDatabaseDown(err):
		return newError(http.StatusServiceUnavailable, "serviceUnavailable", "The database is unavailable; retry later")
	}
	return newError(http.StatusInternalServerError, "internalError", "The operation failed")
}

func writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := toAPIError(err)
	e.TraceID = r.Header.Get("X-Request-Id")
	writeJSON(w, e.StatusCode, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
