package store

import (
	"errors"
	"fmt"
)

// Errors callers act on (the API maps each to a status and error id).
var (
	// ErrNotFound: no such request, task or content for that account.
	ErrNotFound = errors.New("not found")
	// ErrWrongCode: the code does not match; attempts remain.
	ErrWrongCode = errors.New("wrong confirmation code")
	// ErrAttemptsExceeded: too many wrong codes; the request is dead.
	ErrAttemptsExceeded = errors.New("too many wrong confirmation codes")
	// ErrExpired: the request's code expired before it was confirmed.
	ErrExpired = errors.New("confirmation code expired")
	// ErrNotAwaiting: the request was already confirmed, finished or failed
	// (a code is good for one use).
	ErrNotAwaiting = errors.New("request is not awaiting a confirmation code")
	// ErrLeaseLost: another replica took the task over (this one was too
	// slow), so this replica's result is not kept.
	ErrLeaseLost = errors.New("task lease lost")
	// ErrTooLarge: an upload exceeds the configured size.
	ErrTooLarge = errors.New("content too large")
)

// ConflictError is the 409 of a lock scope that has an active request.
type ConflictError struct {
	TaskID   string
	TaskType string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("an active concurrent operation (task %s, %s)", e.TaskID, e.TaskType)
}

// WrongCodeError says how many attempts remain after a wrong code.
type WrongCodeError struct{ AttemptsLeft int }

func (e *WrongCodeError) Error() string {
	return fmt.Sprintf("wrong confirmation code (%d attempts left)", e.AttemptsLeft)
}

func (e *WrongCodeError) Unwrap() error { return ErrWrongCode }
