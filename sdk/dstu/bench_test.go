package dstu_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/dstu"
	"github.com/signet-agent/signet/sdk/dstu/dstutest"
)

// DSTU 4145 has no OpenSSL implementation to compare with. The reference
// points are jkurwa (the independent implementation, measured in the same
// run by BenchmarkJkurwa) and the standard library's ECDSA P-256, which is
// assembly-optimised and far ahead of any binary-field code here.

func benchKey(b *testing.B, c *dstu.Curve) (*dstu.PrivateKey, []byte, []byte) {
	k, err := dstu.GenerateKey(c, nil)
	require.NoError(b, err)
	d := dstu.Sum34311([]byte("benchmark"))
	sig, err := k.Sign(nil, d[:], nil)
	require.NoError(b, err)
	return k, d[:], sig
}

func BenchmarkSign(b *testing.B) {
	for _, c := range []*dstu.Curve{dstu.Curve163, dstu.Curve257, dstu.Curve431} {
		b.Run(c.Name, func(b *testing.B) {
			k, d, _ := benchKey(b, c)
			for b.Loop() {
				if _, err := k.Sign(nil, d, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, c := range []*dstu.Curve{dstu.Curve163, dstu.Curve257, dstu.Curve431} {
		b.Run(c.Name, func(b *testing.B) {
			k, d, sig := benchKey(b, c)
			for b.Loop() {
				if err := k.PublicKey.Verify(d, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSum34311_1KiB(b *testing.B) {
	buf := make([]byte, 1024)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		dstu.Sum34311(buf)
	}
}

func BenchmarkReferenceECDSAP256(b *testing.B) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(b, err)
	d := make([]byte, 32)
	sig, err := ecdsa.SignASN1(rand.Reader, k, d)
	require.NoError(b, err)
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			_, _ = ecdsa.SignASN1(rand.Reader, k, d)
		}
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			ecdsa.VerifyASN1(&k.PublicKey, d, sig)
		}
	})
}

// BenchmarkJkurwa reports jkurwa's time per signature and verification
// (measured inside one node process over n operations) next to ours.
func BenchmarkJkurwa(b *testing.B) {
	jk := dstutest.Jkurwa(b)
	for name, c := range map[string]*dstu.Curve{"DSTU4145-257": dstu.Curve257, "DSTU4145-431": dstu.Curve431} {
		b.Run(name, func(b *testing.B) {
			k, d, _ := benchKey(b, c)
			curve := map[*dstu.Curve]string{dstu.Curve257: "DSTU_PB_257", dstu.Curve431: "DSTU_PB_431"}[c]
			for b.Loop() {
				res := jk.Run(b, dstutest.Req{"op": "bench", "curve": curve, "d": k.D.Text(16), "digest": hex.EncodeToString(d), "n": 5})[0]
				require.Nil(b, res["error"])
				b.ReportMetric(res["signNs"].(float64), "jkurwa-sign-ns/op")
				b.ReportMetric(res["verifyNs"].(float64), "jkurwa-verify-ns/op")
			}
		})
	}
}
