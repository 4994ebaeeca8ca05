package sdk

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shortCA issues self-signed leaves that live for life from clock's now;
// it counts issues.
type shortCA struct {
	life   time.Duration
	clock  *fakeClock
	issued atomic.Int32
}

// fakeClock is a settable clock, so renewal is tested without sleeping
// (wall-clock sleeps make the test fail on a loaded machine).
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *shortCA) IssueCertificate(_ context.Context, req *pb.IssueCertificateRequest, _ ...grpc.CallOption) (*pb.IssueCertificateResponse, error) {
	n := c.issued.Add(1)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := c.clock.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(n)), Subject: pkix.Name{CommonName: req.Names[0]},
		DNSNames: req.Names, NotBefore: now.Add(-c.life / 10), NotAfter: now.Add(c.life)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return &pb.IssueCertificateResponse{
		CertChainPem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPem:       pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}, nil
}

// A listener's certificate is re-issued once less than a third of its
// lifetime is left, without failing handshakes meanwhile.
func TestCertificateRenewal(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	ca := &shortCA{life: time.Hour, clock: clock}
	h := &Host{tls: ca, now: clock.Now}
	cfg, err := h.TLSConfig(context.Background(), "localhost")
	require.NoError(t, err)
	first, err := cfg.GetCertificate(nil)
	require.NoError(t, err, "first certificate")
	require.NotNil(t, first.Leaf, "first certificate")
	require.Equal(t, int32(1), ca.issued.Load(), "issued")
	// Before the renewal point: the same certificate, no new issue.
	c, _ := cfg.GetCertificate(nil)
	require.Same(t, first, c, "certificate changed early")
	clock.Advance(50 * time.Minute) // past the renewal point: less than a third of the lifetime left
	c, err = cfg.GetCertificate(nil)
	require.NoError(t, err, "during renewal") // still serves the old one
	require.NotNil(t, c, "during renewal")
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _ := cfg.GetCertificate(nil)
		if c != first && c.Leaf.SerialNumber.Int64() == 2 {
			break
		}
		require.False(t, time.Now().After(deadline), "not renewed; issued %d", ca.issued.Load())
		time.Sleep(10 * time.Millisecond)
	}
}

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.1.2.3": true, "::1": true, "localhost": true,
		"0.0.0.0": false, "": false, "::": false, "192.168.1.2": false, "example.com": false,
	} {
		assert.Equal(t, want, isLoopbackHost(host), "%q", host)
	}
}
