package pkcs11

import (
	"context"
	"crypto"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/softhsmtest"
)

// BenchmarkSign compares signing through the Backend with raw miekg
// C_SignInit+C_Sign on the same key handle, on the same token, in the same
// run, RSA-2048 and P-256, with 1 and 4 goroutines.
//
// The raw case is the baseline alone. The hsm case signs through
// Backend.Sign; it alternates blocks of raw and hsm signatures (in
// alternating order) so that load from other processes on a shared machine
// hits both sides alike, and reports ns/op for the hsm signatures only,
// raw-ns/op for the interleaved raw ones, hsm/raw-throughput (the ratio of
// the means; target ≥ 0.95) and hsm/raw-median (the ratio of the median
// block times, which bursts of load from other processes skew less).
func BenchmarkSign(b *testing.B) {
	p := goodPrompt()
	be, _ := openTest(b, Config{PINPrompt: p.fn}, false)
	ctx := context.Background()
	digest := sha(b, "benchmark")
	m, err := loadModule(softhsmtest.Shared().Module)
	require.NoError(b, err)
	raw := m.ctx
	slot := slotOf(b, be, "alpha")
	sessions := make([]p11.SessionHandle, 4) // the raw baseline's own sessions
	for i := range sessions {
		h, err := raw.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION) // as the backend's
		require.NoError(b, err)
		defer raw.CloseSession(h)
		sessions[i] = h
	}
	if err := raw.Login(sessions[0], p11.CKU_USER, softhsmtest.DefaultUserPIN); !isCode(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
		require.NoError(b, err)
	}
	for _, kc := range []struct {
		name  string
		label string
		id    byte
	}{{"RSA2048", softhsmtest.KeyRSA, 0x01}, {"P256", softhsmtest.KeyECDSA, 0x02}} {
		k := keyURI(b, be, "alpha", kc.label)
		_, err := be.Sign(ctx, k.URI, digest, crypto.SHA256) // logs in
		require.NoError(b, err)
		hs, err := be.findObjects(sessions[0], []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY), p11.NewAttribute(p11.CKA_ID, []byte{kc.id})})
		require.NoError(b, err, "find key: %v", hs)
		require.Len(b, hs, 1, "find key: %v", hs)
		key := hs[0]
		data, mech := digest, uint(p11.CKM_ECDSA)
		if kc.name == "RSA2048" {
			mech = p11.CKM_RSA_PKCS
			data = append(append([]byte{}, hashPrefixes[crypto.SHA256]...), digest...)
		}
		rawSign := func(i int) error {
			if err := raw.SignInit(sessions[i], []*p11.Mechanism{p11.NewMechanism(mech, nil)}, key); err != nil {
				return err
			}
			_, err := raw.Sign(sessions[i], data)
			return err
		}
		hsmSign := func(int) error {
			_, err := be.Sign(ctx, k.URI, digest, crypto.SHA256)
			return err
		}
		for _, g := range []int{1, 4} {
			name := fmt.Sprintf("%s/goroutines=%d", kc.name, g)
			b.Run(name+"/raw", func(b *testing.B) {
				require.NoError(b, spread(b.N, g, rawSign))
			})
			b.Run(name+"/hsm", func(b *testing.B) {
				block := 2 * g // small blocks interleave finely
				var rawTime, hsmTime time.Duration
				var rawBlocks, hsmBlocks []time.Duration // full blocks only
				run := func(n int, f func(int) error, total *time.Duration, blocks *[]time.Duration) {
					t0 := time.Now()
					require.NoError(b, spread(n, g, f))
					d := time.Since(t0)
					*total += d
					if n == block {
						*blocks = append(*blocks, d)
					}
				}
				for done, i := 0, 0; done < b.N; done, i = done+block, i+1 {
					n := min(block, b.N-done)
					if i%2 == 0 { // alternate the order, so neither side always runs first
						run(n, rawSign, &rawTime, &rawBlocks)
						run(n, hsmSign, &hsmTime, &hsmBlocks)
					} else {
						run(n, hsmSign, &hsmTime, &hsmBlocks)
						run(n, rawSign, &rawTime, &rawBlocks)
					}
				}
				b.ReportMetric(float64(hsmTime.Nanoseconds())/float64(b.N), "ns/op") // hsm only
				b.ReportMetric(float64(rawTime.Nanoseconds())/float64(b.N), "raw-ns/op")
				b.ReportMetric(float64(rawTime)/float64(hsmTime), "hsm/raw-throughput")
				if len(rawBlocks) > 0 {
					// Medians of the blocks: robust to bursts of load from
					// other processes, which a mean is not.
					b.ReportMetric(float64(median(rawBlocks))/float64(median(hsmBlocks)), "hsm/raw-median")
				}
			})
		}
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// spread runs n calls of f over g goroutines (f gets the goroutine index).
func spread(n, g int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for i := 0; i < g; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := f(i); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return err
	}
	return nil
}

// BenchmarkListing compares Keys and Store.Key with the listing cache
// (default ListingTTL, so a listing expires and is redone every
// PollInterval, as in the agent) against the same calls without it
// (ListingTTL < 0: every call rescans the slots and reads every object, as
// before the cache; Key then is the old Store.Key: Keys and a search), on
// the test tokens (seven tokens, up to three keys with certificates each),
// logged in, interleaved call by call in alternating order. Reported: ns/op
// with the cache, uncached-ns/op, uncached/cached (the speed-up), and per
// call the module calls that read objects (C_FindObjectsInit +
// C_GetAttributeValue) and slots (C_GetSlotList + C_GetTokenInfo) of each.
func BenchmarkListing(b *testing.B) {
	p := goodPrompt()
	ctx := context.Background()
	uncached, uc := openCounting(b, Config{PINPrompt: p.fn, ListingTTL: -1})
	cached, cc := openCounting(b, Config{PINPrompt: p.fn})
	k := keyURI(b, cached, "alpha", softhsmtest.KeyECDSA).URI
	for _, be := range []*Backend{uncached, cached} { // log in: listings then read the private keys too
		_, err := be.Sign(ctx, k, sha(b, "x"), crypto.SHA256)
		require.NoError(b, err)
	}
	store := hsm.NewStore(cached)
	oldKey := func(be *Backend) error { // hsm.Store.Key before Backend.Key
		keys, err := be.Keys(ctx)
		if err != nil {
			return err
		}
		for _, x := range keys {
			if x.URI == k || hsm.SameURI(x.URI, k) {
				return nil
			}
		}
		return hsm.ErrKeyNotFound
	}
	for _, op := range []struct {
		name          string
		before, after func() error
	}{
		{"Keys",
			func() error { _, err := uncached.Keys(ctx); return err },
			func() error { _, err := cached.Keys(ctx); return err }},
		{"Key",
			func() error { return oldKey(uncached) },
			func() error { _, err := store.Key(ctx, k); return err }},
	} {
		b.Run(op.name, func(b *testing.B) {
			uc.take()
			cc.take()
			var tBefore, tAfter time.Duration
			timed := func(f func() error, total *time.Duration) {
				t0 := time.Now()
				require.NoError(b, f())
				*total += time.Since(t0)
			}
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					timed(op.before, &tBefore)
					timed(op.after, &tAfter)
				} else {
					timed(op.after, &tAfter)
					timed(op.before, &tBefore)
				}
			}
			nu, nc := uc.take(), cc.take()
			n := float64(b.N)
			b.ReportMetric(float64(tAfter.Nanoseconds())/n, "ns/op")
			b.ReportMetric(float64(tBefore.Nanoseconds())/n, "uncached-ns/op")
			b.ReportMetric(float64(tBefore)/float64(tAfter), "uncached/cached")
			b.ReportMetric(float64(listingCalls(nc))/n, "obj-calls/op")
			b.ReportMetric(float64(listingCalls(nu))/n, "uncached-obj-calls/op")
			b.ReportMetric(float64(nc["C_GetSlotList"]+nc["C_GetTokenInfo"])/n, "slot-calls/op")
			b.ReportMetric(float64(nu["C_GetSlotList"]+nu["C_GetTokenInfo"])/n, "uncached-slot-calls/op")
		})
	}
}
