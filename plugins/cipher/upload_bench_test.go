package cipher

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkUpload streams a 256 MiB octet-stream upload over TLS into a
// ticket (the transport, hashing and the file, without a host).
func BenchmarkUpload(b *testing.B) {
	const size = 256 << 20
	s, err := NewServer(Config{Limits: DefaultLimits, TempDir: filepath.Join(benchDir(b), "t")})
	require.NoError(b, err)
	defer s.Close()
	srv := httptest.NewTLSServer(s)
	defer srv.Close()
	c := srv.Client()
	c.Transport.(*http.Transport).TLSClientConfig.CipherSuites = []uint16{tls.TLS_AES_128_GCM_SHA256}
	b.SetBytes(size)
	for i := 0; i < b.N; i++ {
		resp, err := c.Post(srv.URL+APIBase+"/ticket", "text/plain", nil)
		require.NoError(b, err)
		var m map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		req, _ := http.NewRequest("POST", srv.URL+APIBase+"/ticket/"+m["ticketUuid"]+"/data", io.LimitReader(zeros{}, size))
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err = c.Do(req)
		require.NoError(b, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(b, http.StatusOK, resp.StatusCode, "upload answered %s", resp.Status)
		_ = s.tickets.delete(m["ticketUuid"], "")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// benchDir is $CIPHER_BENCH_DIR (to compare file systems) or a temporary
// directory.
func benchDir(b *testing.B) string {
	if d := os.Getenv("CIPHER_BENCH_DIR"); d != "" {
		return d
	}
	return b.TempDir()
}
