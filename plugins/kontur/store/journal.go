package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Record is one journal entry. Detail never holds a code, a code hash or
// document content: digests, key URIs, counts and reasons only.
type Record struct {
	Seq       int64
	At        time.Time
	Replica   string
	Event     string
	AccountID string
	RequestID string
	Detail    map[string]any
}

// journalLock serialises appends across replicas, so the chain is one line.
const journalLock = 0x7369676e65742d6a // "signet-j"

// appendRecord adds rec to the journal inside tx: the record is durable
// exactly when the state change it describes commits.
func (s *Store) appendRecord(ctx context.Context, tx pgx.Tx, event, account, requestID string, detail map[string]any) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(journalLock)); err != nil {
		return fmt.Errorf("journal lock: %w", err)
	}
	var seq int64
	prev := make([]byte, sha256.Size)
	err := tx.QueryRow(ctx, "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").Scan(&seq, &prev)
	if err != nil && err != pgx.ErrNoRows {
		return fmt.Errorf("journal tail: %w", err)
	}
	if detail == nil {
		detail = map[string]any{}
	}
	det, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("journal detail: %w", err)
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	seq++
	hash := recordHash(prev, seq, at, s.replica, event, account, requestID, det)
	_, err = tx.Exec(ctx, `INSERT INTO journal (seq, at, replica, event, account_id, request_id, detail, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, seq, at, s.replica, event, account, requestID, string(det), prev, hash)
	if err != nil {
		return fmt.Errorf("journal append: %w", err)
	}
	return nil
}

// recordHash is SHA-256 over the previous hash and the record's fields,
// each length-prefixed.
func recordHash(prev []byte, seq int64, at time.Time, replica, event, account, requestID string, detail []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	for _, f := range [][]byte{
		[]byte(fmt.Sprint(seq)), []byte(at.UTC().Format(time.RFC3339Nano)),
		[]byte(replica), []byte(event), []byte(account), []byte(requestID), detail,
	} {
		fmt.Fprintf(h, "%d:", len(f))
		h.Write(f)
	}
	return h.Sum(nil)
}

// Journal returns the records with seq > after, oldest first, at most limit.
func (s *Store) Journal(ctx context.Context, after int64, limit int) ([]Record, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, at, replica, event, account_id, request_id, detail
		FROM journal WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) {
		var r Record
		var det string
		if err := row.Scan(&r.Seq, &r.At, &r.Replica, &r.Event, &r.AccountID, &r.RequestID, &det); err != nil {
			return r, err
		}
		return r, json.Unmarshal([]byte(det), &r.Detail)
	})
}

// VerifyJournal walks the whole chain and reports the number of records,
// or the first record whose hash or link does not match.
func (s *Store) VerifyJournal(ctx context.Context) (int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, at, replica, event, account_id, request_id, detail, prev_hash, hash
		FROM journal ORDER BY seq`)
	if err != nil {
		return 0, fmt.Errorf("read journal: %w", err)
	}
	defer rows.Close()
	prev := make([]byte, sha256.Size)
	var n int64
	for rows.Next() {
		var seq int64
		var at time.Time
		var replica, event, account, requestID, det string
		var prevHash, hash []byte
		if err := rows.Scan(&seq, &at, &replica, &event, &account, &requestID, &det, &prevHash, &hash); err != nil {
			return n, fmt.Errorf("read journal: %w", err)
		}
		if seq != n+1 || !bytes.Equal(prevHash, prev) {
			return n, fmt.Errorf("journal record %d does not follow record %d", seq, n)
		}
		if !bytes.Equal(hash, recordHash(prev, seq, at, replica, event, account, requestID, []byte(det))) {
			return n, fmt.Errorf("journal record %d was altered: its hash does not match", seq)
		}
		prev, n = hash, seq
	}
	return n, rows.Err()
}
