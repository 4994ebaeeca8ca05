package doctor

import (
	"context"
	"crypto"
	"testing"
	"time"

	"github.com/signet-agent/signet/hsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pinStates is a backend whose tokens report PIN states SoftHSM cannot be
// brought into (it keeps no retry counter): locked, final try, count low.
type pinStates struct{}

func (pinStates) Tokens(context.Context) ([]hsm.TokenInfo, error) {
	tok := func(label string, s hsm.PINState) hsm.TokenInfo {
		return hsm.TokenInfo{URI: "pkcs11:token=" + label, Label: label, Serial: "SN-" + label, Flags: hsm.TokenFlags{LoginRequired: true, PIN: s}}
	}
	return []hsm.TokenInfo{
		tok("locked", hsm.PINState{Locked: true, Retries: 0}),
		tok("final", hsm.PINState{FinalTry: true, CountLow: true, Retries: 1}),
		tok("low", hsm.PINState{CountLow: true, Retries: 2}),
		tok("fine", hsm.PINState{Retries: -1}),
	}, nil
}
func (pinStates) Keys(context.Context) ([]hsm.KeyInfo, error) { return nil, nil }
func (pinStates) Sign(context.Context, string, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, hsm.ErrUnsupported
}
func (pinStates) Close() error            { return nil }
func (pinStates) Handles(uri string) bool { return false }

// TestDoctorPINState: a locked PIN and a final try fail, a wrong try since
// the last right one warns, each with a fix; labels and serials are
// personal.
func TestDoctorPINState(t *testing.T) {
	store := hsm.NewStore(pinStates{})
	fs, _ := checkTokens(context.Background(), Env{Timeout: 5 * time.Second}, "vendor.so", store)
	r := Report{Findings: fs}
	one(t, r, "pkcs11", "vendor.so loads (4 tokens)", OK)
	f := one(t, r, "token", `token "locked" (serial SN-locked): the PIN is locked`, Fail)
	assert.Contains(t, f.Fix, "PUK")
	one(t, r, "token", `token "final" (serial SN-final): one more wrong PIN locks it`, Fail)
	one(t, r, "token", `token "low" (serial SN-low): a wrong PIN was entered`, Warn)
	one(t, r, "token", `token "fine" (serial SN-fine): present, PIN not locked`, OK)
	red := r.Redact()
	for _, f := range red.Findings {
		require.NotContains(t, f.Summary, "SN-", "redacted")
	}
}
