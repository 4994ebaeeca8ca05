// Package doctor checks a Signet installation and explains each problem in
// plain words with a fix: what `signet doctor` prints. Each check is one
// file (config, agent, ports, ca, pkcs11, pfx, certs, clock); Run runs them
// all on an Env and returns one Finding per thing checked. A Report's
// Redact copy hides personal data (names, TIN/PINFL, serials, token
// labels) for support tickets; secrets are never read into a Finding.
//
//	rep := doctor.Run(ctx, doctor.Env{ConfigPath: path, Config: cfg, ConfigErr: err, SocketPath: sock})
//	for _, f := range rep.Findings {
//		fmt.Println(f.Status, f.Summary, f.Fix)
//	}
//
// What each check looks at, and why: docs/doctor.md.
package doctor

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/trust"
	"github.com/signet-agent/signet/hsm"
)

// Status is a Finding's verdict.
type Status string

// Statuses, from good to bad.
const (
	OK   Status = "ok"
	Info Status = "info" // nothing to check (no module configured, agent not running …)
	Warn Status = "warn"
	Fail Status = "fail"
)

// Finding is one thing checked.
type Finding struct {
	Check   string `json:"check"` // config, agent, plugin, port, ca, trust, pkcs11, token, pfx, certificate, clock
	Status  Status `json:"status"`
	Summary string `json:"summary"`       // what was found, in plain words
	Fix     string `json:"fix,omitempty"` // what to do about it

	// personal are the values in Summary and Fix that identify a person
	// or a token (names, TIN/PINFL, serials, labels): Redact hides them.
	personal []string
}

// Report is every Finding of one run.
type Report struct {
	Findings []Finding `json:"findings"`
	Redacted bool      `json:"redacted"`
}

// Problems counts the findings that are warnings or failures.
func (r Report) Problems() (warn, fail int) {
	for _, f := range r.Findings {
		switch f.Status {
		case Warn:
			warn++
		case Fail:
			fail++
		}
	}
	return warn, fail
}

// Redact returns a copy of r with every personal value replaced by
// "[personal]".
func (r Report) Redact() Report {
	out := Report{Redacted: true, Findings: make([]Finding, len(r.Findings))}
	for i, f := range r.Findings {
		// Longest first: a whole subject before the name inside it.
		personal := slices.Clone(f.personal)
		slices.SortFunc(personal, func(a, b string) int { return len(b) - len(a) })
		for _, p := range personal {
			if p == "" {
				continue
			}
			f.Summary = strings.ReplaceAll(f.Summary, p, "[personal]")
			f.Fix = strings.ReplaceAll(f.Fix, p, "[personal]")
		}
		f.personal = nil
		out.Findings[i] = f
	}
	return out
}

// Env is what the checks look at. Zero fields take the defaults.
type Env struct {
	// ConfigPath is the file the agent reads ("" for built-in defaults);
	// Config is it loaded, or nil with ConfigErr.
	ConfigPath string
	Config     *config.Config
	ConfigErr  error
	// SocketPath is the agent's control socket ("" for the default).
	SocketPath string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// TrustStores lists the trust stores to look in (default
	// trust.DefaultStores).
	TrustStores func() ([]trust.Store, error)
	// OpenKeys opens the configured key store (default
	// keybackends.Open, asking for no PIN).
	OpenKeys func(config.Keystore) (*hsm.Store, error)
	// Timeout bounds each check that talks to a process or token
	// (default 10s).
	Timeout time.Duration
}

func (e *Env) defaults() {
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.TrustStores == nil {
		e.TrustStores = trust.DefaultStores
	}
	if e.OpenKeys == nil {
		e.OpenKeys = openKeys
	}
	if e.Timeout <= 0 {
		e.Timeout = 10 * time.Second
	}
}

// Run runs every check.
func Run(ctx context.Context, env Env) Report {
	env.defaults()
	var r Report
	add := func(fs ...Finding) { r.Findings = append(r.Findings, fs...) }
	add(checkConfig(env))
	agent, fs := checkAgent(ctx, env)
	add(fs...)
	if env.Config == nil {
		return r // the rest needs a configuration
	}
	add(checkPorts(env, agent)...)
	ca, fs := checkCA(env)
	add(fs...)
	add(checkTrust(env, ca)...)
	add(checkPFXDirs(env)...)
	add(checkKeys(ctx, env)...)
	add(checkClock(env, ca))
	return r
}
