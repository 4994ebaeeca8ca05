package consent

import (
	"context"
	"testing"
	"time"

	"github.com/signet-agent/signet/hsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSettleQueuedRechecks: a request that waited behind another one's
// question runs the steps again once it has its turn and uses that
// question's outcome instead of asking again — for an ordinary request and
// for a key choice alike (both go through settle).
func TestSettleQueuedRechecks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		req     Request
		answer  Answer
		wantErr error // nil: allowed
	}{
		{"request, origin remembered Always", list(portal), Answer{Allow: true, Remember: true}, nil},
		{"key choice, origin remembered Never", choice(portal, key1, "pkcs11:token=T;object=k2;type=private"),
			Answer{Remember: true}, ErrRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "")
			release := make(chan struct{})
			p := &script{confirm: func(ctx context.Context, _ int, _ Question) (Answer, error) {
				select {
				case <-release:
					return tc.answer, nil
				case <-ctx.Done():
					return Answer{}, ctx.Err()
				}
			}}
			e := f.engine(t, p, func(c *EngineConfig) {
				c.KeyInfo = func(_ context.Context, uri string) (hsm.KeyInfo, error) {
					return hsm.KeyInfo{URI: uri, HasPrivateKey: true}, nil
				}
			})
			errs := make(chan error, 2)
			for range 2 {
				go func() { errs <- e.Ask(context.Background(), tc.req) }()
			}
			// Both hold or wait for the site's turn: one question is open,
			// the other request waits behind it.
			require.Eventually(t, func() bool {
				e.qmu.Lock()
				defer e.qmu.Unlock()
				q := e.queues[askSite(tc.req)]
				return q != nil && q.waiting == 2 && len(p.asked()) == 1
			}, 10*time.Second, time.Millisecond)
			close(release)
			for range 2 {
				err := <-errs
				if tc.wantErr == nil {
					assert.NoError(t, err)
				} else {
					assert.ErrorIs(t, err, tc.wantErr)
				}
			}
			assert.Len(t, p.asked(), 1, "the queued request asked again")
		})
	}
}
