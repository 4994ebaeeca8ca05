package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/signet-agent/signet/sdk"
	"github.com/signet-agent/signet/sdk/plugintest"
)

// TestSignaturesWaitingForConsentDoNotBlockOthers: the host serves a
// plugin's calls on a few long-lived workers; calls that wait for the
// person (a dialog open) must not hold the others back. More signatures
// than there are workers wait in consent at the same time, and each is
// answered only once all of them are there.
func TestSignaturesWaitingForConsentDoNotBlockOthers(t *testing.T) {
	n := 2*max(2, runtime.GOMAXPROCS(0)) + 1
	var mu sync.Mutex
	waiting := 0
	all := make(chan struct{})
	c := plugintest.Decide(func(ctx context.Context, q plugintest.Question) error {
		if q.Kind != plugintest.Sign {
			return nil
		}
		mu.Lock()
		waiting++
		if waiting == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
			return nil
		case <-time.After(30 * time.Second):
			return fmt.Errorf("only %d of %d signatures reached consent: %w", waiting, n, sdk.ErrTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: c})
	key := h.KeyURI(t, plugintest.KeyECDSA)
	var wg sync.WaitGroup
	codes := make([]int, n)
	errs := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			digest := sha256.Sum256(fmt.Appendf(nil, "document %d", i))
			code, out := sign(t, h, key, digest[:], "")
			codes[i], errs[i] = code, out.Error
		}()
	}
	wg.Wait()
	for i := range n {
		assert.Equal(t, http.StatusOK, codes[i], "signature %d of %d: %s", i, n, errs[i])
	}
	signs := 0
	for _, q := range c.Questions() {
		if q.Kind == plugintest.Sign {
			signs++
		}
	}
	assert.Equal(t, n, signs, "signature questions")
}
