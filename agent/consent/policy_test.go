package consent

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/hsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func policyOf(t *testing.T, yaml string) *config.Policy {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte("data_dir: /tmp/x\n"+yaml))
	require.NoError(t, err)
	return &cfg.Policy
}

// TestSetPolicy: a new policy decides the next request (a new deny wins
// over the rule that allowed), and an unchanged allow rule keeps the uses
// it took, so a reload never refills it.
func TestSetPolicy(t *testing.T) {
	rule := "      - {origin: \"https://ci.example\", operation: sign, action: allow, uses: 2}\n"
	e, err := NewEngine(EngineConfig{Policy: policyOf(t, "policy:\n  unattended:\n    rules:\n"+rule)})
	require.NoError(t, err)
	ctx := context.Background()
	sign := Request{Kind: Sign, Origin: "https://ci.example", Plugin: "p"}
	require.NoError(t, e.Ask(ctx, sign), "first use")

	e.SetPolicy(policyOf(t, "policy:\n  unattended:\n    rules:\n"+rule))
	require.NoError(t, e.Ask(ctx, sign), "second use, after a reload")
	assert.ErrorIs(t, e.Ask(ctx, sign), hsm.ErrDenied, "the reload refilled the rule's uses")

	e.SetPolicy(policyOf(t, "policy:\n  unattended:\n    rules:\n"+
		"      - {origin: \"https://ci.example\", operation: sign, action: allow}\n"))
	require.NoError(t, e.Ask(ctx, sign), "a changed rule starts afresh")

	e.SetPolicy(policyOf(t, "policy:\n  deny: [\"https://ci.example\"]\n  unattended:\n    rules:\n"+
		"      - {origin: \"https://ci.example\", operation: sign, action: allow}\n"))
	assert.ErrorIs(t, e.Ask(ctx, sign), hsm.ErrDenied, "the new deny list")
}

// TestSetPolicyPINSources: the key store's PIN prompt follows the policy
// in force: a token that had no PIN source is refused, and after a reload
// that gives it one, its PIN comes from the configured file.
func TestSetPolicyPINSources(t *testing.T) {
	e, err := NewEngine(EngineConfig{}) // no one to ask
	require.NoError(t, err)
	prompt := e.PINPrompt() // taken once, as the key store does
	req := hsm.PINRequest{Kind: hsm.UserPIN, Token: hsm.TokenInfo{URI: "pkcs11:token=CI;serial=42", Label: "CI"}, Attempt: 1}
	_, err = prompt(context.Background(), req)
	assert.ErrorIs(t, err, hsm.ErrCancelled, "before the reload")

	pinFile := filepath.Join(t.TempDir(), "ci-pin")
	require.NoError(t, os.WriteFile(pinFile, []byte("4321\n"), 0o600))
	e.SetPolicy(policyOf(t, "policy:\n  unattended:\n    pin_sources:\n      - {token: \"pkcs11:token=CI\", file: "+pinFile+"}\n"))
	resp, err := prompt(context.Background(), req)
	require.NoError(t, err, "after the reload")
	assert.Equal(t, "4321", string(resp.PIN))
}
