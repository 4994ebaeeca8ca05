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
	"github.com/stretchr/testify/require"
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
	require.NoError(t, fuzzKeyErr)
	return fuzzKeyInfo
}

// maxObjectReply bounds the encoded size of a failure reply: its reason
// is at most MaxReason bytes, each of which JSON may escape to six.
const maxObjectReply = 8*MaxReason + 1024

// goldenSeeds returns the requests and origins of every golden transcript.
func goldenSeeds(t testing.TB) (frames, origins []string) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	require.NoError(t, err)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var steps []struct {
			Request string `json:"request"`
			Origin  string `json:"origin"`
		}
		require.NoError(t, json.Unmarshal(b, &steps), f)
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
		// An origin has a domain and the other way round; the domain is
		// bounded and, unless opaque, part of the lower-case origin.
		require.Equal(t, origin == "", domain == "", "Origin %q: origin %q, domain %q", originHeader, origin, domain)
		require.LessOrEqual(t, len(domain), MaxHostname, "Origin %q: domain %q", originHeader, domain)
		require.Equal(t, strings.ToLower(origin), origin, "Origin %q: origin not in lower case", originHeader)
		if domain != "null" && domain != "" {
			require.Contains(t, origin, domain, "Origin %q: domain not in the origin", originHeader)
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
	require.True(t, utf8.Valid(out), "reply is not UTF-8: %q", out)
	var v any
	require.NoError(t, json.Unmarshal(out, &v), "reply is not JSON: %.300s", out)
	switch r := v.(type) {
	case []any:
		// Only apidoc answers with an array.
		var req Request
		require.NoError(t, json.Unmarshal(frame, &req), "array reply to %.200q", frame)
		require.Empty(t, req.Plugin, "array reply to %.200q", frame)
		require.Equal(t, "apidoc", req.Name, "array reply to %.200q", frame)
		for _, p := range r {
			m, ok := p.(map[string]any)
			require.True(t, ok, "apidoc entry %v", p)
			require.IsType(t, []any{}, m["functions"], "apidoc entry %v", p)
		}
	case map[string]any:
		success, ok := r["success"].(bool)
		require.True(t, ok, "reply without a boolean success: %.300s", out)
		status, ok := r["status"].(float64)
		require.True(t, ok, "reply without a numeric status: %.300s", out)
		require.Equal(t, float64(int(status)), status, "reply without an integer status: %.300s", out)
		require.Equal(t, status == StatusOK, success, "success with status %v: %.300s", status, out)
		if !success {
			require.NotEmpty(t, r["reason"], "failure without a reason: %.300s", out)
			require.IsType(t, "", r["reason"], "failure reason: %.300s", out)
		}
		// A failure quotes at most MaxReason bytes of the request. A
		// success may carry what the function computed from its input
		// (get_pkcs10_info returns the request): bounded by the frame.
		limit := maxObjectReply + 8*len(frame)*boolInt(success)
		require.LessOrEqual(t, len(out), limit, "reply of %d bytes to a frame of %d: %.300s…", len(out), len(frame), out)
	default:
		require.FailNow(t, "reply is neither an object nor an array", "%.300s", out)
	}

}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
