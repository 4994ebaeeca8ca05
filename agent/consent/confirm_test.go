package consent

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConfirmAsksAnAllowedOrigin: an origin question with Confirm (a
// plugin's own trust decision, e.g. a portal whose certificate changed)
// is put to the person although they allowed the origin "always" before;
// without Confirm it is not. The administrator's allow list still decides
// without a question, and a refusal is a refusal.
func TestConfirmAsksAnAllowedOrigin(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "  allow: [\"https://admin.example\"]\n")
	p := &script{confirm: answer(Answer{Allow: true, Remember: true})}
	e := f.engine(t, p)
	origin := Request{Kind: Origin, Plugin: "cryptoarm", Origin: portal, Summary: "trust?"}

	require.NoError(t, e.Ask(ctx, origin), "first use")
	require.Len(t, p.asked(), 1)
	require.NoError(t, e.Ask(ctx, origin), "remembered: no question")
	require.Len(t, p.asked(), 1)

	confirm := origin
	confirm.Confirm = true
	require.NoError(t, e.Ask(ctx, confirm))
	require.Len(t, p.asked(), 2, "Confirm asks although the origin is allowed")
	assert.Equal(t, "trust?", p.asked()[1].Request.Summary)

	admin := confirm
	admin.Origin = "https://admin.example"
	require.NoError(t, e.Ask(ctx, admin))
	assert.Len(t, p.asked(), 2, "the administrator's allow list decides")

	p.confirm = answer(Answer{Allow: false})
	assert.ErrorIs(t, e.Ask(ctx, confirm), ErrRefused)
}
