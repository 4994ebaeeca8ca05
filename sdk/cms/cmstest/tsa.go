// Package cmstest provides test helpers for code that uses sdk/cms: an
// in-process RFC 3161 timestamp authority served over HTTP.
//
// The TSA builds its responses with github.com/digitorus/timestamp and
// signs them with an ECDSA P-256 key whose certificate (critical extended
// key usage timeStamping, as RFC 3161 requires) is issued by a
// softhsmtest.PKI, so tokens chain to that PKI's root.
package cmstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/signet-agent/signet/internal/softhsmtest"
)

// Fault makes the TSA misbehave for negative tests.
type Fault int

const (
	FaultNone         Fault = iota
	FaultReject             // PKIStatus rejection (2)
	FaultHTTP500            // HTTP 500
	FaultWrongNonce         // token with a different nonce
	FaultWrongImprint       // token over a different hash
	FaultHuge               // a response larger than any sane limit
)

// TestPolicy is the TSA policy OID written in tokens.
var TestPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 3161, 1}

// TSA is an in-process timestamp authority.
type TSA struct {
	URL         string
	Certificate *x509.Certificate
	Key         crypto.Signer
	Chain       []*x509.Certificate // intermediate, root of the PKI
	Server      *httptest.Server

	mu       sync.Mutex
	fault    Fault
	now      func() time.Time
	requests atomic.Int64
}

// NewTSA starts a TSA whose certificate is issued by pki. The server is
// closed when the test ends.
func NewTSA(t testing.TB, pki *softhsmtest.PKI) *TSA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.Issue(&key.PublicKey, softhsmtest.IssueOptions{
		Subject:         pkix.Name{CommonName: pki.Name + " TSA", Organization: []string{"Signet Test"}},
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tsa := &TSA{Certificate: cert, Key: key, Chain: pki.Chain(), now: time.Now}
	tsa.Server = httptest.NewServer(http.HandlerFunc(tsa.serve))
	tsa.URL = tsa.Server.URL
	t.Cleanup(tsa.Server.Close)
	return tsa
}

// SetFault changes the behaviour for the following requests.
func (a *TSA) SetFault(f Fault) {
	a.mu.Lock()
	a.fault = f
	a.mu.Unlock()
}

// SetClock sets the time written in tokens (nil: time.Now).
func (a *TSA) SetClock(now func() time.Time) {
	a.mu.Lock()
	if now == nil {
		now = time.Now
	}
	a.now = now
	a.mu.Unlock()
}

// Requests is the number of requests served.
func (a *TSA) Requests() int64 { return a.requests.Load() }

func (a *TSA) serve(w http.ResponseWriter, r *http.Request) {
	a.requests.Add(1)
	a.mu.Lock()
	fault, now := a.fault, a.now
	a.mu.Unlock()
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	req, err := timestamp.ParseRequest(body)
	if err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch fault {
	case FaultHTTP500:
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	case FaultReject:
		w.Header().Set("Content-Type", "application/timestamp-reply")
		w.Write(rejection())
		return
	case FaultHuge:
		w.Header().Set("Content-Type", "application/timestamp-reply")
		w.Write(make([]byte, 4<<20))
		return
	}
	ts := timestamp.Timestamp{
		HashAlgorithm:     req.HashAlgorithm,
		HashedMessage:     req.HashedMessage,
		Time:              now().UTC(),
		Accuracy:          time.Second,
		SerialNumber:      big.NewInt(a.requests.Load()),
		Policy:            TestPolicy,
		Nonce:             req.Nonce,
		AddTSACertificate: req.Certificates,
	}
	if fault == FaultWrongNonce {
		ts.Nonce = new(big.Int).Add(req.Nonce, big.NewInt(1))
	}
	if fault == FaultWrongImprint {
		h := req.HashAlgorithm.New()
		h.Write([]byte("something else"))
		ts.HashedMessage = h.Sum(nil)
	}
	resp, err := ts.CreateResponseWithOpts(a.Certificate, a.Key, crypto.SHA256)
	if err != nil {
		http.Error(w, "create response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Write(resp)
}

// rejection is TimeStampResp{status: rejection(2), statusString: "rejected"}.
func rejection() []byte {
	type statusInfo struct {
		Status       int
		StatusString []string `asn1:"utf8"`
	}
	type resp struct{ Status statusInfo }
	der, _ := asn1.Marshal(resp{Status: statusInfo{Status: 2, StatusString: []string{"rejected by test TSA"}}})
	return der
}

// Token requests a token directly (not through sdk/cms) over digest with
// hash h; useful to obtain a token "elsewhere".
func (a *TSA) Token(t testing.TB, h crypto.Hash, digest []byte) []byte {
	t.Helper()
	ts := timestamp.Timestamp{
		HashAlgorithm: h, HashedMessage: digest, Time: time.Now().UTC(), SerialNumber: big.NewInt(7),
		Policy: TestPolicy, AddTSACertificate: true,
	}
	resp, err := ts.CreateResponseWithOpts(a.Certificate, a.Key, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Status asn1.RawValue
		Token  asn1.RawValue
	}
	if _, err := asn1.Unmarshal(resp, &r); err != nil {
		t.Fatal(err)
	}
	return r.Token.FullBytes
}
