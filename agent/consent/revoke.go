package consent

import (
	"context"
	"fmt"

	"github.com/signet-agent/signet/agent/journal"
)

// ForgetOrigin revokes everything the person gave origin: its remembered
// decision and its grants. It journals the revocation.
func (e *Engine) ForgetOrigin(ctx context.Context, origin string) error {
	_, err := e.decisions.Forget(origin)
	if err != nil {
		return err
	}
	for _, g := range e.grants.RevokeOrigin(origin) {
		e.journal(ctx, journal.Record{Op: journal.OpRevoke, Origin: origin, Plugin: g.Plugin, KeyURI: g.KeyURI,
			GrantID: g.ID, DecidedBy: journal.ByUser})
	}
	return e.journal(ctx, journal.Record{Op: journal.OpConsent, Origin: origin, Summary: "origin decision revoked",
		Decision: journal.DecisionNone, DecidedBy: journal.ByUser})
}

// RevokeGrant revokes the grant with the given ID and journals it.
func (e *Engine) RevokeGrant(ctx context.Context, id string) error {
	g, err := e.grants.Revoke(id)
	if err != nil {
		return err
	}
	return e.journal(ctx, journal.Record{Op: journal.OpRevoke, Origin: g.Origin, Plugin: g.Plugin, KeyURI: g.KeyURI,
		GrantID: g.ID, Summary: fmt.Sprintf("%s: %d of %d uses left", g.Operation, g.Remaining, g.Uses), DecidedBy: journal.ByUser})
}
