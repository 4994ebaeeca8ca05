package pfx

// Unlocking: asking for the password, the unlocked keys and their users,
// and dropping (wiping) them after idle time, on Lock or on change.

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/signet-agent/signet/hsm"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// acquire returns the unlocked key of e, asking for the password if
// needed. The caller must release it.
func (b *Backend) acquire(ctx context.Context, f *file, e *entry) (*liveKey, error) {
	if e.plain != nil {
		return &liveKey{signer: e.plain, refs: 1}, nil
	}
	if lk := f.take(e.alias, b.cfg.Login); lk != nil {
		return lk, nil
	}
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("unlock %s: %w", f.uri, ctx.Err())
	}
	defer func() { <-f.sem }()
	if lk := f.take(e.alias, b.cfg.Login); lk != nil { // unlocked while we waited
		return lk, nil
	}
	keys, err := b.unlock(ctx, f, e)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	for alias, k := range keys {
		if old := f.unlocked[alias]; old != nil {
			old.drop()
		}
		f.unlocked[alias] = &liveKey{signer: k}
	}
	f.mu.Unlock()
	lk := f.take(e.alias, b.cfg.Login)
	if lk == nil {
		return nil, fmt.Errorf("%s: the password opened the file but key %q is not in it: %w", f.uri, e.alias, hsm.ErrKeyNotFound)
	}
	return lk, nil
}

// unlock decrypts the file, prompting for the password unless the empty
// one opens it, and updates its entries with what the decrypted file shows.
func (b *Backend) unlock(ctx context.Context, f *file, e *entry) (map[string]crypto.Signer, error) {
	data := f.data
	if data == nil {
		var err error
		if data, err = readBounded(f.path); err != nil {
			return nil, fmt.Errorf("%s: %w", f.uri, err)
		}
	}
	var err error
	f.mu.Lock()
	open, list := f.open, f.list
	f.mu.Unlock()
	var dec *decoded
	if open {
		if dec, err = decode(data, nil); err != nil {
			return nil, fmt.Errorf("%s: %w", f.uri, err)
		}
	} else {
		if dec, err = b.askAndDecode(ctx, f, e, data); err != nil {
			return nil, err
		}
	}
	idx := map[string]int{}
	ents := buildEntries(list, dec, idx)
	keys := map[string]crypto.Signer{}
	claimed := make([]bool, len(dec.keys))
	for alias, j := range idx {
		keys[alias], claimed[j] = dec.keys[j].key, true
	}
	for j, dk := range dec.keys { // keys no entry claimed
		if !claimed[j] {
			wipeKey(dk.key)
		}
	}
	f.mu.Lock()
	if f.list == list { // the file did not change meanwhile
		f.entries = ents
	}
	f.mu.Unlock()
	return keys, nil
}

func (b *Backend) askAndDecode(ctx context.Context, f *file, e *entry, data []byte) (*decoded, error) {
	if b.cfg.PasswordPrompt == nil {
		return nil, fmt.Errorf("%s needs a password and no password prompt is configured: %w", f.uri, hsm.ErrCancelled)
	}
	tok := f.tokenInfo()
	ki := f.keyInfo(e)
	var last error
	for attempt := 1; attempt <= b.cfg.MaxAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("unlock %s: %w", f.uri, err)
		}
		resp, err := b.cfg.PasswordPrompt(ctx, hsm.PINRequest{
			Kind:      hsm.Password,
			Token:     tok,
			Key:       &ki,
			State:     hsm.PINState{Retries: -1},
			Attempt:   attempt,
			LastError: last,
		})
		if err != nil {
			hsm.Wipe(resp.PIN)
			return nil, fmt.Errorf("password for %s: %w", f.uri, err)
		}
		dec, err := decode(data, resp.PIN)
		hsm.Wipe(resp.PIN)
		if err == nil {
			return dec, nil
		}
		if !errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, fmt.Errorf("%s: %w", f.uri, err)
		}
		last = &hsm.PINError{Token: f.uri, State: hsm.PINState{Retries: -1}, Err: hsm.ErrPINIncorrect}
	}
	return nil, last
}

// take returns the live key of alias with one more user, or nil.
func (f *file) take(alias string, pol hsm.LoginPolicy) *liveKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	lk := f.unlocked[alias]
	if lk == nil {
		return nil
	}
	lk.refs++
	f.lastUse = time.Now()
	if pol.IdleTimeout > 0 && f.timer == nil {
		f.timer = time.AfterFunc(pol.IdleTimeout, func() { f.expire(pol.IdleTimeout) })
	}
	return lk
}

func (f *file) release(lk *liveKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastUse = time.Now()
	lk.refs--
	if lk.dropped && lk.refs == 0 {
		wipeKey(lk.signer)
	}
}

// expire forgets the keys after an idle period, or waits for the rest of it.
func (f *file) expire(idle time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timer == nil {
		return
	}
	if left := idle - time.Since(f.lastUse); left > 0 {
		f.timer.Reset(left)
		return
	}
	f.dropAllLocked()
}

// drop forgets the key; it is wiped when its last user is done. Called
// with the file's mu held.
func (lk *liveKey) drop() {
	lk.dropped = true
	if lk.refs == 0 {
		wipeKey(lk.signer)
	}
}

func (f *file) dropAllLocked() {
	for alias, lk := range f.unlocked {
		lk.drop()
		delete(f.unlocked, alias)
	}
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
}

// Lock forgets the unlocked keys of the file named by tokenURI (a key URI
// names its file), so the next use asks for the password again.
func (b *Backend) Lock(ctx context.Context, tokenURI string) error {
	path, _, err := ParseURI(tokenURI)
	if err != nil {
		return err
	}
	b.mu.Lock()
	f := b.known[path]
	b.mu.Unlock()
	if f != nil {
		f.mu.Lock()
		f.dropAllLocked()
		f.mu.Unlock()
	}
	return nil
}

func wipeInt(n *big.Int) {
	if n == nil {
		return
	}
	w := n.Bits()
	for i := range w {
		w[i] = 0
	}
	n.SetInt64(0)
}
