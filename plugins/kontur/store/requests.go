package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Request states.
const (
	StateAwaitingCode = "awaiting-code"
	StateRunning      = "running"
	StateSucceed      = "succeed"
	StateFailed       = "failed"
)

// Error ids a failed request carries (the API's error object "id").
const (
	ErrIDExpired          = "urn:error:externapi:confirmationCodeExpired"
	ErrIDAttemptsExceeded = "urn:error:externapi:confirmationAttemptsExceeded"
	ErrIDSuperseded       = "urn:error:externapi:requestSuperseded"
	ErrIDInterrupted      = "urn:error:externapi:taskInterrupted"
)

// Request is one cloud-sign or cloud-decrypt request and its task.
type Request struct {
	ID          string
	TaskID      string
	AccountID   string
	Kind        string // "sign" or "decrypt"
	Target      string
	LockScope   string
	KeyURI      string
	ConfirmType string
	State       string
	Attempts    int
	ExpiresAt   time.Time
	LeaseOwner  string
	ErrorID     string
	ErrorMsg    string
	Options     Options
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Options are a request's parameters beyond its target.
type Options struct {
	// Documents are the ids (and SHA-256, hex) of the contents the request
	// covers, fixed when it is created: a document uploaded later is not
	// signed with a code the person confirmed for others.
	Documents map[string]string `json:"documents,omitempty"`
	Unzip     bool              `json:"unzip,omitempty"`
}

// TaskType is the Kontur task type of the request's kind.
func (r Request) TaskType() string {
	if r.Kind == "decrypt" {
		return "urn:task-type:cloud-decrypt"
	}
	return "urn:task-type:cloud-sign"
}

// NewRequest describes a request to create.
type NewRequest struct {
	AccountID   string
	Kind        string
	Target      string
	LockScope   string
	KeyURI      string
	ConfirmType string
	// Code is the one-time code to confirm with; empty starts the request
	// running at once, leased to this replica (confirm-type none).
	Code         string
	TTL          time.Duration // how long the code is good for
	Lease        time.Duration // the lease of a request that starts running
	Options      Options
	KeepTestCode bool // also store the code in clear for the test-tools endpoint
}

const requestColumns = `id, task_id, account_id, kind, target, lock_scope, key_uri, confirm_type, state,
	attempts, expires_at, coalesce(lease_owner, ''), coalesce(error_id, ''), coalesce(error_message, ''),
	options, created_at, updated_at`

func scanRequest(row pgx.Row) (Request, error) {
	var r Request
	var opts []byte
	err := row.Scan(&r.ID, &r.TaskID, &r.AccountID, &r.Kind, &r.Target, &r.LockScope, &r.KeyURI,
		&r.ConfirmType, &r.State, &r.Attempts, &r.ExpiresAt, &r.LeaseOwner, &r.ErrorID, &r.ErrorMsg,
		&opts, &r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(opts, &r.Options)
}

// CreateRequest records a new request. An earlier request of the same
// target still awaiting its code is superseded, one whose code expired is
// failed; any other active request in the lock scope makes this one a
// *ConflictError (the 409), whichever replica holds it.
func (s *Store) CreateRequest(ctx context.Context, n NewRequest) (Request, error) {
	id, taskID := newUUID(), newUUID()
	state, leaseOwner := StateAwaitingCode, any(nil)
	var salt, hash []byte
	if n.Code == "" {
		state, leaseOwner = StateRunning, s.replica
	} else {
		salt = make([]byte, 16)
		_, _ = rand.Read(salt)
		hash = codeHash(salt, n.Code)
	}
	opts, err := json.Marshal(n.Options)
	if err != nil {
		return Request{}, err
	}
	var req Request
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.closeStale(ctx, tx, n.LockScope, n.Target); err != nil {
			return err
		}
		row := tx.QueryRow(ctx, `INSERT INTO requests (id, task_id, account_id, kind, target, lock_scope, key_uri,
			confirm_type, state, code_salt, code_hash, expires_at, lease_owner, lease_until, options)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now() + $12 * interval '1 microsecond',
			$13, CASE WHEN $13::text IS NULL THEN NULL ELSE now() + $14 * interval '1 microsecond' END, $15)
			RETURNING `+requestColumns,
			id, taskID, n.AccountID, n.Kind, n.Target, n.LockScope, n.KeyURI, n.ConfirmType, state, salt, hash,
			n.TTL.Microseconds(), leaseOwner, n.Lease.Microseconds(), opts)
		var err error
		if req, err = scanRequest(row); err != nil {
			return err
		}
		if n.KeepTestCode && n.Code != "" {
			if _, err := tx.Exec(ctx, "INSERT INTO test_codes (request_id, code) VALUES ($1, $2)", id, n.Code); err != nil {
				return err
			}
		}
		return s.appendRecord(ctx, tx, "request", n.AccountID, id, map[string]any{
			"task": taskID, "kind": n.Kind, "target": n.Target, "key": n.KeyURI,
			"confirm-type": n.ConfirmType, "documents": n.Options.Documents,
		})
	})
	if isUniqueViolation(err, "requests_one_active") {
		return Request{}, s.conflict(ctx, n.LockScope)
	}
	if err != nil {
		return Request{}, fmt.Errorf("create request: %w", err)
	}
	return req, nil
}

// closeStale fails the scope's expired requests and supersedes the
// target's own request still waiting for its code.
func (s *Store) closeStale(ctx context.Context, tx pgx.Tx, scope, target string) error {
	rows, err := tx.Query(ctx, `UPDATE requests SET state = 'failed', updated_at = now(),
		error_id = CASE WHEN expires_at < now() THEN $3 ELSE $4 END,
		error_message = CASE WHEN expires_at < now() THEN 'the confirmation code expired' ELSE 'a newer request for the same document replaced it' END
		WHERE lock_scope = $1 AND state = 'awaiting-code' AND (expires_at < now() OR target = $2)
		RETURNING id, account_id, error_id`, scope, target, ErrIDExpired, ErrIDSuperseded)
	if err != nil {
		return err
	}
	type closed struct{ id, account, reason string }
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (closed, error) {
		var c closed
		return c, row.Scan(&c.id, &c.account, &c.reason)
	})
	if err != nil {
		return err
	}
	for _, c := range list {
		if err := s.appendRecord(ctx, tx, "request-closed", c.account, c.id, map[string]any{"reason": c.reason}); err != nil {
			return err
		}
	}
	return nil
}

// conflict builds the 409 for the active request of scope.
func (s *Store) conflict(ctx context.Context, scope string) error {
	row := s.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM requests
		WHERE lock_scope = $1 AND state IN ('awaiting-code', 'running')`, scope)
	other, err := scanRequest(row)
	if err != nil {
		// The other request finished in between: still a conflict of the
		// moment; the caller may retry.
		return &ConflictError{TaskType: "urn:task-type:cloud-sign"}
	}
	return &ConflictError{TaskID: other.TaskID, TaskType: other.TaskType()}
}

// Claim checks code for request id of account and, when it matches, moves
// the request to running with a lease to this replica, in one transaction:
// of two replicas racing with the right code, one wins and the other gets
// ErrNotAwaiting. A wrong code costs an attempt (*WrongCodeError); the
// last allowed one kills the request (ErrAttemptsExceeded).
func (s *Store) Claim(ctx context.Context, account, id, target, code string, maxAttempts int, lease time.Duration) (Request, error) {
	var req Request
	var outcome error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		outcome = nil
		row := tx.QueryRow(ctx, `SELECT `+requestColumns+`, code_salt, code_hash, expires_at < now()
			FROM requests WHERE id = $1 AND account_id = $2 FOR UPDATE`, id, account)
		var salt, hash []byte
		var expired bool
		var opts []byte
		r := &req
		err := row.Scan(&r.ID, &r.TaskID, &r.AccountID, &r.Kind, &r.Target, &r.LockScope, &r.KeyURI,
			&r.ConfirmType, &r.State, &r.Attempts, &r.ExpiresAt, &r.LeaseOwner, &r.ErrorID, &r.ErrorMsg,
			&opts, &r.CreatedAt, &r.UpdatedAt, &salt, &hash, &expired)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && r.Target != target) {
			outcome = ErrNotFound
			return nil
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(opts, &r.Options); err != nil {
			return err
		}
		switch {
		case r.State != StateAwaitingCode:
			outcome = ErrNotAwaiting
			return s.appendRecord(ctx, tx, "code-refused", account, id, map[string]any{"reason": "request is " + r.State})
		case expired:
			outcome = ErrExpired
			return s.failLocked(ctx, tx, r, ErrIDExpired, "the confirmation code expired")
		case subtle.ConstantTimeCompare(hash, codeHash(salt, code)) != 1:
			r.Attempts++
			left := maxAttempts - r.Attempts
			if left <= 0 {
				outcome = ErrAttemptsExceeded
				if _, err := tx.Exec(ctx, "UPDATE requests SET attempts = $2 WHERE id = $1", id, r.Attempts); err != nil {
					return err
				}
				return s.failLocked(ctx, tx, r, ErrIDAttemptsExceeded, "too many wrong confirmation codes")
			}
			outcome = &WrongCodeError{AttemptsLeft: left}
			if _, err := tx.Exec(ctx, "UPDATE requests SET attempts = $2, updated_at = now() WHERE id = $1", id, r.Attempts); err != nil {
				return err
			}
			return s.appendRecord(ctx, tx, "code-rejected", account, id, map[string]any{"attempt": r.Attempts, "attempts-left": left})
		}
		_, err = tx.Exec(ctx, `UPDATE requests SET state = 'running', code_hash = NULL, code_salt = NULL,
			lease_owner = $2, lease_until = now() + $3 * interval '1 microsecond', updated_at = now() WHERE id = $1`,
			id, s.replica, lease.Microseconds())
		if err != nil {
			return err
		}
		r.State, r.LeaseOwner = StateRunning, s.replica
		return s.appendRecord(ctx, tx, "code-accepted", account, id, map[string]any{"attempt": r.Attempts + 1, "task": r.TaskID})
	})
	if err != nil {
		return Request{}, fmt.Errorf("confirm request: %w", err)
	}
	return req, outcome
}

// failLocked marks a locked request failed with its journal record.
func (s *Store) failLocked(ctx context.Context, tx pgx.Tx, r *Request, errID, msg string) error {
	_, err := tx.Exec(ctx, `UPDATE requests SET state = 'failed', error_id = $2, error_message = $3,
		lease_owner = NULL, lease_until = NULL, updated_at = now() WHERE id = $1`, r.ID, errID, msg)
	if err != nil {
		return err
	}
	r.State, r.ErrorID, r.ErrorMsg = StateFailed, errID, msg
	return s.appendRecord(ctx, tx, "request-failed", r.AccountID, r.ID, map[string]any{"reason": errID, "message": msg})
}

// Cancel fails a request still awaiting its code (its code could not be
// delivered, say), so that the lock scope is free again.
func (s *Store) Cancel(ctx context.Context, r Request, errID, msg string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE requests SET state = 'failed', error_id = $2, error_message = $3,
			code_hash = NULL, code_salt = NULL, updated_at = now() WHERE id = $1 AND state = 'awaiting-code'`, r.ID, errID, msg)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return ErrNotAwaiting
		}
		return s.appendRecord(ctx, tx, "request-failed", r.AccountID, r.ID, map[string]any{"reason": errID, "message": msg})
	})
	if err != nil {
		return fmt.Errorf("cancel request %s: %w", r.ID, err)
	}
	return nil
}

// Finish stores a running task's results and marks it succeeded, if this
// replica still holds its lease (else ErrLeaseLost and nothing is kept).
// detail goes into the journal record (digests of what was produced).
func (s *Store) Finish(ctx context.Context, r Request, results map[string][]byte, detail map[string]any) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.holdLease(ctx, tx, r, StateSucceed, "", ""); err != nil {
			return err
		}
		for doc, data := range results {
			if _, err := tx.Exec(ctx, "INSERT INTO results (task_id, document_id, data) VALUES ($1, $2, $3)", r.TaskID, doc, data); err != nil {
				return err
			}
		}
		return s.appendRecord(ctx, tx, "task-succeeded", r.AccountID, r.ID, detail)
	})
	if err != nil {
		return fmt.Errorf("finish task %s: %w", r.TaskID, err)
	}
	return nil
}

// Fail marks a running task failed, if this replica still holds its lease.
func (s *Store) Fail(ctx context.Context, r Request, errID, msg string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.holdLease(ctx, tx, r, StateFailed, errID, msg); err != nil {
			return err
		}
		return s.appendRecord(ctx, tx, "task-failed", r.AccountID, r.ID, map[string]any{"reason": errID, "message": msg})
	})
	if err != nil {
		return fmt.Errorf("fail task %s: %w", r.TaskID, err)
	}
	return nil
}

// holdLease moves r from running (leased to this replica) to state.
func (s *Store) holdLease(ctx context.Context, tx pgx.Tx, r Request, state, errID, msg string) error {
	tag, err := tx.Exec(ctx, `UPDATE requests SET state = $2, error_id = nullif($3, ''), error_message = nullif($4, ''),
		lease_owner = NULL, lease_until = NULL, updated_at = now()
		WHERE task_id = $1 AND state = 'running' AND lease_owner = $5`, r.TaskID, state, errID, msg, s.replica)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return ErrLeaseLost
	}
	return nil
}

// Sweep fails running tasks whose lease ran out (their replica died or
// lost the database mid-task: a task that may have reached the key is
// never run again) and requests whose code expired, returning how many.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE requests SET updated_at = now(), lease_owner = NULL, lease_until = NULL,
			error_id = CASE WHEN state = 'running' THEN $1 ELSE $2 END,
			error_message = CASE WHEN state = 'running' THEN 'the replica running the task stopped before it finished'
				ELSE 'the confirmation code expired' END,
			state = 'failed'
			WHERE (state = 'running' AND lease_until < now()) OR (state = 'awaiting-code' AND expires_at < now())
			RETURNING id, account_id, error_id`, ErrIDInterrupted, ErrIDExpired)
		if err != nil {
			return err
		}
		type swept struct{ id, account, reason string }
		list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (swept, error) {
			var w swept
			return w, row.Scan(&w.id, &w.account, &w.reason)
		})
		if err != nil {
			return err
		}
		for _, w := range list {
			if err := s.appendRecord(ctx, tx, "request-failed", w.account, w.id, map[string]any{"reason": w.reason, "by": "sweep"}); err != nil {
				return err
			}
		}
		n = len(list)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	return n, nil
}

// Task returns the request whose task id is taskID, for account.
func (s *Store) Task(ctx context.Context, account, taskID string) (Request, error) {
	return s.oneRequest(ctx, "task_id = $1 AND account_id = $2", taskID, account)
}

// Request returns the request id of account.
func (s *Store) Request(ctx context.Context, account, id string) (Request, error) {
	return s.oneRequest(ctx, "id = $1 AND account_id = $2", id, account)
}

func (s *Store) oneRequest(ctx context.Context, where string, args ...any) (Request, error) {
	if !validUUID(args[0].(string)) {
		return Request{}, ErrNotFound
	}
	r, err := scanRequest(s.pool.QueryRow(ctx, `SELECT `+requestColumns+` FROM requests WHERE `+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return Request{}, ErrNotFound
	}
	if err != nil {
		return Request{}, fmt.Errorf("read request: %w", err)
	}
	return r, nil
}

// TestCode returns the clear code of request id (test-tools only).
func (s *Store) TestCode(ctx context.Context, id string) (string, error) {
	if !validUUID(id) {
		return "", ErrNotFound
	}
	var code string
	err := s.pool.QueryRow(ctx, "SELECT code FROM test_codes WHERE request_id = $1", id).Scan(&code)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	return code, err
}

// codeHash is SHA-256 over a per-request random salt and the code.
func codeHash(salt []byte, code string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(code))
	return h.Sum(nil)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b[:])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// validUUID reports whether s has the textual form of a UUID, so a
// malformed id is "not found" rather than a database error.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
