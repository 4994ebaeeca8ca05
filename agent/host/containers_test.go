package host

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
)

const testPassword = "uploaded-pw-5521"

// testContainer is a PKCS#12 file with one ECDSA key and its certificate.
func testContainer(t *testing.T) ([]byte, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "container"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pfx, err := pkcs12.Modern.Encode(key, cert, nil, testPassword)
	require.NoError(t, err)
	return pfx, cert
}

// containerHost is a Manager whose password prompt answers testPassword
// and counts, and the services of two plugins.
func containerHost(t *testing.T, origins func(string) bool) (m *Manager, a, b *services, asked *atomic.Int32) {
	asked = &atomic.Int32{}
	prompt := func(context.Context, hsm.PINRequest) (hsm.PINResponse, error) {
		asked.Add(1)
		return hsm.PINResponse{PIN: []byte(testPassword)}, nil
	}
	m = New(Config{Consent: consent.AllowAll, Logger: slog.New(slog.DiscardHandler), PasswordPrompt: prompt, PasswordOrigin: origins})
	return m, &services{m: m, plugin: "a", log: m.log}, &services{m: m, plugin: "b", log: m.log}, asked
}

// The host wipes OpenContainer's data after parsing it (a real call's
// buffer): each call here sends its own copy.

func op(origin string, kind pb.Operation_Kind) *pb.Operation {
	return &pb.Operation{Kind: kind, Origin: origin, Summary: "test"}
}

func sign(ctx context.Context, s *services, origin, uri string) (*pb.SignResponse, error) {
	d := sha256.Sum256([]byte("doc"))
	return s.Sign(ctx, &pb.SignRequest{Op: op(origin, pb.Operation_SIGN), KeyUri: uri, Digest: d[:], Hash: uint32(crypto.SHA256)})
}

func code(err error) codes.Code { return status.Code(err) }

// TestContainerScopedToPluginAndOrigin: the plugin and origin that opened
// a container sign with it (the password asked once); another plugin,
// another origin of the same plugin, and anyone after CloseContainer get
// NotFound, without a question or a prompt.
func TestContainerScopedToPluginAndOrigin(t *testing.T) {
	ctx := context.Background()
	m, a, b, asked := containerHost(t, nil)
	pfx, cert := testContainer(t)
	resp, err := a.OpenContainer(ctx, &pb.OpenContainerRequest{Op: op("https://a.example", pb.Operation_LIST), Data: bytes.Clone(pfx)})
	require.NoError(t, err)
	require.Len(t, resp.GetKeys(), 1)
	uri := resp.GetKeys()[0].GetUri()
	assert.Equal(t, 1, m.Containers("a"))

	sig, err := sign(ctx, a, "https://a.example", uri)
	require.NoError(t, err)
	d := sha256.Sum256([]byte("doc"))
	assert.True(t, ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), d[:], sig.GetSignature()))
	assert.Equal(t, int32(1), asked.Load())

	_, err = sign(ctx, b, "https://a.example", uri)
	assert.Equal(t, codes.NotFound, code(err), "another plugin: %v", err)
	_, err = sign(ctx, a, "https://b.example", uri)
	assert.Equal(t, codes.NotFound, code(err), "another origin: %v", err)
	_, err = a.ListKeys(ctx, &pb.ListKeysRequest{Op: op("https://b.example", pb.Operation_LIST), KeyUri: uri})
	assert.Equal(t, codes.NotFound, code(err), "another origin lists it: %v", err)
	_, err = b.CloseContainer(ctx, &pb.CloseContainerRequest{Handle: resp.GetHandle()})
	assert.Equal(t, codes.NotFound, code(err), "another plugin closes it: %v", err)
	_, err = b.ChooseKey(ctx, &pb.ChooseKeyRequest{Op: op("https://a.example", pb.Operation_SIGN), KeyUris: []string{uri}})
	assert.Equal(t, codes.NotFound, code(err), "another plugin offers it: %v", err)

	_, err = a.CloseContainer(ctx, &pb.CloseContainerRequest{Handle: resp.GetHandle()})
	require.NoError(t, err)
	_, err = sign(ctx, a, "https://a.example", uri)
	assert.Equal(t, codes.NotFound, code(err), "after close: %v", err)
	assert.Equal(t, 0, m.Containers("a"))
}

// TestContainerLimits: oversized, garbage and keyless uploads are
// InvalidArgument; a plugin holds at most MaxContainers; closePlugin (the
// plugin exited) forgets them all.
func TestContainerLimits(t *testing.T) {
	ctx := context.Background()
	m, a, b, _ := containerHost(t, nil)
	o := op("https://a.example", pb.Operation_LIST)
	for name, data := range map[string][]byte{
		"empty": nil, "oversized": make([]byte, MaxContainerSize+1), "garbage": []byte("not a PKCS#12 file"),
	} {
		_, err := a.OpenContainer(ctx, &pb.OpenContainerRequest{Op: o, Data: data})
		assert.Equal(t, codes.InvalidArgument, code(err), "%s: %v", name, err)
	}
	pfx, _ := testContainer(t)
	for i := 0; i < MaxContainers; i++ {
		_, err := a.OpenContainer(ctx, &pb.OpenContainerRequest{Op: o, Data: bytes.Clone(pfx)})
		require.NoError(t, err)
	}
	_, err := a.OpenContainer(ctx, &pb.OpenContainerRequest{Op: o, Data: bytes.Clone(pfx)})
	assert.Equal(t, codes.InvalidArgument, code(err), "one too many: %v", err)
	_, err = b.OpenContainer(ctx, &pb.OpenContainerRequest{Op: o, Data: bytes.Clone(pfx)})
	assert.NoError(t, err, "the bound is per plugin")
	assert.Equal(t, MaxContainers, m.uploads.closePlugin("a"))
	assert.Equal(t, 0, m.Containers("a"))
	assert.Equal(t, 1, m.Containers("b"))
}

// TestContainerDeniedOriginCannotUpload: opening is the origin's use of
// the key store; a refused origin opens nothing.
func TestContainerDeniedOriginCannotUpload(t *testing.T) {
	m := New(Config{Consent: consent.DenyAll, Logger: slog.New(slog.DiscardHandler)})
	s := &services{m: m, plugin: "a", log: m.log}
	pfx, _ := testContainer(t)
	_, err := s.OpenContainer(context.Background(), &pb.OpenContainerRequest{Op: op("https://a.example", pb.Operation_LIST), Data: bytes.Clone(pfx)})
	require.Error(t, err)
	assert.Equal(t, 0, m.Containers("a"))
}

// TestUnlockContainerPolicy: a page's password is used only for an origin
// the policy names; otherwise it is dropped and the person is asked.
func TestUnlockContainerPolicy(t *testing.T) {
	ctx := context.Background()
	allowed := "https://allowed.example"
	_, a, _, asked := containerHost(t, func(o string) bool { return o == allowed })
	pfx, _ := testContainer(t)
	for _, origin := range []string{allowed, "https://other.example"} {
		resp, err := a.OpenContainer(ctx, &pb.OpenContainerRequest{Op: op(origin, pb.Operation_LIST), Data: bytes.Clone(pfx)})
		require.NoError(t, err)
		uri := resp.GetKeys()[0].GetUri()
		_, err = a.UnlockContainer(ctx, &pb.UnlockContainerRequest{Op: op(origin, pb.Operation_LIST), Handle: resp.GetHandle(), Password: []byte("wrong")})
		if origin == allowed {
			assert.Error(t, err, "a wrong page password fails")
		} else {
			assert.NoError(t, err)
		}
		u, err := a.UnlockContainer(ctx, &pb.UnlockContainerRequest{Op: op(origin, pb.Operation_LIST), Handle: resp.GetHandle(), Password: []byte(testPassword)})
		require.NoError(t, err)
		assert.Equal(t, origin == allowed, u.GetUsed(), origin)
		before := asked.Load()
		_, err = sign(ctx, a, origin, uri)
		require.NoError(t, err)
		if origin == allowed {
			assert.Equal(t, before, asked.Load(), "unlocked by the page's password: the person is not asked")
		} else {
			assert.Equal(t, before+1, asked.Load(), "the page's password was dropped: the person is asked")
		}
	}
	_, err := a.UnlockContainer(ctx, &pb.UnlockContainerRequest{Op: op(allowed, pb.Operation_LIST), Handle: "nope", Password: []byte(testPassword)})
	assert.Equal(t, codes.NotFound, code(err))
}
