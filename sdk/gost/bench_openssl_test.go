package gost

import (
	"crypto/rand"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkGostVsOpenSSL signs and verifies a digest with each GOST R
// 34.10-2012 parameter-set family here and in OpenSSL's gost engine in the
// same run (testdata/opensslbench.c, built with cc against libcrypto), and
// reports thread CPU time per operation for both and the speed relative
// to OpenSSL (openssl-ns / ours-ns: 1 is as fast, 0.5 half as fast).
// Thread CPU time, not wall time: the machine is shared.
func BenchmarkGostVsOpenSSL(b *testing.B) {
	gostEngine(b)
	bin := filepath.Join(b.TempDir(), "opensslbench")
	out, err := exec.Command("cc", "-O2", "-o", bin, "testdata/opensslbench.c", "-lcrypto").CombinedOutput()
	require.NoError(b, err, "building the OpenSSL benchmark helper: %s", out)
	for _, set := range []struct {
		alg, paramset string
		t             KeyType
		c             *Curve
	}{
		{"gost2012_256", "A", KeyGOST2012_256, CurveCryptoProA},
		{"gost2012_256", "TCA", KeyGOST2012_256, CurveTC26_256A},
		{"gost2012_512", "A", KeyGOST2012_512, CurveTC26_512A},
		{"gost2012_512", "C", KeyGOST2012_512, CurveTC26_512C},
	} {
		b.Run(set.alg+"-"+set.paramset, func(b *testing.B) {
			priv, err := GenerateKeyOf(set.t, set.c, rand.Reader)
			require.NoError(b, err)
			digest := make([]byte, set.c.Size())
			rand.Read(digest)
			sig, err := Sign(rand.Reader, priv, digest)
			require.NoError(b, err)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var signCPU, verifyCPU time.Duration
			for b.Loop() {
				c0 := threadCPU()
				_, err := Sign(rand.Reader, priv, digest)
				c1 := threadCPU()
				require.NoError(b, err)
				require.NoError(b, Verify(&priv.PublicKey, digest, sig))
				c2 := threadCPU()
				signCPU += c1 - c0
				verifyCPU += c2 - c1
			}
			n := b.N
			out, err := exec.Command(bin, set.alg, set.paramset, strconv.Itoa(max(n, 20))).Output()
			require.NoError(b, err, "OpenSSL benchmark helper")
			f := strings.Fields(string(out))
			require.Len(b, f, 2, "helper output %q", out)
			osslSign, _ := strconv.ParseFloat(f[0], 64)
			osslVerify, _ := strconv.ParseFloat(f[1], 64)
			ourSign := float64(signCPU.Nanoseconds()) / float64(n)
			ourVerify := float64(verifyCPU.Nanoseconds()) / float64(n)
			b.ReportMetric(ourSign, "sign-ns")
			b.ReportMetric(osslSign, "openssl-sign-ns")
			b.ReportMetric(osslSign/ourSign, "sign-speed-vs-openssl")
			b.ReportMetric(ourVerify, "verify-ns")
			b.ReportMetric(osslVerify, "openssl-verify-ns")
			b.ReportMetric(osslVerify/ourVerify, "verify-speed-vs-openssl")
		})
	}
}
