package eimzo_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/stretchr/testify/assert"
)

// pluginReq builds a request of plugin.
func pluginReq(plugin, name string, args ...string) map[string]any {
	if args == nil {
		args = []string{}
	}
	return map[string]any{"plugin": plugin, "name": name, "arguments": args}
}

func TestCKCListAndSupported(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	url := endpoint(h, "wss")
	r := call(t, h, url, testOrigin, pluginReq("ckc", "list_ckc"))
	wantOK(t, "list_ckc", r)
	devs, _ := r["devices"].([]any)
	var found int
	for _, d := range devs {
		m, _ := d.(map[string]any)
		id, _ := m["deviceID"].(string)
		assert.Equal(t, "EIMZO", m["type"], "device %v", d)
		assert.NotEmpty(t, id, "device %v without a deviceID", d)
		if strings.Contains(id, plugintest.TokenLabel) && strings.Contains(id, h.Fixture.Token.Serial) {
			found++
		}
	}
	assert.Equal(t, 1, found, "list_ckc: %v, want the %q token once", devs, plugintest.TokenLabel)

	r = call(t, h, url, testOrigin, pluginReq("ckc", "supported_ckc"))
	wantOK(t, "supported_ckc", r)
	assert.Equal(t, []any{"EIMZO"}, r["types"], "supported_ckc: %v", r)
	for _, tc := range []struct{ plugin, name, field string }{
		{"idcard", "list_readers", "readers"},
		{"baikey", "list_tokens", "tokens"},
		{"uzgrd", "list_tokens", "tokens"},
	} {
		r := call(t, h, url, testOrigin, pluginReq(tc.plugin, tc.name))
		wantOK(t, tc.plugin+"."+tc.name, r)
		if assert.IsType(t, []any{}, r[tc.field], "%s.%s: %v, want a %s list", tc.plugin, tc.name, r, tc.field) {
			assert.Empty(t, r[tc.field], "%s.%s: want an empty %s list", tc.plugin, tc.name, tc.field)
		}
	}
	for _, p := range []string{"ckc", "idcard", "baikey", "uzgrd"} {
		wantOK(t, p+".clear_saved_pin_codes", call(t, h, url, testOrigin, pluginReq(p, "clear_saved_pin_codes")))
	}
	wantStatus(t, "list_ckc without an Origin", call(t, h, url, "", pluginReq("ckc", "list_ckc")), -1021)
}

// TestCKCPseudoIDChooser signs with the pseudo-ids: the host's key chooser
// gets every token key that can sign, the person's pick is the signer,
// and the grant the chooser returned is presented on the signature.
func TestCKCPseudoIDChooser(t *testing.T) {
	rec := &recorder{}
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: rec})
	url := endpoint(h, "ws")
	want := h.Key(t, plugintest.KeyECDSA)
	rec.choose = func(consent.Request) (string, string) { return want.URI, "grant-for-" + plugintest.KeyECDSA }

	data := base64.StdEncoding.EncodeToString([]byte("hujjat matni"))
	for _, pseudo := range []string{"ckc", "idcard", "baikey", "uzgrd"} {
		r := call(t, h, url, testOrigin, pluginReq("pkcs7", "create_pkcs7", data, pseudo, "no"))
		wantOK(t, "create_pkcs7 with "+pseudo, r)
		assert.Equal(t, want.Certificate.SerialNumber.Text(16), r["signer_serial_number"], "%s: signer, want the chosen key's certificate", pseudo)
	}

	var choices, signs int
	for _, rq := range rec.requests() {
		if len(rq.Choices) > 0 {
			choices++
			var uris []string
			for _, c := range rq.Choices {
				uris = append(uris, c.URI)
				assert.True(t, strings.HasPrefix(c.URI, "pkcs11:"), "candidate %s is not a token key", c.URI)
			}
			// RSA, ECDSA and Ed25519 keys with certificates.
			for _, l := range []string{plugintest.KeyRSA, plugintest.KeyECDSA, plugintest.KeyEd25519} {
				assert.Contains(t, uris, h.KeyURI(t, l), "key %s not offered to the chooser", l)
			}
			// The choice is the consent for the signature: it shows the
			// document.
			assert.Equal(t, testOrigin, rq.Origin, "chooser request %q", rq.Summary)
			assert.Contains(t, rq.Summary, "portal.example", "chooser request")
			assert.Contains(t, rq.Summary, "hujjat matni", "chooser request")
			if assert.Len(t, rq.Documents, 1, "chooser request %q documents", rq.Summary) {
				assert.Equal(t, int64(len("hujjat matni")), rq.Documents[0].Size, "chooser request %q document size", rq.Summary)
			}
		}
		if rq.Kind == consent.Sign && rq.KeyURI == want.URI {
			signs++
			assert.Equal(t, "grant-for-"+plugintest.KeyECDSA, rq.GrantID, "signature presents another grant than the chooser's")
		}
	}
	assert.Equal(t, 4, choices, "key choices")
	assert.Equal(t, 4, signs, "signatures")

	// The person refuses the choice: cancelled by the user.
	rec.mu.Lock()
	rec.deny = func(rq consent.Request) bool { return len(rq.Choices) > 0 }
	rec.mu.Unlock()
	wantStatus(t, "create_pkcs7 with the choice refused",
		call(t, h, url, testOrigin, pluginReq("pkcs7", "create_pkcs7", data, "ckc", "no")), -5002)
}

// TestCKCTokenKeyOption narrows the candidates with the token_key option:
// one key is offered; a prefix matching nothing lists no device and signing
// asks to insert the token (-5003).
func TestCKCTokenKeyOption(t *testing.T) {
	rec := &recorder{}
	h0 := plugintest.Start(t, pkg, nil)
	rsa := h0.Key(t, plugintest.KeyRSA)
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: rec, Options: map[string]string{"token_key": rsa.URI}})
	url := endpoint(h, "ws")
	data := base64.StdEncoding.EncodeToString([]byte("hujjat"))
	r := call(t, h, url, testOrigin, pluginReq("pkcs7", "create_pkcs7", data, "ckc", "yes"))
	wantOK(t, "create_pkcs7 with token_key", r)
	assert.Equal(t, rsa.Certificate.SerialNumber.Text(16), r["signer_serial_number"], "signer, want the token_key's certificate")
	for _, rq := range rec.requests() {
		if len(rq.Choices) > 0 && assert.Len(t, rq.Choices, 1, "chooser offered %v, want only %s", rq.Choices, rsa.URI) {
			assert.Equal(t, rsa.URI, rq.Choices[0].URI, "chooser offered")
		}
	}

	none := plugintest.Start(t, pkg, &plugintest.Config{Options: map[string]string{"token_key": "pkcs11:token=no-such-token"}})
	url = endpoint(none, "ws")
	r = call(t, none, url, testOrigin, pluginReq("ckc", "list_ckc"))
	wantOK(t, "list_ckc", r)
	d, _ := r["devices"].([]any)
	assert.Empty(t, d, "list_ckc with no usable key: want no devices")
	wantStatus(t, "create_pkcs7 without a token key",
		call(t, none, url, testOrigin, pluginReq("pkcs7", "create_pkcs7", data, "ckc", "no")), -5003)
}
