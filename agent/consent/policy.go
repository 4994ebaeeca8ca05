package consent

import (
	"github.com/signet-agent/signet/agent/config"
)

// policyState is the policy in force: the administrator's origin lists,
// the compiled unattended rules (with their use counts) and the PIN
// sources. SetPolicy replaces it whole, so a request sees one policy.
type policyState struct {
	policy *config.Policy
	rules  *ruleSet
}

// SetPolicy puts a new policy in force (the agent's configuration reload):
// requests decided from now on use its origin lists, unattended rules and
// PIN sources; a question already open is not asked again. An allow rule
// that is unchanged keeps the uses it has taken, so a reload never refills
// a rule. Remembered decisions and grants are not touched. Nil means an
// empty policy.
func (e *Engine) SetPolicy(p *config.Policy) {
	if p == nil {
		p = &config.Policy{}
	}
	rs := newRuleSet(p.Unattended.Rules)
	if old := e.pol.Load(); old != nil {
		rs.carryUses(old.rules)
	}
	e.pol.Store(&policyState{policy: p, rules: rs})
}

// policy returns the policy in force.
func (e *Engine) policy() *policyState { return e.pol.Load() }

// carryUses copies into rs the use counts of old's rules that are
// unchanged (same fields), each old rule at most once.
func (rs *ruleSet) carryUses(old *ruleSet) {
	old.mu.Lock()
	defer old.mu.Unlock()
	taken := make([]bool, len(old.rules))
	for i := range rs.rules {
		for j := range old.rules {
			if !taken[j] && old.rules[j].Rule == rs.rules[i].Rule {
				taken[j] = true
				rs.used[i] = old.used[j]
				break
			}
		}
	}
}
