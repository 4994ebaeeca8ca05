package pkcs11

import (
	"context"
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
)

// operation says what withSession runs on.
type operation struct {
	what string // names the operation in errors: "sign", "decrypt", …
	uri  string // the key URI, or the token URI of a token operation
	key  bool   // resolve the private key uri names into session.key

	// check, when set, refuses what the token (or the key, when it is
	// already known) cannot do, before a session is taken or a PIN asked
	// for. It is called again on each attempt.
	check func(s tokenState, key *keyRef) error
}

// session is a logged-in session of a token's pool, lent to one operation.
type session struct {
	tokenState
	h   p11.SessionHandle
	key *keyRef // the resolved private key; nil for a token operation

	// dirty says an operation may be left active on the session (a
	// context-specific login failed after C_SignInit), so it is closed
	// rather than reused.
	dirty bool
}

// maxAttempts bounds the tries of one operation: the first, and the
// retries after a stale session, an expired login or a stale key handle.
const maxAttempts = 3

// withSession is the common path of every operation: find the token (and
// key), take a session from the token's pool, log in if needed, run f, give
// the session back. It recovers from a stale session, an expired login or a
// stale object handle by trying again (maxAttempts in all); a removed token
// fails fast with ErrTokenRemoved naming it.
func (b *Backend) withSession(ctx context.Context, op operation, f func(*session) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w: %w", op.what, hsm.ErrCancelled, err)
	}
	r := &opRun{b: b, op: op}
	if op.key {
		r.ref = b.cachedRef(op.uri)
	}
	var lastErr error
	for range maxAttempts {
		retry, err := r.attempt(ctx, f)
		if !retry {
			return err
		}
		lastErr = err
	}
	return fmt.Errorf("%s: %w", op.what, mapErr(lastErr))
}

// opRun is the state of one operation across its attempts.
type opRun struct {
	b   *Backend
	op  operation
	u   *hsm.URI // op.uri parsed (pin-value wiped), once needed
	ref *keyRef  // the key, while its handle is thought valid
}

// attempt runs f once on a session of the token. It returns the
// operation's result (retry false), or the error to try again after.
func (r *opRun) attempt(ctx context.Context, f func(*session) error) (retry bool, err error) {
	s, err := r.token()
	if err != nil {
		return false, fmt.Errorf("%s: %w", r.op.what, err)
	}
	if r.op.check != nil {
		if err := r.op.check(s, r.ref); err != nil {
			return false, fmt.Errorf("%s: %w", r.op.what, err)
		}
	}
	h, err := s.pool.get(ctx)
	if err != nil {
		return false, fmt.Errorf("%s: %w", r.op.what, err)
	}
	ses := &session{tokenState: s, h: h}
	return r.settle(ses, r.run(ctx, ses, f))
}

// token returns the state of the token to use: the known key's, while its
// handle is valid, else that of the token op.uri names.
func (r *opRun) token() (tokenState, error) {
	if r.ref != nil {
		if s, ok := r.b.liveToken(r.ref); ok {
			return s, nil
		}
		r.ref = nil
	}
	if r.u == nil {
		u, err := hsm.ParseURI(r.op.uri)
		if err != nil {
			return tokenState{}, err
		}
		u.Wipe()
		r.u = u
	}
	return r.b.findToken(r.u)
}

// run logs the session in, resolves the key if the operation needs it and
// is not known yet, and runs f.
func (r *opRun) run(ctx context.Context, s *session, f func(*session) error) error {
	if err := r.b.ensureLogin(ctx, s.tokenState, s.h, r.prompt(s.tokenState)); err != nil {
		return err
	}
	if r.op.key && r.ref == nil {
		ref, err := r.b.resolveKey(s.tokenState, s.h, r.u)
		if err != nil {
			if errors.Is(err, hsm.ErrKeyNotFound) {
				// A listing that still shows the key is wrong (another
				// process deleted it): list the token again next time.
				r.b.listingStale(s.tok)
			}
			return err
		}
		r.b.cacheKey(r.op.uri, ref, s.gen)
		r.ref = ref
	}
	s.key = r.ref
	return f(s)
}

// prompt is what the PIN prompt is shown: a copy of the known key's
// information, what the URI says of a key not resolved yet, or nothing for
// a token operation.
func (r *opRun) prompt(s tokenState) *hsm.KeyInfo {
	switch {
	case r.ref != nil:
		ki := r.ref.info
		return &ki
	case r.op.key:
		return &hsm.KeyInfo{URI: r.u.String(), TokenURI: s.tok.uri, Label: r.u.Object, ID: r.u.ID}
	}
	return nil
}

// settle gives the session back and decides what the attempt's err means:
// the operation's result, or a recoverable failure worth another attempt
// (retry true, with err).
func (r *opRun) settle(s *session, err error) (retry bool, _ error) {
	b, what := r.b, r.op.what
	if err != nil && r.removedUnderUs(s, err) {
		// The token went away under us. Modules differ in what they say
		// then (SoftHSM: CKR_GENERAL_ERROR, or simply no objects).
		s.pool.put(s.h, true)
		b.forget(s.tok, s.gen)
		return false, fmt.Errorf("%s: token %q: %w (%w)", what, s.tok.label, hsm.ErrTokenRemoved, err)
	}
	if err != nil && r.loggedOutUnderUs(s, err) {
		// The token logged us out behind our back (its last session closed,
		// another user of the module called C_Logout): the private key
		// looks missing. Log in again and retry.
		s.pool.put(s.h, s.dirty)
		b.markLoggedOut(s.tokenState)
		return true, err
	}
	s.pool.put(s.h, s.dirty || sessionBroken(err))
	switch {
	case err == nil:
		return false, nil
	case isCode(err, removedCodes...):
		b.forget(s.tok, s.gen)
		return false, fmt.Errorf("%s: token %q: %w", what, s.tok.label, mapErr(err))
	case isCode(err, staleCodes...):
		b.forget(s.tok, s.gen)
		r.ref = nil
	case isCode(err, p11.CKR_USER_NOT_LOGGED_IN):
		b.markLoggedOut(s.tokenState)
	case isCode(err, p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_KEY_HANDLE_INVALID) && r.op.key:
		b.dropCachedKey(r.op.uri)
		r.ref = nil
	default:
		return false, fmt.Errorf("%s: %w", what, mapErr(err))
	}
	return true, err
}

// removedUnderUs reports whether err, which is not itself a removal, stale
// session or PIN error, came from a token no longer in its slot.
func (r *opRun) removedUnderUs(s *session, err error) bool {
	return !isCode(err, removedCodes...) && !isCode(err, staleCodes...) && !isPINErr(err) && r.b.gone(s.tokenState)
}

// loggedOutUnderUs reports whether err came from a token that needs a
// login and no longer has this session logged in.
func (r *opRun) loggedOutUnderUs(s *session, err error) bool {
	return s.info.Flags.LoginRequired && !sessionBroken(err) && !isPINErr(err) && !r.b.sessionLoggedIn(s.h)
}

// contextLogin logs in for the one operation just initialised on s
// (CKU_CONTEXT_SPECIFIC) when the key always asks for its PIN. A failure
// leaves the operation active, so the session is marked dirty.
func (b *Backend) contextLogin(ctx context.Context, s *session) error {
	if !s.key.alwaysAuth {
		return nil
	}
	ki := s.key.info
	if err := b.login(ctx, s.tokenState, s.h, ckuContextSpecific, hsm.ContextPIN, &ki); err != nil {
		s.dirty = true
		return err
	}
	return nil
}

// sessionLoggedIn reports whether the session is in a user state.
func (b *Backend) sessionLoggedIn(h p11.SessionHandle) bool {
	si, err := b.api.GetSessionInfo(h)
	return err == nil && (si.State == p11.CKS_RO_USER_FUNCTIONS || si.State == p11.CKS_RW_USER_FUNCTIONS)
}

// gone reports whether the token of s is no longer in its slot.
func (b *Backend) gone(s tokenState) bool {
	ti, err := b.api.GetTokenInfo(s.slot)
	return err != nil || tokenIdent(ti) != s.tok.ident
}

func isPINErr(err error) bool {
	var pe *hsm.PINError
	return errors.As(err, &pe) || errors.Is(err, hsm.ErrFinalTry) || errors.Is(err, hsm.ErrCancelled)
}

// needMechanism refuses, with ErrUnsupported, a mechanism the token does
// not list.
func needMechanism(s tokenState, m uint) error {
	if !s.supports(m) {
		return fmt.Errorf("token %q lacks mechanism 0x%x: %w", s.tok.label, m, hsm.ErrUnsupported)
	}
	return nil
}
