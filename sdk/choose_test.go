package sdk

import (
	"context"
	"errors"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A host that predates ChooseKey (its Consent service lacks the method)
// answers Unimplemented over a real gRPC connection; the plugin sees
// ErrUnsupported and can fall back (e.g. to its own key list).
func TestChooseKeyOldHost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	pb.RegisterConsentServer(srv, struct{ pb.UnimplementedConsentServer }{})
	go srv.Serve(ln) //nolint:errcheck // ends with Stop
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	c := &Consent{c: pb.NewConsentClient(conn)}
	_, err = c.ChooseKey(context.Background(), []string{"pkcs11:token=T;object=k"}, KeyFilter{}, Operation{Origin: "https://portal.example"})
	require.ErrorIs(t, err, ErrUnsupported, "old host")
}

// noConsent fails the test if a call reaches the host.
type noConsent struct {
	pb.ConsentClient
	t *testing.T
}

func (n noConsent) ChooseKey(context.Context, *pb.ChooseKeyRequest, ...grpc.CallOption) (*pb.ChooseKeyResponse, error) {
	assert.Fail(n.t, "ChooseKey reached the host")
	return nil, errors.New("unexpected")
}

// No candidates, or more than MaxKeyChoices, are refused before the host
// is called.
func TestChooseKeyBounds(t *testing.T) {
	c := &Consent{c: noConsent{t: t}}
	many := make([]string, MaxKeyChoices+1)
	for i := range many {
		many[i] = "pkcs11:object=k"
	}
	for _, keys := range [][]string{nil, {}, many} {
		_, err := c.ChooseKey(context.Background(), keys, KeyFilter{}, Operation{})
		assert.ErrorIs(t, err, ErrInvalidRequest, "%d candidates", len(keys))
	}
}
