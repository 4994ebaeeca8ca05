package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/plugintest"
)

func TestMain(m *testing.M) { plugintest.Main(m) }

// pkg is the plugin under test: this directory.
const pkg = "."

// post sends body as JSON to the plugin with an Origin header and decodes
// the JSON reply into out.
func post(t *testing.T, h *plugintest.Host, path string, body, out any) int {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest("POST", "https://"+h.Addr("https")+path, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Origin", "https://portal.example")
	resp, err := h.HTTPClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	return resp.StatusCode
}

type signReply struct {
	Signature []byte `json:"signature"`
	Error     string `json:"error"`
}

func sign(t *testing.T, h *plugintest.Host, keyURI string, digest []byte, id string) (int, signReply) {
	t.Helper()
	var out signReply
	code := post(t, h, "/sign", map[string]string{"key": keyURI, "digest": base64.StdEncoding.EncodeToString(digest), "request_id": id}, &out)
	return code, out
}

// verify checks a raw signature over a SHA-256 digest as /sign makes it.
func verify(pub crypto.PublicKey, digest, sig []byte) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig) == nil
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, digest, sig)
	case ed25519.PublicKey:
		return ed25519.Verify(k, digest, sig)
	}
	return false
}

func TestSignVerifies(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	require.NotEmpty(t, h.Addr("https"), "no https listener: %+v", h.Status())
	digest := sha256.Sum256([]byte("hello signet"))
	for _, label := range []string{plugintest.KeyRSA, plugintest.KeyECDSA, plugintest.KeyEd25519} {
		t.Run(label, func(t *testing.T) {
			key := h.Key(t, label)
			code, out := sign(t, h, key.URI, digest[:], "")
			require.Equal(t, http.StatusOK, code, out.Error)
			assert.True(t, verify(key.PublicKey, digest[:], out.Signature), "signature does not verify")
		})
	}

	// The same request id is signed once only.
	key := h.KeyURI(t, plugintest.KeyECDSA)
	code, _ := sign(t, h, key, digest[:], "req-1")
	require.Equal(t, http.StatusOK, code, "first")
	code, _ = sign(t, h, key, digest[:], "req-1")
	assert.Equal(t, http.StatusBadRequest, code, "duplicate request id")
	// An unknown key maps to 404 through errors.Is(ErrKeyNotFound).
	code, _ = sign(t, h, "pkcs11:token=plugintest;object=nope;type=private", digest[:], "")
	assert.Equal(t, http.StatusNotFound, code, "unknown key")
}

func TestDenied(t *testing.T) {
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: plugintest.DenyAll()})
	digest := sha256.Sum256([]byte("x"))
	code, out := sign(t, h, h.KeyURI(t, plugintest.KeyRSA), digest[:], "")
	assert.Equal(t, http.StatusForbidden, code, "ErrDenied: %s", out.Error)
}
