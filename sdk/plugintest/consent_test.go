package plugintest

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	ipt "github.com/signet-agent/signet/internal/plugintest"
	"github.com/signet-agent/signet/sdk"
)

// A grant the plugin offers is accepted by the person in one question; the
// two further signatures presenting it are not asked about, and a fourth
// is refused by the host.
func TestAcceptGrants(t *testing.T) {
	h := Start(t, conformance, &Config{Consent: AcceptGrants("https://conformance.example")})
	require.NoError(t, h.OpenURL(context.Background(), "check://grant"))
	signs := h.Consent().QuestionsOf(Sign)
	require.Len(t, signs, 1, "questions: %+v", h.Consent().Questions())
	assert.Equal(t, 3, signs[0].GrantUses)
	assert.Equal(t, "conformance", signs[0].Plugin)
}

// Without the grant, every signature of the same check is a question: the
// plain behaviours create no grant, so the plugin sees none.
func TestAllowAllOffersNoGrant(t *testing.T) {
	h := Start(t, conformance, nil)
	err := h.OpenURL(context.Background(), "check://grant")
	assert.ErrorContains(t, err, "no grant reported")
}

// Decide sees each question and its error reaches the plugin as the
// sentinel.
func TestDecide(t *testing.T) {
	c := Decide(func(_ context.Context, q Question) error {
		if q.Kind == Sign {
			return fmt.Errorf("not today: %w", sdk.ErrDenied)
		}
		return nil
	})
	h := Start(t, conformance, &Config{Consent: c})
	require.NoError(t, h.OpenURL(context.Background(), "check://denied"))
	assert.NotEmpty(t, c.QuestionsOf(Sign))
	assert.NotEmpty(t, c.QuestionsOf(List))
}

// Build flags reach `go build`: a file behind a build tag changes the
// plugin's version.
func TestBuildTags(t *testing.T) {
	h := Start(t, conformance, &Config{Build: BuildOptions{Tags: []string{"plugintest_tag"}}})
	assert.Equal(t, "1.2.3+plugintest_tag", h.Status().Version)
}

func TestBuildFlags(t *testing.T) {
	assert.Equal(t, []string{"-race", "-cover", "-tags=a,b", "-trimpath"},
		BuildOptions{Race: true, Cover: true, Tags: []string{"a", "b"}, Flags: []string{"-trimpath"}}.flags())
	assert.Empty(t, BuildOptions{}.flags())
}

// The documented names are the harness's.
func TestNames(t *testing.T) {
	assert.Equal(t, ipt.TokenLabel, TokenLabel)
	assert.Equal(t, []string{ipt.KeyRSA, ipt.KeyECDSA, ipt.KeyEd25519}, []string{KeyRSA, KeyECDSA, KeyEd25519})
}

// The plugin runs under its Description's name, so an administrator's
// rule naming it applies: allowed by a rule for "conformance", refused by
// one for another plugin (nobody to ask).
func TestUnattendedRulesNameThePlugin(t *testing.T) {
	allow := Unattended(Rule{Plugin: "conformance", Action: "allow"})
	h := Start(t, conformance, &Config{Consent: allow})
	require.NoError(t, h.OpenURL(context.Background(), "check://sign"))
	assert.NotEmpty(t, allow.QuestionsOf(Sign))

	other := Unattended(Rule{Plugin: "someone-else", Action: "allow"})
	h = Start(t, conformance, &Config{Consent: other})
	assert.ErrorContains(t, h.OpenURL(context.Background(), "check://sign"), "denied")
}
