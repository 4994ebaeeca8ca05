package consent

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/signet-agent/signet/hsm"
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
		if c.ok && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok && !errors.Is(err, hsm.ErrDenied) {
			t.Errorf("%s: got %v, want ErrDenied", c.name, err)
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
	if ok.Load() != 31 {
		t.Fatalf("allowed %d, want 31", ok.Load())
	}
}

func TestAllowDeny(t *testing.T) {
	if err := AllowAll.Ask(context.Background(), Request{}); err != nil {
		t.Fatal(err)
	}
	if err := DenyAll.Ask(context.Background(), Request{Kind: Sign}); !errors.Is(err, hsm.ErrDenied) {
		t.Fatal(err)
	}
}
