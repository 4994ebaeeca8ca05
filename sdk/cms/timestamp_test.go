package cms

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/signet-agent/signet/sdk/cms/cmstest"
	"github.com/signet-agent/signet/softhsm-config/softhsmtest"
)

func TestTimestamp(t *testing.T) {
	tsa := cmstest.NewTSA(t, testPKI(t))
	client := &TSAClient{URL: tsa.URL, HTTPClient: &http.Client{Timeout: 10 * time.Second}}
	content := []byte("timestamped document")
	for _, keyType := range []string{softhsmtest.RSA2048, softhsmtest.ECP256} {
		for _, detached := range []bool{false, true} {
			k := testKey(t, keyType)
			sig, err := Sign(content, k.Key, k.Certificate, &SignOptions{Chain: k.Chain, Detached: detached})
			if err != nil {
				t.Fatal(err)
			}
			sd0, _ := ParseSignedData(sig)
			ts, err := client.Timestamp(context.Background(), sig, 0)
			if err != nil {
				t.Fatal(err)
			}
			sd1, err := ParseSignedData(ts)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sd1.Signers[0].rawBeforeUnsigned, sd0.Signers[0].rawBeforeUnsigned) {
				t.Error("signed part of the SignerInfo changed")
			}
			var dc []byte
			if detached {
				dc = content
			}
			if err := opensslVerify(t, ts, dc, "-cades"); err != nil {
				t.Fatal(err)
			}
			var rep *Report
			if detached {
				rep, err = Verify(ts, bytes.NewReader(content), verifyOpts(t))
			} else {
				rep, err = Verify(ts, nil, verifyOpts(t))
			}
			if err != nil {
				t.Fatal(err)
			}
			s := rep.Signers[0]
			if s.Timestamp == nil || !s.Timestamp.Valid() || s.Timestamp.ChainStatus != ChainValid {
				t.Fatalf("timestamp report %+v", s.Timestamp)
			}
			if s.Timestamp.TSA != tsa.Certificate.Subject.String() || !s.Timestamp.Policy.Equal(cmstest.TestPolicy) {
				t.Errorf("TSA %q policy %v", s.Timestamp.TSA, s.Timestamp.Policy)
			}
			if !s.ValidationTime.Equal(s.Timestamp.Time) {
				t.Error("chain not checked at the timestamp time")
			}
		}
	}
}

func TestTimestampCoSignedKeepsOthers(t *testing.T) {
	tsa := cmstest.NewTSA(t, testPKI(t))
	client := &TSAClient{URL: tsa.URL}
	a, b := testKey(t, softhsmtest.ECP256), testKey(t, softhsmtest.RSA2048)
	sig, _ := Sign([]byte("x"), a.Key, a.Certificate, &SignOptions{Chain: a.Chain})
	sig, err := CoSign(sig, nil, b.Key, b.Certificate, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := ParseSignedData(sig)
	ts, err := client.Timestamp(context.Background(), sig, 1)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := ParseSignedData(ts)
	if !bytes.Equal(after.Signers[0].Raw, before.Signers[0].Raw) {
		t.Error("signer 0 changed")
	}
	rep, err := Verify(ts, nil, verifyOpts(t))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Signers[0].Timestamp != nil || rep.Signers[1].Timestamp == nil {
		t.Error("timestamp on the wrong signer")
	}
	if err := opensslVerify(t, ts, nil, "-cades"); err != nil {
		t.Fatal(err)
	}
	// A second timestamp on the same signer adds a second attribute.
	ts2, err := client.Timestamp(context.Background(), ts, 1)
	if err != nil {
		t.Fatal(err)
	}
	sd2, _ := ParseSignedData(ts2)
	if a := findAttr(sd2.Signers[1].UnsignedAttributes, OIDAttributeSignatureTimeStampToken); a == nil || len(sd2.Signers[1].UnsignedAttributes) != 2 {
		t.Error("second token not added")
	}
}

// TestAttachTokenFromElsewhere: a token obtained outside sdk/cms (as with
// E-IMZO's attach_timestamp_token_pkcs7), addressed by serial number.
func TestAttachTokenFromElsewhere(t *testing.T) {
	tsa := cmstest.NewTSA(t, testPKI(t))
	k := testKey(t, softhsmtest.ECP256)
	sig, _ := Sign([]byte("x"), k.Key, k.Certificate, &SignOptions{Chain: k.Chain})
	sd, _ := ParseSignedData(sig)
	h := crypto.SHA512.New()
	h.Write(sd.Signers[0].Signature)
	tok := tsa.Token(t, crypto.SHA512, h.Sum(nil))
	out, err := AttachTimestampBySerial(sig, sd.Signers[0].SerialHex(), tok)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(out, nil, verifyOpts(t))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Signers[0].Timestamp.Valid() {
		t.Fatal(rep.Signers[0].Timestamp.Errors)
	}
	if _, err := AttachTimestampBySerial(sig, "abcdef", tok); err == nil {
		t.Error("unknown serial accepted")
	}
	if _, err := AttachTimestamp(sig, 1, tok); err == nil {
		t.Error("bad signer index accepted")
	}
	if _, err := AttachTimestamp(sig, 0, []byte("not a token")); err == nil {
		t.Error("garbage token accepted")
	}
}

func TestTSAClientFaults(t *testing.T) {
	tsa := cmstest.NewTSA(t, testPKI(t))
	client := &TSAClient{URL: tsa.URL, MaxResponseSize: 64 << 10}
	digest := make([]byte, 32)
	for _, f := range []cmstest.Fault{cmstest.FaultReject, cmstest.FaultHTTP500, cmstest.FaultWrongNonce, cmstest.FaultWrongImprint, cmstest.FaultHuge} {
		tsa.SetFault(f)
		if _, err := client.RequestDigest(context.Background(), digest); !errors.Is(err, ErrTSA) {
			t.Errorf("fault %d: err %v, want ErrTSA", f, err)
		}
	}
	tsa.SetFault(cmstest.FaultNone)
	if _, err := client.RequestDigest(context.Background(), digest[:5]); err == nil {
		t.Error("short digest accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := client.RequestDigest(ctx, digest); err == nil {
		t.Error("cancelled context ignored")
	}
}
