package kontur

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/signet-agent/signet/plugins/kontur/store"
	"github.com/signet-agent/signet/sdk"
	"github.com/signet-agent/signet/sdk/cms"
)

// Document id of a decryption's plaintext in the results.
const plaintextDocument = "plaintext"

// startConfirmation creates a request with a fresh code and delivers the
// code; a code that could not be delivered is cancelled at once.
func (s *Server) startConfirmation(ctx context.Context, c caller, n store.NewRequest, documents int) (store.Request, error) {
	if s.notify == nil {
		return store.Request{}, newError(503, "serviceUnavailable", "No notifier is configured to deliver confirmation codes")
	}
	code, err := newCode()
	if err != nil {
		return store.Request{}, err
	}
	n.Code = code
	req, err := s.st.CreateRequest(ctx, n)
	if err != nil {
		return store.Request{}, err
	}
	err = s.notify.Notify(ctx, Notice{
		Account: c.account.ID, Recipient: c.account.Recipient, RequestID: req.ID, Kind: req.Kind,
		Documents: documents, Code: code, ExpiresAt: req.ExpiresAt,
	})
	if err != nil {
		s.log.Warn("confirmation code not delivered", "request", req.ID, "error", err)
		if cerr := s.st.Cancel(context.WithoutCancel(ctx), req, "urn:error:externapi:confirmationDeliveryFailed", "the code could not be delivered"); cerr != nil {
			s.log.Warn("cancel undelivered request", "request", req.ID, "error", cerr)
		}
		return store.Request{}, err
	}
	return req, nil
}

// execute runs a claimed (running, leased) request to its end: signs or
// decrypts, then stores the results with the request's journal record. A
// failure marks the task failed. The task never runs twice: a replica that
// loses its lease keeps nothing, and the sweep fails a task whose replica
// died, it does not rerun it.
func (s *Server) execute(ctx context.Context, c caller, req store.Request) error {
	ctx = context.WithoutCancel(ctx) // a caller hanging up does not leave the task half-done
	var results map[string][]byte
	var detail map[string]any
	var err error
	if req.Kind == "decrypt" {
		results, detail, err = s.decryptTask(ctx, c, req)
	} else {
		results, detail, err = s.signTask(ctx, c, req)
	}
	if err != nil {
		ae := toAPIError(err)
		if ferr := s.retry(ctx, func() error { return s.st.Fail(ctx, req, ae.ID, ae.Message) }); ferr != nil {
			s.log.Warn("mark task failed", "task", req.TaskID, "error", ferr)
		}
		return err
	}
	detail["principal"] = c.name
	return s.retry(ctx, func() error { return s.st.Finish(ctx, req, results, detail) })
}

// retry repeats a store write while the database is unreachable, for at
// most half the lease (after that the sweep fails the task anyway).
func (s *Server) retry(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(s.cfg.Lease / 2)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := f()
		if err == nil || errors.Is(err, store.ErrLeaseLost) || !isDatabaseDown(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(wait)
	}
}

// operation describes a task to the host (policy, journal).
func operation(c caller, req store.Request, summary string, docs []sdk.Document) sdk.Operation {
	return sdk.Operation{
		Caller:    "kontur account " + c.account.ID + " (" + c.name + ")",
		Summary:   summary,
		Documents: docs,
		RequestID: req.TaskID,
		Evidence:  map[string]string{"request-id": req.ID, "task-id": req.TaskID, "confirm-type": req.ConfirmType},
	}
}

// signTask makes a detached CMS signature of each document the request
// covers, refusing documents changed since the code was sent. Documents are
// read one at a time, so memory holds one document, not the whole draft.
func (s *Server) signTask(ctx context.Context, c caller, req store.Request) (map[string][]byte, map[string]any, error) {
	docs, err := s.st.Contents(ctx, req.AccountID, req.Target, false)
	if err != nil {
		return nil, nil, err
	}
	var todo []store.Content
	var described []sdk.Document
	for _, d := range docs {
		want, ok := req.Options.Documents[d.DocumentID]
		if !ok {
			continue
		}
		if want != hex.EncodeToString(d.SHA256) {
			return nil, nil, newError(409, "documentChanged", "Document %q changed after the confirmation code was sent", d.DocumentID)
		}
		todo = append(todo, d)
		described = append(described, sdk.Document{Name: d.Name, Size: d.Size, SHA256: d.SHA256})
	}
	if len(todo) != len(req.Options.Documents) {
		return nil, nil, newError(409, "documentChanged", "A document was removed after the confirmation code was sent")
	}
	op := operation(c, req, fmt.Sprintf("cloud-sign %d document(s) of %s", len(todo), req.Target), described)
	key, err := s.keys.Key(ctx, req.KeyURI, op)
	if err != nil {
		return nil, nil, err
	}
	if key.Certificate == nil {
		return nil, nil, newError(503, "keyUnavailable", "The account's key has no certificate")
	}
	results := map[string][]byte{}
	signed := map[string]string{}
	for _, d := range todo {
		full, err := s.st.Document(ctx, req.AccountID, req.Target, d.DocumentID)
		if err != nil {
			return nil, nil, err
		}
		if !bytes.Equal(full.SHA256, d.SHA256) {
			return nil, nil, newError(409, "documentChanged", "Document %q changed while it was being signed", d.DocumentID)
		}
		d = full
		dop := op
		dop.RequestID = req.TaskID + "/" + d.DocumentID
		dop.Documents = []sdk.Document{{Name: d.Name, Size: d.Size, SHA256: d.SHA256}}
		der, err := cms.Sign(d.Data, s.keys.Signer(ctx, key, dop), key.Certificate, &cms.SignOptions{Detached: true, Chain: key.Chain})
		if err != nil {
			return nil, nil, fmt.Errorf("sign document %s: %w", d.DocumentID, err)
		}
		results[d.DocumentID] = der
		sum := sha256.Sum256(der)
		signed[d.DocumentID] = hex.EncodeToString(sum[:])
	}
	return results, map[string]any{"key": req.KeyURI, "documents": req.Options.Documents, "signatures": signed}, nil
}

// decryptTask decrypts the stored EnvelopedData with the account's key
// through the host (the key never leaves the token).
func (s *Server) decryptTask(ctx context.Context, c caller, req store.Request) (map[string][]byte, map[string]any, error) {
	env, err := s.st.Document(ctx, req.AccountID, req.Target, encryptedDocument)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	if err != nil || req.Options.Documents[encryptedDocument] != hex.EncodeToString(env.SHA256) {
		return nil, nil, newError(409, "documentChanged", "The encrypted content changed after the confirmation code was sent")
	}
	op := operation(c, req, "cloud-decrypt a document of "+req.Target,
		[]sdk.Document{{Name: env.Name, Size: env.Size, SHA256: env.SHA256}})
	key, err := s.keys.Key(ctx, req.KeyURI, op)
	if err != nil {
		return nil, nil, err
	}
	plain, err := cms.Decrypt(env.Data, key.Certificate, &hostDecrypter{ctx: ctx, keys: s.keys, key: key, op: op})
	if err != nil {
		return nil, nil, newError(400, "decryptionFailed", "The content cannot be decrypted with the account's key")
	}
	if req.Options.Unzip {
		plain = unzipSingle(plain, int64(s.cfg.Limits.MaxDocumentMB)<<20)
	}
	sum := sha256.Sum256(plain)
	return map[string][]byte{plaintextDocument: plain},
		map[string]any{"key": req.KeyURI, "encrypted": req.Options.Documents[encryptedDocument], "plaintext": hex.EncodeToString(sum[:])}, nil
}

// hostDecrypter is a crypto.Decrypter whose Decrypt is one host call.
type hostDecrypter struct {
	ctx  context.Context
	keys HostKeys
	key  sdk.Key
	op   sdk.Operation
}

func (d *hostDecrypter) Public() crypto.PublicKey { return d.key.PublicKey }

func (d *hostDecrypter) Decrypt(_ io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	return d.keys.Decrypt(d.ctx, d.key.URI, msg, opts, d.op)
}

// unzipSingle returns the one file of a ZIP archive (unzipIfCan), or data
// unchanged when it is not a ZIP of exactly one file within max bytes.
func unzipSingle(data []byte, max int64) []byte {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(zr.File) != 1 || zr.File[0].UncompressedSize64 > uint64(max) {
		return data
	}
	f, err := zr.File[0].Open()
	if err != nil {
		return data
	}
	defer f.Close()
	out, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil || int64(len(out)) > max {
		return data
	}
	return out
}
