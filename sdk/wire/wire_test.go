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
)

func TestErrorsRoundTrip(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.kind.String(), func(t *testing.T) {
			orig := fmt.Errorf("sign with pkcs11:token=x: %w", k.err)
			got := FromStatus(ToStatus(orig))
			if !errors.Is(got, k.err) {
				t.Fatalf("%v does not match %v", got, k.err)
			}
			if st, _ := status.FromError(ToStatus(orig)); st.Code() != k.code {
				t.Errorf("code %v, want %v", st.Code(), k.code)
			}
			if k.err != hsm.ErrPINIncorrect && k.err != hsm.ErrPINLocked && got.Error() != orig.Error() {
				t.Errorf("message %q, want %q", got, orig)
			}
		})
	}
}

func TestPINErrorKeepsState(t *testing.T) {
	orig := fmt.Errorf("login: %w", &hsm.PINError{Token: "CI token", State: hsm.PINState{Retries: 2, CountLow: true}, Err: hsm.ErrPINIncorrect})
	got := FromStatus(ToStatus(orig))
	var pe *hsm.PINError
	if !errors.As(got, &pe) {
		t.Fatalf("%T %v is not a PINError", got, got)
	}
	if pe.Token != "CI token" || pe.State.Retries != 2 || !pe.State.CountLow || !errors.Is(got, hsm.ErrPINIncorrect) {
		t.Fatalf("PINError %+v", pe)
	}
	if !strings.Contains(got.Error(), "2 tries left") {
		t.Errorf("message %q", got)
	}
}

func TestContextAndUnknownErrors(t *testing.T) {
	if !errors.Is(FromStatus(ToStatus(context.Canceled)), hsm.ErrCancelled) {
		t.Error("context.Canceled does not come back as ErrCancelled")
	}
	if !errors.Is(FromStatus(ToStatus(context.DeadlineExceeded)), hsm.ErrTimeout) {
		t.Error("context.DeadlineExceeded does not come back as ErrTimeout")
	}
	got := FromStatus(ToStatus(errors.New("disk on fire")))
	for _, k := range kinds {
		if errors.Is(got, k.err) {
			t.Errorf("unknown error matches %v", k.err)
		}
	}
	if got.Error() != "disk on fire" {
		t.Errorf("message %q", got)
	}
	if ToStatus(nil) != nil || FromStatus(nil) != nil {
		t.Error("nil is not nil")
	}
	// A transport failure without details says the other side is gone.
	if !errors.Is(FromStatus(status.Error(codes.Unavailable, "connection reset")), ErrUnavailable) {
		t.Error("Unavailable does not map to ErrUnavailable")
	}
}

func testCert(t testing.TB) (*ecdsa.PrivateKey, *x509.Certificate) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "wire"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return k, c
}

func TestKeyRoundTrip(t *testing.T) {
	k, c := testCert(t)
	in := hsm.KeyInfo{URI: "pkcs11:object=a", TokenURI: "pkcs11:token=t", Label: "a", ID: []byte{1}, Algorithm: hsm.ECDSA, Bits: 256,
		PublicKey: &k.PublicKey, HasPrivateKey: true, CanSign: true, Certificate: c, Chain: []*x509.Certificate{c}}
	p, err := KeyToProto(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := KeyFromProto(p)
	if err != nil {
		t.Fatal(err)
	}
	if out.URI != in.URI || out.Bits != 256 || !out.CanSign || !k.PublicKey.Equal(out.PublicKey) || !out.Certificate.Equal(c) || len(out.Chain) != 1 {
		t.Fatalf("round trip: %+v", out)
	}
}

func TestSignerOpts(t *testing.T) {
	d := make([]byte, 32)
	for _, opts := range []crypto.SignerOpts{crypto.SHA256, &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: 32}} {
		req := &pb.SignRequest{Digest: d}
		SignerOptsToProto(req, opts)
		got, err := SignerOptsFromProto(req)
		if err != nil {
			t.Fatal(err)
		}
		if got.HashFunc() != crypto.SHA256 {
			t.Errorf("hash %v", got.HashFunc())
		}
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			if g, ok := got.(*rsa.PSSOptions); !ok || g.SaltLength != pss.SaltLength {
				t.Errorf("PSS lost: %#v", got)
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
		if _, err := SignerOptsFromProto(r); err == nil {
			t.Errorf("bad request %d accepted", i)
		}
	}
}

func TestCheckOperation(t *testing.T) {
	ok := &pb.Operation{Origin: "https://a", Documents: []*pb.Document{{Name: "a.pdf", Sha256: make([]byte, 32)}}}
	if err := CheckOperation(ok); err != nil {
		t.Fatal(err)
	}
	for i, op := range []*pb.Operation{
		{Summary: strings.Repeat("x", MaxText+1)},
		{Documents: []*pb.Document{{Sha256: make([]byte, 5)}}},
		{Documents: make([]*pb.Document, MaxDocuments+1)},
	} {
		if err := CheckOperation(op); !errors.Is(err, hsm.ErrInvalidRequest) {
			t.Errorf("op %d: %v", i, err)
		}
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
