package wire

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/signet-agent/signet/hsm"
	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrorsRoundTrip(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.kind.String(), func(t *testing.T) {
			orig := fmt.Errorf("sign with pkcs11:token=x: %w", k.err)
			got := FromStatus(ToStatus(orig))
			require.ErrorIs(t, got, k.err)
			st, _ := status.FromError(ToStatus(orig))
			assert.Equal(t, k.code, st.Code(), "code")
			if k.err != hsm.ErrPINIncorrect && k.err != hsm.ErrPINLocked {
				assert.EqualError(t, got, orig.Error(), "message")
			}
		})
	}
}

func TestPINErrorKeepsState(t *testing.T) {
	orig := fmt.Errorf("login: %w", &hsm.PINError{Token: "CI token", State: hsm.PINState{Retries: 2, CountLow: true}, Err: hsm.ErrPINIncorrect})
	got := FromStatus(ToStatus(orig))
	var pe *hsm.PINError
	require.ErrorAs(t, got, &pe, "%T %v is not a PINError", got, got)
	require.Equal(t, "CI token", pe.Token, "PINError %+v", pe)
	require.Equal(t, 2, pe.State.Retries, "PINError %+v", pe)
	require.True(t, pe.State.CountLow, "PINError %+v", pe)
	require.ErrorIs(t, got, hsm.ErrPINIncorrect)
	assert.ErrorContains(t, got, "2 tries left", "message")
}

func TestContextAndUnknownErrors(t *testing.T) {
	assert.ErrorIs(t, FromStatus(ToStatus(context.Canceled)), hsm.ErrCancelled, "context.Canceled does not come back as ErrCancelled")
	assert.ErrorIs(t, FromStatus(ToStatus(context.DeadlineExceeded)), hsm.ErrTimeout, "context.DeadlineExceeded does not come back as ErrTimeout")
	got := FromStatus(ToStatus(errors.New("disk on fire")))
	for _, k := range kinds {
		assert.NotErrorIs(t, got, k.err, "unknown error matches %v", k.err)
	}
	assert.EqualError(t, got, "disk on fire", "message")
	assert.NoError(t, ToStatus(nil), "ToStatus(nil) is not nil")
	assert.NoError(t, FromStatus(nil), "FromStatus(nil) is not nil")
	// A transport failure without details says the other side is gone.
	assert.ErrorIs(t, FromStatus(status.Error(codes.Unavailable, "connection reset")), ErrUnavailable, "Unavailable does not map to ErrUnavailable")
}

func testCert(t testing.TB) (*ecdsa.PrivateKey, *x509.Certificate) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "wire"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	c, _ := x509.ParseCertificate(der)
	return k, c
}

func TestKeyRoundTrip(t *testing.T) {
	k, c := testCert(t)
	in := hsm.KeyInfo{URI: "pkcs11:object=a", TokenURI: "pkcs11:token=t", Label: "a", ID: []byte{1}, Algorithm: hsm.ECDSA, Bits: 256,
		PublicKey: &k.PublicKey, HasPrivateKey: true, CanSign: true, Certificate: c, Chain: []*x509.Certificate{c}}
	p, err := KeyToProto(in)
	require.NoError(t, err)
	out, err := KeyFromProto(p)
	require.NoError(t, err)
	require.Equal(t, in.URI, out.URI, "round trip")
	require.Equal(t, 256, out.Bits, "round trip")
	require.True(t, out.CanSign, "round trip: CanSign")
	require.True(t, k.PublicKey.Equal(out.PublicKey), "round trip: public key")
	require.True(t, out.Certificate.Equal(c), "round trip: certificate")
	require.Len(t, out.Chain, 1, "round trip: chain")
}

func TestSignerOpts(t *testing.T) {
	d := make([]byte, 32)
	for _, opts := range []crypto.SignerOpts{crypto.SHA256, &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: 32}} {
		req := &pb.SignRequest{Digest: d}
		SignerOptsToProto(req, opts)
		got, err := SignerOptsFromProto(req)
		require.NoError(t, err)
		assert.Equal(t, crypto.SHA256, got.HashFunc(), "hash")
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			if g, ok := got.(*rsa.PSSOptions); assert.True(t, ok, "PSS lost: %#v", got) {
				assert.Equal(t, pss.SaltLength, g.SaltLength, "PSS salt length")
			}
		}
	}
	bad := []*pb.SignRequest{
		{Digest: make([]byte, 20), Hash: uint32(crypto.SHA256)}, // wrong length
		{Digest: nil},                       // empty
		{Digest: d, Hash: 999},              // unknown hash
		{Digest: make([]byte, MaxDigest+1)}, // too long
	}
	for i, r := range bad {
		_, err := SignerOptsFromProto(r)
		assert.Error(t, err, "bad request %d accepted", i)
	}
}

func TestCheckOperation(t *testing.T) {
	ok := &pb.Operation{Origin: "https://a", Documents: []*pb.Document{{Name: "a.pdf", Sha256: make([]byte, 32)}}}
	require.NoError(t, CheckOperation(ok))
	for i, op := range []*pb.Operation{
		{Summary: strings.Repeat("x", MaxText+1)},
		{Documents: []*pb.Document{{Sha256: make([]byte, 5)}}},
		{Documents: make([]*pb.Document, MaxDocuments+1)},
	} {
		assert.ErrorIs(t, CheckOperation(op), hsm.ErrInvalidRequest, "op %d", i)
	}
}

// FuzzKeyFromProto feeds arbitrary wire bytes to the key decoder the SDK
// runs on every host reply: it must not panic.
func FuzzKeyFromProto(f *testing.F) {
	k, c := testCert(f)
	p, _ := KeyToProto(hsm.KeyInfo{URI: "u", PublicKey: &k.PublicKey, Certificate: c, Chain: []*x509.Certificate{c}})
	seed, _ := proto.Marshal(p)
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{0x3a, 0x03, 0x30, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		var pk pb.Key
		if proto.Unmarshal(data, &pk) != nil {
			return
		}
		_, _ = KeyFromProto(&pk)
	})
}

// FuzzOperation feeds arbitrary operations to the host's checks.
func FuzzOperation(f *testing.F) {
	seed, _ := proto.Marshal(&pb.Operation{Origin: "https://a", Summary: "s", Evidence: map[string]string{"k": "v"},
		Documents: []*pb.Document{{Name: "a", Size: 1, Sha256: make([]byte, 32)}}})
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		var op pb.Operation
		if proto.Unmarshal(data, &op) != nil {
			return
		}
		_ = CheckOperation(&op)
		_ = FromStatus(ToStatus(fmt.Errorf("%s: %w", op.GetSummary(), hsm.ErrDenied)))
	})
}
