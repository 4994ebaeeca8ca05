package consent

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/signet-agent/signet/hsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnattended(t *testing.T) {
	u := NewUnattended([]Rule{
		{Origin: "https://evil.example", Decision: Deny},
		{Origin: "https://*.gov.uz", Kind: Sign, Decision: Allow, Uses: 2},
		{Plugin: "example", Kind: List, Decision: Allow},
	})
	ctx := context.Background()
	cases := []struct {
		name string
		req  Request
		ok   bool
	}{
		{"denied origin", Request{Origin: "https://evil.example", Kind: List, Plugin: "example"}, false},
		{"list by example", Request{Origin: "https://a.example", Kind: List, Plugin: "example"}, true},
		{"sign gov 1", Request{Origin: "https://my.gov.uz", Kind: Sign}, true},
		{"sign gov 2", Request{Origin: "https://my.gov.uz", Kind: Sign}, true},
		{"sign gov 3 exhausted", Request{Origin: "https://my.gov.uz", Kind: Sign}, false},
		{"no rule", Request{Origin: "https://other", Kind: Sign}, false},
	}
	for _, c := range cases {
		err := u.Ask(ctx, c.req)
		if c.ok {
			assert.NoError(t, err, c.name)
		} else {
			assert.ErrorIs(t, err, hsm.ErrDenied, c.name)
		}
	}
}

func TestUnattendedUsesRace(t *testing.T) {
	u := NewUnattended([]Rule{{Kind: Sign, Decision: Allow, Uses: 31}})
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if u.Ask(context.Background(), Request{Kind: Sign}) == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 31, ok.Load(), "allowed")
}

func TestAllowDeny(t *testing.T) {
	require.NoError(t, AllowAll.Ask(context.Background(), Request{}))
	require.ErrorIs(t, DenyAll.Ask(context.Background(), Request{Kind: Sign}), hsm.ErrDenied)
}
