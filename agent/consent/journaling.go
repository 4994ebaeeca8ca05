package consent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/signet-agent/signet/agent/grants"
	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
)

// errUnjournaled is part of the error of an approval the journal could not
// record, which is therefore refused.
var errUnjournaled = errors.New("the journal cannot record it")

// conclude journals the decision v on req (without waiting for the disk
// when lazy) and turns it into Ask's result: an approval the journal
// cannot record is refused (fail closed), a refusal is logged. what names
// the request in that error; kind and detail describe it in the log.
func (e *Engine) conclude(ctx context.Context, req Request, v verdict, lazy bool, what string, kind any, detail ...any) error {
	if err := e.recordDecision(ctx, req, v, lazy); err != nil && v.allow {
		e.cfg.Log.Warn("consent: journal failed, refusing", "error", err)
		return fmt.Errorf("%s refused: %w: %w", what, errUnjournaled, hsm.ErrDenied)
	}
	if !v.allow {
		attrs := []any{"kind", kind, "plugin", req.Plugin, "origin", req.Origin, "caller", req.Caller}
		attrs = append(append(attrs, detail...), "by", v.by, "reason", v.why)
		e.cfg.Log.Info("consent refused", attrs...)
		return v.err
	}
	return nil
}

// deferRecord leaves the journaling of v to Record when the caller asked
// for one record per operation (Outcome.OneRecord) and no one was asked
// about req, a key operation: the decision is then journaled with the
// outcome, in one record (the caller releases the result only once that
// record is on disk). It reports whether it did.
func (e *Engine) deferRecord(ctx context.Context, req Request, v verdict) bool {
	out := OutcomeFrom(ctx)
	if out == nil || !out.OneRecord || !v.allow || v.asked || !oneRecord(req) {
		return false
	}
	out.pending = &v
	return true
}

// oneRecord reports whether req's decision may be journaled together
// with its outcome (Outcome.OneRecord): a key operation, not a listing, an
// origin question, a grant request or a key choice, whose outcome Record
// reports.
func oneRecord(req Request) bool {
	switch req.Kind {
	case List, Origin, "":
		return false
	}
	return !req.GrantOnly && len(req.Choices) == 0
}

// record journals a decision.
func (e *Engine) record(ctx context.Context, req Request, v verdict) error {
	return e.recordDecision(ctx, req, v, false)
}

// recordDecision journals a decision; lazy returns before the record is
// on disk (journal.AppendLazy).
func (e *Engine) recordDecision(ctx context.Context, req Request, v verdict, lazy bool) error {
	if !v.decide {
		return nil
	}
	r := decisionRecord(req, v)
	switch {
	case !v.allow && !v.asked:
		return e.journalRefusal(ctx, r, v.group)
	case !v.allow, lazy:
		// A refusal leads to nothing: it need not wait for the disk.
		return e.journalLazy(ctx, r)
	}
	return e.journal(ctx, r)
}

// decisionRecord is the journal record of the decision v on req.
func decisionRecord(req Request, v verdict) journal.Record {
	r := baseRecord(req)
	r.DecidedBy, r.GrantID = v.by, v.grant
	if k := v.key; k != nil {
		r.KeyURI = k.URI
		if k.Certificate != nil && k.Certificate.SerialNumber != nil {
			r.CertSerial = k.Certificate.SerialNumber.Text(16)
		}
	}
	switch {
	case v.allow:
		r.Decision = journal.DecisionAllowed
	case errors.Is(v.err, hsm.ErrTimeout):
		r.Decision = journal.DecisionTimeout
	case errors.Is(v.err, hsm.ErrCancelled):
		r.Decision = journal.DecisionCancelled
	default:
		r.Decision = journal.DecisionDenied
	}
	if !v.allow {
		r.ErrorKind = journal.ErrorKind(v.err)
		r.Error = v.why
	}
	return r
}

// Record journals the outcome of an operation the Engine allowed: the host
// calls it once the key store returned (err nil for success). Listing
// outcomes need not be recorded. When ctx carries an Outcome whose
// decision Ask deferred (Outcome.OneRecord, Outcome.Deferred), the record
// carries that decision too; the caller must then withhold the result
// when Record fails.
func (e *Engine) Record(ctx context.Context, req Request, err error) error {
	if err == nil && req.Key == nil && req.KeyURI != "" && e.cfg.CachedKey != nil {
		if k, ok := e.cfg.CachedKey(req.KeyURI); ok {
			req.Key = &k
		}
	}
	r := baseRecord(req)
	if out := OutcomeFrom(ctx); out != nil && out.pending != nil {
		v := out.pending
		out.pending = nil // one record per decision
		r.Decision, r.DecidedBy, r.GrantID = journal.DecisionAllowed, v.by, v.grant
	}
	r.SetOutcome(err)
	return e.journal(ctx, r)
}

// baseRecord is the journal record describing req.
func baseRecord(req Request) journal.Record {
	op := journal.Op(req.Kind)
	if req.Kind == Origin || req.Kind == "" || req.GrantOnly || len(req.Choices) > 0 {
		op = journal.OpConsent
	}
	r := journal.Record{
		Plugin: req.Plugin, Origin: req.Origin, Caller: req.Caller, RequestID: req.RequestID,
		Op: op, Summary: req.Summary, KeyURI: req.KeyURI,
		Evidence: req.Evidence, // the journal bounds and copies it
	}
	if r.Summary == "" {
		r.Summary = HTMLText(req.SummaryHTML) // Cipher's metaData, as text
	}
	if n := len(req.Choices); n > 0 {
		r.Summary = strings.TrimSuffix(fmt.Sprintf("key chosen among %d: %s", n, r.Summary), ": ")
	}
	if req.Key != nil && req.Key.Certificate != nil && req.Key.Certificate.SerialNumber != nil {
		r.CertSerial = req.Key.Certificate.SerialNumber.Text(16)
	}
	for _, d := range req.Documents {
		r.Documents = append(r.Documents, journal.Document{Name: d.Name, Size: d.Size, SHA256: journal.DocumentDigest(d.SHA256)})
	}
	return r
}

// journalRemembered journals the origin decision the person asked to
// remember.
func (e *Engine) journalRemembered(ctx context.Context, req Request, c OriginChoice) {
	d := journal.DecisionAllowed
	if c == Never {
		d = journal.DecisionDenied
	}
	e.journal(ctx, journal.Record{Op: journal.OpConsent, Plugin: req.Plugin, Origin: req.Origin, RequestID: req.RequestID,
		Summary: "origin remembered: " + string(c), Decision: d, DecidedBy: journal.ByUser})
}

// journalGrant journals the grant the person accepted for req.
func (e *Engine) journalGrant(ctx context.Context, req Request, g grants.Grant) {
	e.journal(ctx, journal.Record{Op: journal.OpGrant, Plugin: req.Plugin, Origin: req.Origin,
		RequestID: req.RequestID, KeyURI: req.KeyURI, GrantID: g.ID,
		Summary:  fmt.Sprintf("%s: %d further uses until %s", req.Kind, g.Uses, g.Expires.UTC().Format(time.RFC3339)),
		Decision: journal.DecisionAllowed, DecidedBy: journal.ByUser})
}

// journal appends r and waits for the disk.
func (e *Engine) journal(ctx context.Context, r journal.Record) error {
	return e.appendWith(ctx, r, e.cfg.Journal.Append)
}

// journalLazy is journal without waiting for the disk
// (journal.AppendLazy): the next durable record makes it durable.
func (e *Engine) journalLazy(ctx context.Context, r journal.Record) error {
	return e.appendWith(ctx, r, e.cfg.Journal.AppendLazy)
}

// journalRefusal journals a refusal no one was asked about, coalesced
// with the others of its group (journal.AppendRefusal).
func (e *Engine) journalRefusal(ctx context.Context, r journal.Record, group string) error {
	return e.appendWith(ctx, r, func(ctx context.Context, r journal.Record) (journal.Record, error) {
		return e.cfg.Journal.AppendRefusal(ctx, r, group)
	})
}

// appendWith stamps r with the time and appends it with add; without a
// journal it records nothing. A cancelled request is still recorded.
func (e *Engine) appendWith(ctx context.Context, r journal.Record, add func(context.Context, journal.Record) (journal.Record, error)) error {
	if e.cfg.Journal == nil {
		return nil
	}
	if r.Time.IsZero() {
		r.Time = e.now()
	}
	_, err := add(context.WithoutCancel(ctx), r)
	return err
}
