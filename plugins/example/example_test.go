package main

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/sdk/plugintest"
	"github.com/signet-agent/signet/softhsm-config/softhsmtest"
)

func TestMain(m *testing.M) { plugintest.Main(m) }

const pkg = "github.com/signet-agent/signet/plugins/example"

func sign(t *testing.T, c *http.Client, addr, keyURI string, digest []byte, id string) (*http.Response, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"key": keyURI, "digest": base64.StdEncoding.EncodeToString(digest), "request_id": id})
	req, _ := http.NewRequest("POST", "https://"+addr+"/sign", bytes.NewReader(body))
	req.Header.Set("Origin", "https://portal.example")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST /sign: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Signature string `json:"signature"`
		Error     string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode reply: %v", err)
	}
	sig, _ := base64.StdEncoding.DecodeString(out.Signature)
	if resp.StatusCode != 200 {
		t.Logf("sign: %d %s", resp.StatusCode, out.Error)
	}
	return resp, sig
}

func TestSignVerifies(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	c := h.HTTPClient()
	addr := h.Addr("https")
	if addr == "" {
		t.Fatalf("no https listener: %+v", h.Status())
	}
	digest := sha256.Sum256([]byte("hello signet"))
	for _, label := range []string{plugintest.KeyRSA, plugintest.KeyECDSA, plugintest.KeyEd25519} {
		t.Run(label, func(t *testing.T) {
			key := h.Key(t, label)
			resp, sig := sign(t, c, addr, key.URI, digest[:], "")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if err := softhsmtest.VerifySignature(key.PublicKey, digest[:], sig, crypto.SHA256); err != nil {
				t.Fatal(err)
			}
		})
	}

	// The same request id is signed once only.
	key := h.KeyURI(t, plugintest.KeyECDSA)
	if resp, _ := sign(t, c, addr, key, digest[:], "req-1"); resp.StatusCode != 200 {
		t.Fatalf("first: %d", resp.StatusCode)
	}
	if resp, _ := sign(t, c, addr, key, digest[:], "req-1"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("duplicate request id: status %d, want 400", resp.StatusCode)
	}
	// An unknown key maps to 404 through errors.Is(ErrKeyNotFound).
	if resp, _ := sign(t, c, addr, "pkcs11:token=plugintest;object=nope;type=private", digest[:], ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown key: status %d, want 404", resp.StatusCode)
	}
}

func TestDenied(t *testing.T) {
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: consent.DenyAll})
	digest := sha256.Sum256([]byte("x"))
	resp, _ := sign(t, h.HTTPClient(), h.Addr("https"), h.KeyURI(t, plugintest.KeyRSA), digest[:], "")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403 (ErrDenied)", resp.StatusCode)
	}
}
