package consent

import (
	"sync"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/hsm"
)

// ruleSet applies the configuration's unattended rules
// (policy.unattended.rules): the first matching rule decides. It is the one
// implementation of those rules; the Engine uses it.
//
// Matching: Origin is an origin pattern (config.ParsePattern), "local" for
// a local caller, "" or "*" for anyone; Plugin and Operation equal or
// empty/"*"; Key names the same key (hsm.SameURI) or is empty. An allow
// rule with Uses > 0 allows that many times (counted under a mutex, so
// concurrent requests never exceed it); once used up it no longer matches
// and later rules may decide.
type ruleSet struct {
	rules []compiledRule

	mu   sync.Mutex
	used []int
}

type compiledRule struct {
	config.Rule
	local   bool
	pattern *config.Pattern // nil: any origin (or local only when local)
	invalid bool            // unparsable origin pattern: never matches
}

// ruleVerdict is what a rule said.
type ruleVerdict int

const (
	ruleNone  ruleVerdict = iota // no rule matched
	ruleAllow                    // an allow rule matched (a use was taken)
	ruleDeny
	ruleAsk
)

func newRuleSet(rules []config.Rule) *ruleSet {
	rs := &ruleSet{used: make([]int, len(rules))}
	for _, r := range rules {
		cr := compiledRule{Rule: r}
		switch r.Origin {
		case "", "*":
		case "local":
			cr.local = true
		default:
			p, err := config.ParsePattern(r.Origin)
			if err != nil {
				cr.invalid = true // config validation rejects these; fail closed
			} else {
				cr.pattern = &p
			}
		}
		rs.rules = append(rs.rules, cr)
	}
	return rs
}

func (r *compiledRule) matchWho(req Request) bool {
	switch {
	case r.invalid:
		return false
	case r.local:
		return req.Origin == ""
	case r.pattern != nil:
		return req.Origin != "" && r.pattern.Match(req.Origin)
	}
	return true
}

func (r *compiledRule) matchWhat(req Request) bool {
	if r.Plugin != "" && r.Plugin != "*" && r.Plugin != req.Plugin {
		return false
	}
	if r.Key != "" && !hsm.SameURI(r.Key, req.KeyURI) {
		return false
	}
	return r.Operation == "" || r.Operation == "*" || r.Operation == string(req.Kind)
}

// decide applies the first matching rule to req and takes a use when it
// allows.
func (rs *ruleSet) decide(req Request) ruleVerdict { return rs.apply(req, true) }

// peek is decide without taking a use: what req would get now. (A key
// choice peeks; the signature that follows takes the use.)
func (rs *ruleSet) peek(req Request) ruleVerdict { return rs.apply(req, false) }

func (rs *ruleSet) apply(req Request, take bool) ruleVerdict {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for i := range rs.rules {
		r := &rs.rules[i]
		if !r.matchWho(req) || !r.matchWhat(req) {
			continue
		}
		switch r.Action {
		case config.ActionAllow:
			if r.Uses > 0 {
				if rs.used[i] >= r.Uses {
					continue // used up: later rules may decide
				}
				if take {
					rs.used[i]++
				}
			}
			return ruleAllow
		case config.ActionDeny:
			return ruleDeny
		default:
			return ruleAsk
		}
	}
	return ruleNone
}

// approvesOrigin reports whether an allow rule exists for req's origin and
// plugin, for any operation: an origin the administrator wrote rules for
// needs no first-use question (CI, kiosks). It takes no use.
func (rs *ruleSet) approvesOrigin(req Request) bool {
	for i := range rs.rules {
		r := &rs.rules[i]
		if r.Action != config.ActionAllow || !r.matchWho(req) {
			continue
		}
		if r.Plugin != "" && r.Plugin != "*" && r.Plugin != req.Plugin {
			continue
		}
		return true
	}
	return false
}
