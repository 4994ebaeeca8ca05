package consent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// OriginChoice is the person's remembered decision about an origin.
type OriginChoice string

// Remembered choices.
const (
	// Always: the origin may use Signet (list keys, ask for operations)
	// without the first-use question. Each key use is still confirmed
	// unless a grant or an unattended rule covers it.
	Always OriginChoice = "always"
	// Never: the origin is refused without asking, like an admin deny.
	Never OriginChoice = "never"
)

// OriginDecision is one remembered decision.
type OriginDecision struct {
	Origin  string       `json:"origin"`
	Choice  OriginChoice `json:"choice"`
	Plugin  string       `json:"plugin,omitempty"` // the plugin the question came through
	Decided time.Time    `json:"decided"`
	// Evidence is the protocol evidence the plugin gave with the request
	// the person decided on (E-IMZO API key, pinned portal certificate).
	Evidence map[string]string `json:"evidence,omitempty"`
}

// DecisionsFile is the file in the data directory that keeps the
// remembered origin decisions.
const DecisionsFile = "origins.json"

// maxDecisionsFile bounds the file read at start.
const maxDecisionsFile = 4 << 20

// maxDecisions bounds how many origins are remembered.
const maxDecisions = 10000

// Decisions keeps the person's remembered origin decisions, in memory and
// (when it has a path) in a JSON file written atomically with mode 0600:
// a temporary file in the same directory, fsync, rename, fsync of the
// directory. Unlike grants (agent/grants, memory only), a remembered
// decision is meant to survive restarts; it never lets an origin use a
// key without a per-operation question, so minting one by writing the file
// gains a local attacker no signature. A Decisions is safe for concurrent
// use.
type Decisions struct {
	path string

	mu sync.Mutex
	m  map[string]OriginDecision
}

// OpenDecisions loads the decisions kept in path ("" keeps them in memory
// only). A missing file is an empty set.
func OpenDecisions(path string) (*Decisions, error) {
	d := &Decisions{path: path, m: map[string]OriginDecision{}}
	if path == "" {
		return d, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open origin decisions: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDecisionsFile+1))
	if err != nil {
		return nil, fmt.Errorf("read origin decisions %s: %w", path, err)
	}
	if len(data) > maxDecisionsFile {
		return nil, fmt.Errorf("origin decisions %s: larger than %d bytes", path, maxDecisionsFile)
	}
	var list []OriginDecision
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("origin decisions %s: %w", path, err)
	}
	for _, od := range list {
		if od.Origin == "" || (od.Choice != Always && od.Choice != Never) {
			return nil, fmt.Errorf("origin decisions %s: invalid entry for %q", path, od.Origin)
		}
		d.m[od.Origin] = od
	}
	return d, nil
}

// Get returns the remembered decision for origin.
func (d *Decisions) Get(origin string) (OriginDecision, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	od, ok := d.m[origin]
	return od, ok
}

// Set remembers od and writes the file. On a write error the decision is
// not kept in memory either.
func (d *Decisions) Set(od OriginDecision) error {
	if od.Origin == "" || (od.Choice != Always && od.Choice != Never) {
		return fmt.Errorf("remember origin decision: invalid %q for %q", od.Choice, od.Origin)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old, had := d.m[od.Origin]
	if !had && len(d.m) >= maxDecisions {
		return fmt.Errorf("remember origin decision: %d origins remembered already", maxDecisions)
	}
	d.m[od.Origin] = od
	if err := d.saveLocked(); err != nil {
		if had {
			d.m[od.Origin] = old
		} else {
			delete(d.m, od.Origin)
		}
		return err
	}
	return nil
}

// Forget removes the decision for origin (revoke) and reports whether there
// was one.
func (d *Decisions) Forget(origin string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old, ok := d.m[origin]
	if !ok {
		return false, nil
	}
	delete(d.m, origin)
	if err := d.saveLocked(); err != nil {
		d.m[origin] = old
		return false, err
	}
	return true, nil
}

// List returns the remembered decisions sorted by origin.
func (d *Decisions) List() []OriginDecision {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.listLocked()
}

func (d *Decisions) listLocked() []OriginDecision {
	out := make([]OriginDecision, 0, len(d.m))
	for _, od := range d.m {
		out = append(out, od)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Origin < out[j].Origin })
	return out
}

func (d *Decisions) saveLocked() error {
	if d.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(d.listLocked(), "", "  ")
	if err != nil {
		return fmt.Errorf("encode origin decisions: %w", err)
	}
	data = append(data, '\n')
	dir := filepath.Dir(d.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save origin decisions: %w", err)
	}
	f, err := os.CreateTemp(dir, ".origins-*.tmp") // CreateTemp uses mode 0600
	if err != nil {
		return fmt.Errorf("save origin decisions: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("save origin decisions: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("save origin decisions: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("save origin decisions: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save origin decisions: %w", err)
	}
	if err := os.Rename(tmp, d.path); err != nil {
		return fmt.Errorf("save origin decisions: %w", err)
	}
	ok = true
	if df, err := os.Open(dir); err == nil {
		df.Sync() // best effort: the rename is durable once the directory is
		df.Close()
	}
	return nil
}
