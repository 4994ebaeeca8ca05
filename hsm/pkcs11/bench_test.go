package pkcs11

import (
	"context"
	"crypto"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/softhsm-config/softhsmtest"
)

// rawNsPerOp keeps the raw baseline of each case, measured in the same run
// just before the hsm case, for the ratio the hsm case reports.
var rawNsPerOp sync.Map

// BenchmarkSign compares signing through the Backend with raw miekg
// C_SignInit+C_Sign on the same key handle, on the same token, in the same
// run. The hsm case reports hsm/raw-throughput (target ≥ 0.95).
func BenchmarkSign(b *testing.B) {
	p := goodPrompt()
	be, _ := openTest(b, Config{PINPrompt: p.fn}, false)
	ctx := context.Background()
	digest := sha(b, "benchmark")
	m, err := loadModule(softhsmtest.Shared().Module)
	if err != nil {
		b.Fatal(err)
	}
	raw := m.ctx
	slot := slotOf(b, be, "alpha")
	for _, kc := range []struct {
		name  string
		label string
		id    byte
	}{{"RSA2048", softhsmtest.KeyRSA, 0x01}, {"P256", softhsmtest.KeyECDSA, 0x02}} {
		k := keyURI(b, be, "alpha", kc.label)
		if _, err := be.Sign(ctx, k.URI, digest, crypto.SHA256); err != nil { // logs in
			b.Fatal(err)
		}
		for _, g := range []int{1, 4} {
			name := fmt.Sprintf("%s/goroutines=%d", kc.name, g)
			b.Run(name+"/raw", func(b *testing.B) {
				sessions := make([]p11.SessionHandle, g)
				for i := range sessions {
					h, err := raw.OpenSession(slot, p11.CKF_SERIAL_SESSION)
					if err != nil {
						b.Fatal(err)
					}
					defer raw.CloseSession(h)
					sessions[i] = h
				}
				if err := raw.Login(sessions[0], p11.CKU_USER, softhsmtest.DefaultUserPIN); err != nil && !isCode(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
					b.Fatal(err)
				}
				hs, err := be.findObjects(sessions[0], []*p11.Attribute{
					p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY), p11.NewAttribute(p11.CKA_ID, []byte{kc.id})})
				if err != nil || len(hs) != 1 {
					b.Fatalf("find key: %v %v", hs, err)
				}
				key := hs[0]
				data := digest
				mech := uint(p11.CKM_ECDSA)
				if kc.name == "RSA2048" {
					mech = p11.CKM_RSA_PKCS
					data = append(append([]byte{}, hashPrefixes[crypto.SHA256]...), digest...)
				}
				b.ResetTimer()
				parallel(b, g, func(i int) error {
					h := sessions[i]
					if err := raw.SignInit(h, []*p11.Mechanism{p11.NewMechanism(mech, nil)}, key); err != nil {
						return err
					}
					_, err := raw.Sign(h, data)
					return err
				})
				rawNsPerOp.Store(name, float64(b.Elapsed().Nanoseconds())/float64(b.N))
			})
			b.Run(name+"/hsm", func(b *testing.B) {
				b.ResetTimer()
				parallel(b, g, func(int) error {
					_, err := be.Sign(ctx, k.URI, digest, crypto.SHA256)
					return err
				})
				ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				if r, ok := rawNsPerOp.Load(name); ok {
					b.ReportMetric(r.(float64), "raw-ns/op")
					b.ReportMetric(r.(float64)/ns, "hsm/raw-throughput")
				}
			})
		}
	}
}

// parallel runs b.N calls of f spread over g goroutines (f gets the
// goroutine index).
func parallel(b *testing.B, g int, f func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for i := 0; i < g; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := f(i); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
}
