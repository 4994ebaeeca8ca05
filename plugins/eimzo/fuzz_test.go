package eimzo

// FuzzHandle feeds arbitrary frames to the frame handler. It is internal
// (package eimzo) and uses a key store that refuses everything, and a
// consent that refuses (or, for the functions that only ask the origin
// policy, allows) — a fault-injection seam: the real host cannot be driven
// millions of times a minute, and what is under test is the handler's
// parsing, dispatch and reply encoding, not the host. One keyId
// (fuzzKeyID) is loaded, so functions taking a key run up to the key
// store's refusal.
//
// Seeds: every request of the golden transcripts (testdata/golden) plus a
// few hand-written frames; crashers found with -fuzz are kept under
// testdata/fuzz/FuzzHandle.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/signet-agent/signet/sdk"
)

// refusingKeys is a key store that refuses every call, as the host does
// when the person or the policy says no.
type refusingKeys struct{}

func (refusingKeys) Tokens(context.Context, sdk.Operation) ([]sdk.Token, error) {
	return nil, sdk.ErrDenied
}
func (refusingKeys) Keys(context.Context, sdk.Operation) ([]sdk.Key, error) {
	return nil, sdk.ErrDenied
}
func (refusingKeys) Key(context.Context, string, sdk.Operation) (sdk.Key, error) {
	return sdk.Key{}, sdk.ErrDenied
}
func (refusingKeys) Signer(_ context.Context, key sdk.Key, _ sdk.Operation) crypto.Signer {
	return refusingSigner{key.PublicKey}
}
func (refusingKeys) CreateCSR(context.Context, string, *x509.CertificateRequest, sdk.Operation) ([]byte, error) {
	return nil, sdk.ErrDenied
}
func (refusingKeys) GenerateKey(context.Context, sdk.GenerateKeyRequest, sdk.Operation) (sdk.Key, error) {
	return sdk.Key{}, sdk.ErrDenied
}
func (refusingKeys) ImportCertificate(context.Context, sdk.ImportCertificateRequest, sdk.Operation) (sdk.Key, error) {
	return sdk.Key{}, sdk.ErrDenied
}

type refusingSigner struct{ pub crypto.PublicKey }

func (s refusingSigner) Public() crypto.PublicKey { return s.pub }
func (refusingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, sdk.ErrDenied
}

// fuzzConsent refuses every key choice, and answers the origin question
// with allow (so functions gated only by the origin policy run their
// parsers on the fuzzed arguments) or ErrDenied.
type fuzzConsent struct{ allowOrigin bool }

func (c fuzzConsent) Ask(context.Context, string, sdk.Operation) error {
	if c.allowOrigin {
		return nil
	}
	return sdk.ErrDenied
}

func (fuzzConsent) ChooseKey(context.Context, []string, sdk.Operation) (sdk.KeyChoice, error) {
	return sdk.KeyChoice{}, sdk.ErrDenied
}

// fuzzKeyID is the keyId FuzzHandle's server knows.
const fuzzKeyID = "00000000000000000000000000000000"

var (
	fuzzKeyOnce sync.Once
	fuzzKeyInfo sdk.Key
	fuzzKeyErr  error
)

// fuzzKey is a PFX-like key with a self-signed P-256 certificate, made
// once.
func fuzzKey(t *testing.T) sdk.Key {
	fuzzKeyOnce.Do(func() {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			fuzzKeyErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(0x71c4eb12),
			Subject:      pkix.Name{CommonName: "FUZZ TEST", Country: []string{"UZ"}},
			NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			fuzzKeyErr = err
			return
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			fuzzKeyErr = err
			return
		}
		fuzzKeyInfo = sdk.Key{URI: "file:///disk/FUZZ.pfx#fuzz", Label: "fuzz", PublicKey: &k.PublicKey,
			HasPrivateKey: true, CanSign: true, Certificate: cert}
	})
	if fuzzKeyErr != nil {
		t.Fatal(fuzzKeyErr)
	}
	return fuzzKeyInfo
}

// maxObjectReply bounds the encoded size of a failure reply: its reason
// is at most MaxReason bytes, each of which JSON may escape to six.
const maxObjectReply = 8*MaxReason + 1024

// goldenSeeds returns the requests and origins of every golden transcript.
func goldenSeeds(t testing.TB) (frames, origins []string) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var steps []struct {
			Request string `json:"request"`
			Origin  string `json:"origin"`
		}
		if err := json.Unmarshal(b, &steps); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, s := range steps {
			frames = append(frames, s.Request)
			origins = append(origins, s.Origin)
		}
	}
	return frames, origins
}

func FuzzHandle(f *testing.F) {
	frames, origins := goldenSeeds(f)
	for i, fr := range frames {
		f.Add(origins[i], false, []byte(fr))
		f.Add(origins[i], true, []byte(fr))
	}
	for _, fr := range []string{
		``, `garbage`, `null`, `[]`, `{}`, `{"name":"apidoc"}`, `{"name":"version"}}`,
		`{"name":"apikey","arguments":["localhost","00","127.0.0.1"]}`,
		`{"plugin":"pfx","name":"load_key","arguments":["/","","DS1","cn=x"]}`,
		`{"plugin":"pkcs7","name":"create_pkcs7","arguments":["dGVzdA==","ckc","no"]}`,
		`{"plugin":"x509","name":"get_certificate_info","arguments":["MIIB"]}`,
		`{"plugin":"app","name":"change_ui_lang","arguments":["uz"]}`,
	} {
		f.Add("https://portal.example", true, []byte(fr))
		f.Add("", false, []byte(fr))
	}
	f.Fuzz(func(t *testing.T, originHeader string, allowOrigin bool, frame []byte) {
		if len(originHeader) > 1024 || len(frame) > MaxFrame {
			return // bounded by the HTTP server and the WebSocket read limit
		}
		s := NewServer(Config{Keys: refusingKeys{}, Consent: fuzzConsent{allowOrigin}})
		origin, domain := parseOrigin(originHeader)
		// A loaded key under a fixed keyId (the golden transcripts' unknown
		// id), so the functions that take one go past keyFor into their
		// own code until the key store refuses.
		s.handles.byID[fuzzKeyID] = &handle{ID: fuzzKeyID, Type: TypePFX, Domain: domain,
			Key: fuzzKey(t), Expires: time.Now().Add(time.Hour), Disk: "/disk/", Name: "FUZZ"}
		if (origin == "") != (domain == "") || len(domain) > MaxHostname || origin != strings.ToLower(origin) ||
			(domain != "null" && domain != "" && !strings.Contains(origin, domain)) {
			t.Fatalf("Origin %q: origin %q, domain %q", originHeader, origin, domain)
		}
		sess := &session{server: s, origin: origin, domain: domain}
		out := s.handle(context.Background(), sess, frame)
		checkReply(t, frame, out)
	})
}

// checkReply checks what every reply must be: a JSON object with a boolean
// success and a numeric status (success exactly when status is 1, a
// non-empty reason otherwise), bounded in size; or, for apidoc, an array.
func checkReply(t *testing.T, frame, out []byte) {
	t.Helper()
	if !utf8.Valid(out) {
		t.Fatalf("reply is not UTF-8: %q", out)
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("reply is not JSON: %v: %.300s", err, out)
	}
	switch r := v.(type) {
	case []any:
		var req Request
		if json.Unmarshal(frame, &req) != nil || req.Plugin != "" || req.Name != "apidoc" {
			t.Fatalf("array reply to %.200q", frame)
		}
		for _, p := range r {
			m, ok := p.(map[string]any)
			if _, isList := m["functions"].([]any); !ok || !isList {
				t.Fatalf("apidoc entry %v", p)
			}
		}
	case map[string]any:
		success, ok := r["success"].(bool)
		if !ok {
			t.Fatalf("reply without a boolean success: %.300s", out)
		}
		status, ok := r["status"].(float64)
		if !ok || status != float64(int(status)) {
			t.Fatalf("reply without an integer status: %.300s", out)
		}
		if success != (status == StatusOK) {
			t.Fatalf("success %v with status %v: %.300s", success, status, out)
		}
		if reason, _ := r["reason"].(string); !success && reason == "" {
			t.Fatalf("failure without a reason: %.300s", out)
		}
		// A failure quotes at most MaxReason bytes of the request. A
		// success may carry what the function computed from its input
		// (get_pkcs10_info returns the request): bounded by the frame.
		if limit := maxObjectReply + 8*len(frame)*boolInt(success); len(out) > limit {
			t.Fatalf("reply of %d bytes to a frame of %d: %.300s…", len(out), len(frame), out)
		}
	default:
		t.Fatalf("reply is neither an object nor an array: %.300s", out)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
