package cms

import (
	"bytes"
	"context"
	"crypto"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/signet-agent/signet/sdk/cms/cmstest"
)

func TestTimestamp(t *testing.T) {
	tsa := cmstest.NewTSA(t, testPKI(t))
	client := &TSAClient{URL: tsa.URL, HTTPClient: &http.Client{Timeout: 10 * time.Second}}
	content := []byte("timestamped document")
	for _, keyType := range []string{softhsmtest.RSA2048, softhsmtest.ECP256} {
		for _, detached := range []bool{false, true} {
			k := testKey(t, keyType)
			sig, err := Sign(content, k.Key, k.Certificate, &SignOptions{Chain: k.Chain, Detached: detached})
			require.NoError(t, err)
			sd0, _ := ParseSignedData(sig)
			ts, err := client.Timestamp(context.Background(), sig, 0)
			require.NoError(t, err)
			sd1, err := ParseSignedData(ts)
			require.NoError(t, err)
			assert.Equal(t, sd0.Signers[0].rawBeforeUnsigned, sd1.Signers[0].rawBeforeUnsigned, "signed part of the SignerInfo changed")
			var dc []byte
			if detached {
				dc = content
			}
			require.NoError(t, opensslVerify(t, ts, dc, "-cades"))
			var rep *Report
			if detached {
				rep, err = Verify(ts, bytes.NewReader(content), verifyOpts(t))
			} else {
				rep, err = Verify(ts, nil, verifyOpts(t))
			}
			require.NoError(t, err)
			s := rep.Signers[0]
			require.NotNil(t, s.Timestamp, "timestamp report %+v", s.Timestamp)
			require.True(t, s.Timestamp.Valid(), "timestamp report %+v", s.Timestamp)
			require.Equal(t, ChainValid, s.Timestamp.ChainStatus, "timestamp report %+v", s.Timestamp)
			if assert.Equal(t, tsa.Certificate.Subject.String(), s.Timestamp.TSA, "TSA %q policy %v", s.Timestamp.TSA, s.Timestamp.Policy) {
				assert.True(t, s.Timestamp.Policy.Equal(cmstest.TestPolicy), "TSA %q policy %v", s.Timestamp.TSA, s.Timestamp.Policy)
			}
			assert.True(t, s.ValidationTime.Equal(s.Timestamp.Time), "chain not checked at the timestamp time")
		}
	}
}

func TestTimestampCoSignedKeepsOthers(t *testing.T) {
	tsa := cmstest.NewTSA(t, testPKI(t))
	client := &TSAClient{URL: tsa.URL}
	a, b := testKey(t, softhsmtest.ECP256), testKey(t, softhsmtest.RSA2048)
	sig, _ := Sign([]byte("x"), a.Key, a.Certificate, &SignOptions{Chain: a.Chain})
	sig, err := CoSign(sig, nil, b.Key, b.Certificate, nil)
	require.NoError(t, err)
	before, _ := ParseSignedData(sig)
	ts, err := client.Timestamp(context.Background(), sig, 1)
	require.NoError(t, err)
	after, _ := ParseSignedData(ts)
	assert.Equal(t, before.Signers[0].Raw, after.Signers[0].Raw, "signer 0 changed")
	rep, err := Verify(ts, nil, verifyOpts(t))
	require.NoError(t, err)
	if assert.Nil(t, rep.Signers[0].Timestamp, "timestamp on the wrong signer") {
		assert.NotNil(t, rep.Signers[1].Timestamp, "timestamp on the wrong signer")
	}
	require.NoError(t, opensslVerify(t, ts, nil, "-cades"))
	// A second timestamp on the same signer adds a second attribute.
	ts2, err := client.Timestamp(context.Background(), ts, 1)
	require.NoError(t, err)
	sd2, _ := ParseSignedData(ts2)
	if assert.NotNil(t, findAttr(sd2.Signers[1].UnsignedAttributes, OIDAttributeSignatureTimeStampToken), "second token not added") {
		assert.Len(t, sd2.Signers[1].UnsignedAttributes, 2, "second token not added")
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
	require.NoError(t, err)
	rep, err := Verify(out, nil, verifyOpts(t))
	require.NoError(t, err)
	require.True(t, rep.Signers[0].Timestamp.Valid(), rep.Signers[0].Timestamp.Errors)
	_, err = AttachTimestampBySerial(sig, "abcdef", tok)
	assert.Error(t, err, "unknown serial accepted")
	_, err = AttachTimestamp(sig, 1, tok)
	assert.Error(t, err, "bad signer index accepted")
	_, err = AttachTimestamp(sig, 0, []byte("not a token"))
	assert.Error(t, err, "garbage token accepted")
}

func TestTSAClientFaults(t *testing.T) {
	tsa := cmstest.NewTSA(t, testPKI(t))
	client := &TSAClient{URL: tsa.URL, MaxResponseSize: 64 << 10}
	digest := make([]byte, 32)
	for _, f := range []cmstest.Fault{cmstest.FaultReject, cmstest.FaultHTTP500, cmstest.FaultWrongNonce, cmstest.FaultWrongImprint, cmstest.FaultHuge} {
		tsa.SetFault(f)
		_, err := client.RequestDigest(context.Background(), digest)
		assert.ErrorIs(t, err, ErrTSA, "fault %d: err %v, want ErrTSA", f, err)
	}
	tsa.SetFault(cmstest.FaultNone)
	_, err := client.RequestDigest(context.Background(), digest[:5])
	assert.Error(t, err, "short digest accepted")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = client.RequestDigest(ctx, digest)
	assert.Error(t, err, "cancelled context ignored")
}
