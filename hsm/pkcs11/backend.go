package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
)

// Config configures one PKCS#11 module.
type Config struct {
	// Module is the path of the PKCS#11 library.
	Module string
	// PINPrompt asks for a token's PIN when an operation needs a login.
	PINPrompt hsm.PINPrompt
	// MaxSessions caps the sessions open on one token (default 4; smart
	// cards allow few).
	MaxSessions int
	// Login says how long a login is kept.
	Login hsm.LoginPolicy
	// PollInterval is how often Watch (and the idle-login janitor) look at
	// the slots (default 2s).
	PollInterval time.Duration
	// ListingTTL is how long Keys (and Key) reuse a token's listing — its
	// objects' attributes and parsed certificates — and the slot list,
	// instead of reading them from the token again (default PollInterval;
	// negative: never reuse, every listing reads the token). It bounds how
	// long a change made to a token by another process can go unseen; see
	// docs/key-store.md ("The listing cache").
	ListingTTL time.Duration
}

const (
	defaultMaxSessions  = 4
	defaultPollInterval = 2 * time.Second
	maxPINAttempts      = 3
)

// Backend is one PKCS#11 module's tokens and keys. It implements hsm.Backend
// and every optional capability. See the package documentation.
type Backend struct {
	cfg Config
	mod *module
	api ckAPI

	mu       sync.RWMutex
	tokens   []*token // every token seen, present or not; never shrinks
	keys     map[string]*keyRef
	problems []string
	subs     map[chan hsm.TokenEvent]struct{}
	closed   bool
	scanned  time.Time // when rescan last read the slot list

	stop chan struct{}
	wg   sync.WaitGroup
}

// token is one token identity (label, serial, manufacturer, model). Its
// state (slot, pool, mechanisms) changes each time it is (re)inserted;
// gen counts insertions.
type token struct {
	ident string
	label string
	uri   string

	// guarded by Backend.mu
	info    hsm.TokenInfo
	present bool
	slot    uint
	pool    *pool
	mechs   map[uint]bool
	gen     uint64
	listing *listing // this insertion's cached listing, nil when none
	// refreshing is closed when the listing being made now is done (nil
	// when none is being made).
	refreshing chan struct{}

	// epoch counts the events after which a listing of this insertion may
	// be wrong: Signet changed the token's objects, or the login state
	// changed (a listing made before login shows public keys for private
	// keys). A listing is reused only while epoch has not moved. Atomic:
	// bumped without Backend.mu.
	epoch atomic.Uint64

	// login state
	loginSem chan struct{} // one login (prompt) at a time, cancellable
	// login is the generation the token was logged in at, 0 when not
	// logged in; lastUse is the time of the last use (UnixNano). Atomics:
	// this is on every operation's path.
	login   atomic.Uint64
	lastUse atomic.Int64
}

// Open loads cfg.Module (once per process) and returns a Backend over its
// tokens.
func Open(cfg Config) (*Backend, error) {
	return open(cfg, nil)
}

// open is Open with a test seam: wrap, when set, wraps the module's calls.
func open(cfg Config, wrap func(ckAPI) ckAPI) (*Backend, error) {
	if cfg.Module == "" {
		return nil, fmt.Errorf("pkcs11: no module configured: %w", hsm.ErrInvalidRequest)
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = defaultMaxSessions
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = defaultPollInterval
	}
	if cfg.ListingTTL == 0 {
		cfg.ListingTTL = cfg.PollInterval
	}
	m, err := loadModule(cfg.Module)
	if err != nil {
		return nil, err
	}
	var api ckAPI = m.ctx
	if wrap != nil {
		api = wrap(api)
	}
	b := &Backend{cfg: cfg, mod: m, api: api, keys: map[string]*keyRef{},
		subs: map[chan hsm.TokenEvent]struct{}{}, stop: make(chan struct{})}
	if _, err := b.rescan(); err != nil {
		return nil, err
	}
	if cfg.Login.IdleTimeout > 0 {
		b.wg.Add(1)
		go b.janitor()
	}
	return b, nil
}

// Module returns the path of the loaded library.
func (b *Backend) Module() string { return b.mod.path }

// Problems returns descriptions of objects the last listings skipped.
func (b *Backend) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

func tokenIdent(ti p11.TokenInfo) string {
	return ti.Label + "\x00" + ti.SerialNumber + "\x00" + ti.ManufacturerID + "\x00" + ti.Model
}

func tokenURI(ti p11.TokenInfo) string {
	u := hsm.URI{Token: ti.Label, Manufacturer: ti.ManufacturerID, Model: ti.Model, Serial: ti.SerialNumber}
	return u.String()
}

func pinState(flags uint) hsm.PINState {
	return hsm.PINState{
		CountLow: flags&p11.CKF_USER_PIN_COUNT_LOW != 0,
		FinalTry: flags&p11.CKF_USER_PIN_FINAL_TRY != 0,
		Locked:   flags&p11.CKF_USER_PIN_LOCKED != 0,
		Retries:  -1,
	}
}

func (b *Backend) tokenInfo(ti p11.TokenInfo) hsm.TokenInfo {
	return hsm.TokenInfo{
		URI:          tokenURI(ti),
		Backend:      "pkcs11",
		Module:       b.mod.path,
		Label:        ti.Label,
		Serial:       ti.SerialNumber,
		Manufacturer: ti.ManufacturerID,
		Model:        ti.Model,
		Flags: hsm.TokenFlags{
			LoginRequired:     ti.Flags&p11.CKF_LOGIN_REQUIRED != 0,
			ProtectedAuthPath: ti.Flags&p11.CKF_PROTECTED_AUTHENTICATION_PATH != 0,
			WriteProtected:    ti.Flags&p11.CKF_WRITE_PROTECTED != 0,
			PIN:               pinState(ti.Flags),
		},
	}
}

// rescan reads the slot list and brings the token table up to date: new
// and re-inserted tokens get a fresh session pool; tokens no longer present
// lose theirs and their login. It returns the insert/remove events.
func (b *Backend) rescan() ([]hsm.TokenEvent, error) {
	slots, err := b.api.GetSlotList(true)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 module %s: C_GetSlotList: %w", b.mod.path, mapErr(err))
	}
	type found struct {
		slot uint
		ti   p11.TokenInfo
	}
	seen := map[string]found{}
	for _, s := range slots {
		ti, err := b.api.GetTokenInfo(s)
		if err != nil || ti.Flags&p11.CKF_TOKEN_INITIALIZED == 0 {
			continue // a slot that went away meanwhile, or an empty SoftHSM slot
		}
		id := tokenIdent(ti)
		if _, dup := seen[id]; !dup {
			seen[id] = found{s, ti}
		}
	}
	now := time.Now()
	var events []hsm.TokenEvent
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, fmt.Errorf("pkcs11 module %s: %w", b.mod.path, errPoolClosed)
	}
	b.scanned = now
	known := map[string]*token{}
	for _, t := range b.tokens {
		known[t.ident] = t
	}
	for id, f := range seen {
		t := known[id]
		if t == nil {
			t = &token{ident: id, label: f.ti.Label, uri: tokenURI(f.ti), loginSem: make(chan struct{}, 1)}
			b.tokens = append(b.tokens, t)
		}
		t.info = b.tokenInfo(f.ti)
		if t.present && t.slot == f.slot {
			continue
		}
		if t.present { // moved to another slot: a re-insertion we missed
			b.detachLocked(t)
		}
		b.attachLocked(t, f.slot)
		events = append(events, hsm.TokenEvent{Time: now, Token: t.info})
	}
	for _, t := range b.tokens {
		if _, ok := seen[t.ident]; !ok && t.present {
			b.detachLocked(t)
			events = append(events, hsm.TokenEvent{Time: now, Token: t.info, Removed: true})
		}
	}
	subs := make([]chan hsm.TokenEvent, 0, len(b.subs))
	for c := range b.subs {
		subs = append(subs, c)
	}
	b.mu.Unlock()
	b.publish(subs, events)
	return events, nil
}

func (b *Backend) attachLocked(t *token, slot uint) {
	t.present = true
	t.slot = slot
	t.gen++
	t.pool = newPool(b.api, slot, t.label, b.cfg.MaxSessions)
	t.listing = nil
	t.mechs = nil
	if ml, err := b.api.GetMechanismList(slot); err == nil {
		t.mechs = make(map[uint]bool, len(ml))
		for _, m := range ml {
			t.mechs[m.Mechanism] = true
		}
	}
	t.login.Store(0)
}

// detachLocked forgets a token's sessions, login and key handles.
func (b *Backend) detachLocked(t *token) {
	t.present = false
	t.gen++
	if t.pool != nil {
		t.pool.shutdown(fmt.Errorf("token %q: %w", t.label, hsm.ErrTokenRemoved))
		t.pool = nil
	}
	t.login.Store(0)
	t.listing = nil
	for k, r := range b.keys {
		if r.tok == t {
			delete(b.keys, k)
		}
	}
}

// objectsChanged is called after Signet changed the objects of t
// (GenerateKey, ImportCertificate, Delete): its cached listing and key
// handles no longer describe the token.
func (b *Backend) objectsChanged(t *token) {
	t.epoch.Add(1)
	b.mu.Lock()
	t.listing = nil
	for k, r := range b.keys {
		if r.tok == t {
			delete(b.keys, k)
		}
	}
	b.mu.Unlock()
}

// forget is called after an error that says the token's sessions are gone
// (CKR_DEVICE_REMOVED, CKR_SESSION_HANDLE_INVALID…): it drops that
// generation's sessions and login, then rescans, so the token is picked up
// again (with a fresh pool) if it is still or again present.
func (b *Backend) forget(t *token, gen uint64) {
	var events []hsm.TokenEvent
	var subs []chan hsm.TokenEvent
	b.mu.Lock()
	if t.gen == gen && t.present {
		b.detachLocked(t)
		events = append(events, hsm.TokenEvent{Time: time.Now(), Token: t.info, Removed: true})
		for c := range b.subs {
			subs = append(subs, c)
		}
	}
	b.mu.Unlock()
	b.publish(subs, events)
	_, _ = b.rescan()
}

func (b *Backend) publish(subs []chan hsm.TokenEvent, events []hsm.TokenEvent) {
	for _, ev := range events {
		for _, c := range subs {
			select {
			case c <- ev:
			default: // a subscriber that does not read loses events rather than blocking the backend
			}
		}
	}
}

// tokenState is a consistent snapshot of a present token.
type tokenState struct {
	tok  *token
	gen  uint64
	slot uint
	pool *pool
	mech map[uint]bool
	info hsm.TokenInfo
}

func (b *Backend) snapshotLocked(t *token) tokenState {
	return tokenState{tok: t, gen: t.gen, slot: t.slot, pool: t.pool, mech: t.mechs, info: t.info}
}

// supports reports whether the token lists mechanism m (true when the
// module did not answer C_GetMechanismList).
func (s tokenState) supports(m uint) bool {
	return s.mech == nil || s.mech[m]
}

// findToken returns the present token u names. If none is present it
// rescans once (a token may have been inserted); a token seen before but
// gone now fails with ErrTokenRemoved naming it.
func (b *Backend) findToken(u *hsm.URI) (tokenState, error) {
	for pass := 0; pass < 2; pass++ {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return tokenState{}, fmt.Errorf("pkcs11 module %s: %w", b.mod.path, errPoolClosed)
		}
		var match []*token
		var gone *token
		for _, t := range b.tokens {
			if !u.MatchesToken(t.info) {
				continue
			}
			if t.present {
				match = append(match, t)
			} else if gone == nil {
				gone = t
			}
		}
		switch {
		case len(match) == 1:
			s := b.snapshotLocked(match[0])
			b.mu.Unlock()
			return s, nil
		case len(match) > 1:
			b.mu.Unlock()
			return tokenState{}, fmt.Errorf("%s matches %d tokens; name the token (token=, serial=): %w",
				u.String(), len(match), hsm.ErrInvalidRequest)
		}
		b.mu.Unlock()
		if pass == 1 {
			if gone != nil {
				return tokenState{}, fmt.Errorf("token %q (%s): %w", gone.label, gone.uri, hsm.ErrTokenRemoved)
			}
			return tokenState{}, fmt.Errorf("no token matches %s: %w", u.String(), hsm.ErrTokenRemoved)
		}
		if _, err := b.rescan(); err != nil {
			return tokenState{}, err
		}
	}
	panic("unreachable")
}

// Tokens lists the present tokens.
func (b *Backend) Tokens(ctx context.Context) ([]hsm.TokenInfo, error) {
	if _, err := b.rescan(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []hsm.TokenInfo
	for _, t := range b.tokens {
		if t.present {
			out = append(out, t.info)
		}
	}
	return out, nil
}

// Handles reports whether uri is a pkcs11: URI for this module: its
// module-path (if any) is this module and its token attributes match a
// token seen (present or not).
func (b *Backend) Handles(uri string) bool {
	if len(uri) < 7 || !strings.EqualFold(uri[:7], "pkcs11:") {
		return false
	}
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return false
	}
	defer u.Wipe()
	if u.ModulePath != "" {
		if resolvePath(u.ModulePath) != b.mod.path {
			return false
		}
	}
	for pass := 0; pass < 2; pass++ {
		b.mu.Lock()
		for _, t := range b.tokens {
			if u.MatchesToken(t.info) {
				b.mu.Unlock()
				return true
			}
		}
		b.mu.Unlock()
		if pass == 0 {
			if _, err := b.rescan(); err != nil {
				return false
			}
		}
	}
	return false
}

// Lock logs out of the tokens tokenURI names, so the next use asks for the
// PIN again.
func (b *Backend) Lock(ctx context.Context, tokenURI string) error {
	u, err := hsm.ParseURI(tokenURI)
	if err != nil {
		return err
	}
	u.Wipe()
	b.mu.Lock()
	var states []tokenState
	for _, t := range b.tokens {
		if t.present && u.MatchesToken(t.info) {
			states = append(states, b.snapshotLocked(t))
		}
	}
	b.mu.Unlock()
	var errs []error
	for _, s := range states {
		if err := b.logout(ctx, s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (b *Backend) logout(ctx context.Context, s tokenState) error {
	t := s.tok
	t.login.Store(0)
	t.epoch.Add(1)
	err := s.pool.withSession(ctx, func(h p11.SessionHandle) error {
		return b.api.Logout(h)
	})
	if err != nil && !isCode(err, p11.CKR_USER_NOT_LOGGED_IN) {
		if sessionBroken(err) {
			b.forget(t, s.gen)
		}
		return fmt.Errorf("log out of token %q: %w", t.label, mapErr(err))
	}
	return nil
}

// janitor logs out of tokens idle longer than the login policy allows.
func (b *Backend) janitor() {
	defer b.wg.Done()
	every := b.cfg.PollInterval
	if every > b.cfg.Login.IdleTimeout {
		every = b.cfg.Login.IdleTimeout
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-tick.C:
		}
		b.mu.Lock()
		var idle []tokenState
		for _, t := range b.tokens {
			if !t.present {
				continue
			}
			if t.login.Load() == t.gen && time.Since(time.Unix(0, t.lastUse.Load())) > b.cfg.Login.IdleTimeout {
				idle = append(idle, b.snapshotLocked(t))
			}
		}
		b.mu.Unlock()
		for _, s := range idle {
			ctx, cancel := context.WithTimeout(context.Background(), b.cfg.PollInterval)
			_ = b.logout(ctx, s)
			cancel()
		}
	}
}

// Watch polls the slot list every PollInterval and reports tokens inserted
// and removed. C_WaitForSlotEvent is not used: miekg/pkcs11 v1.1.2's
// WaitForSlotEvent drops the return value (CKR_NO_EVENT or
// CKR_FUNCTION_NOT_SUPPORTED look like an event on slot 0), with
// CKF_DONT_BLOCK it would be just another poll, blocking in it ties a
// thread up inside the module until C_Finalize (which this package never
// calls), and SoftHSM does not implement it.
func (b *Backend) Watch(ctx context.Context) (<-chan hsm.TokenEvent, error) {
	c := make(chan hsm.TokenEvent, 64)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, fmt.Errorf("pkcs11 module %s: %w", b.mod.path, errPoolClosed)
	}
	b.subs[c] = struct{}{}
	b.mu.Unlock()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() {
			b.mu.Lock()
			delete(b.subs, c)
			b.mu.Unlock()
			close(c)
		}()
		tick := time.NewTicker(b.cfg.PollInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-b.stop:
				return
			case <-tick.C:
				_, _ = b.rescan()
			}
		}
	}()
	return c, nil
}

// Close closes this backend's sessions. It does not call C_Logout or
// C_Finalize: both act on the whole process, and other backends may share
// the module. (A token logs out by itself when its last session closes.)
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.stop)
	for _, t := range b.tokens {
		if t.pool != nil {
			t.pool.shutdown(fmt.Errorf("token %q: %w", t.label, errPoolClosed))
			t.pool = nil
		}
		t.present = false
		t.login.Store(0)
		t.listing = nil
	}
	b.keys = map[string]*keyRef{}
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}

var (
	_ hsm.Backend             = (*Backend)(nil)
	_ hsm.Decrypter           = (*Backend)(nil)
	_ hsm.KeyGenerator        = (*Backend)(nil)
	_ hsm.CertificateImporter = (*Backend)(nil)
	_ hsm.Deleter             = (*Backend)(nil)
	_ hsm.Watcher             = (*Backend)(nil)
	_ hsm.Locker              = (*Backend)(nil)
	_ hsm.ProblemReporter     = (*Backend)(nil)
	_ hsm.KeyCache            = (*Backend)(nil)
	_ hsm.KeyLooker           = (*Backend)(nil)
)
