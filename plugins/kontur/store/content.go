package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
)

// Content is one uploaded document (or encrypted content).
type Content struct {
	DocumentID string
	Name       string
	Size       int64
	SHA256     []byte
	Data       []byte // only when asked for
}

// PutContent stores (or replaces) the document docID of target, reading at
// most max bytes from r and hashing them on the way. More than max bytes
// is ErrTooLarge and stores nothing.
func (s *Store) PutContent(ctx context.Context, account, target, docID, name string, r io.Reader, max int64) (Content, error) {
	h := sha256.New()
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.TeeReader(io.LimitReader(r, max+1), h))
	if err != nil {
		return Content{}, fmt.Errorf("read content: %w", err)
	}
	if n > max {
		return Content{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	}
	c := Content{DocumentID: docID, Name: name, Size: n, SHA256: h.Sum(nil)}
	_, err = s.pool.Exec(ctx, `INSERT INTO contents (account_id, target, document_id, name, size, sha256, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (account_id, target, document_id) DO UPDATE
		SET name = EXCLUDED.name, size = EXCLUDED.size, sha256 = EXCLUDED.sha256, data = EXCLUDED.data, created_at = now()`,
		account, target, docID, name, n, c.SHA256, buf.Bytes())
	if err != nil {
		return Content{}, fmt.Errorf("store content: %w", err)
	}
	return c, nil
}

// Contents lists the documents of target in document-id order, with their
// bytes when withData is set.
func (s *Store) Contents(ctx context.Context, account, target string, withData bool) ([]Content, error) {
	rows, err := s.pool.Query(ctx, `SELECT document_id, name, size, sha256,
		CASE WHEN $3 THEN data ELSE NULL END
		FROM contents WHERE account_id = $1 AND target = $2 ORDER BY document_id`, account, target, withData)
	if err != nil {
		return nil, fmt.Errorf("list contents: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Content, error) {
		var c Content
		err := row.Scan(&c.DocumentID, &c.Name, &c.Size, &c.SHA256, &c.Data)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("list contents: %w", err)
	}
	return out, nil
}

// Document returns one stored document with its bytes.
func (s *Store) Document(ctx context.Context, account, target, docID string) (Content, error) {
	c := Content{DocumentID: docID}
	err := s.pool.QueryRow(ctx, `SELECT name, size, sha256, data FROM contents
		WHERE account_id = $1 AND target = $2 AND document_id = $3`, account, target, docID).Scan(&c.Name, &c.Size, &c.SHA256, &c.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return Content{}, ErrNotFound
	}
	if err != nil {
		return Content{}, fmt.Errorf("read content: %w", err)
	}
	return c, nil
}

// Result is the latest successful result (signature or plaintext) for
// document docID of target.
func (s *Store) Result(ctx context.Context, account, target, docID string) ([]byte, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT r.data FROM results r JOIN requests q ON q.task_id = r.task_id
		WHERE q.account_id = $1 AND q.target = $2 AND r.document_id = $3 AND q.state = 'succeed'
		ORDER BY q.updated_at DESC LIMIT 1`, account, target, docID).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	return data, nil
}

// TaskResult is the result of document docID of one task.
func (s *Store) TaskResult(ctx context.Context, account, taskID, docID string) ([]byte, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT r.data FROM results r JOIN requests q ON q.task_id = r.task_id
		WHERE q.account_id = $1 AND r.task_id = $2 AND r.document_id = $3 AND q.state = 'succeed'`,
		account, taskID, docID).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	return data, nil
}
