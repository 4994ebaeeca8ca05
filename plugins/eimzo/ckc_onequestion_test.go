package eimzo_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/signet-agent/signet/internal/testutil"
)

// A domain the person has not allowed yet signs with "ckc" (whatever
// token key the person picks) under the host's real consent engine: the
// plugin lists the token keys for the choice, the person picks one and the
// signature follows — ONE question, the key choice, which is also the
// domain's first use; the signature carries the picked key's certificate,
// which came with the choice.
func TestCKCFirstUseDomainAsksOnce(t *testing.T) {
	h, p, want := startWithPerson(t)

	data := base64.StdEncoding.EncodeToString([]byte("hujjat matni"))
	r := call(t, h, endpoint(h, "ws"), testOrigin, pluginReq("pkcs7", "create_pkcs7", data, "ckc", "no"))
	wantOK(t, "create_pkcs7 with ckc", r)
	assert.Equal(t, want.Certificate.SerialNumber.Text(16), r["signer_serial_number"], "signed with the picked key's certificate")

	qs := p.Questions()
	require.Len(t, qs, 1, "a first-use domain's ckc signature asks one question")
	assert.True(t, qs[0].FirstUse, "the key choice is the domain's first use")
	assert.NotEmpty(t, qs[0].Request.Choices)
	assert.Equal(t, testOrigin, qs[0].Request.Origin)
}

// TestCKCCertificateChainAsksOnce: get_certificate_chain for ckc from a
// first-use domain allowed once asks one question (the key choice, which
// returns the key in full); it used to look the key up again, a second
// first-use question.
func TestCKCCertificateChainAsksOnce(t *testing.T) {
	h, p, want := startWithPerson(t)

	r := call(t, h, endpoint(h, "ws"), testOrigin, pluginReq("x509", "get_certificate_chain", "ckc"))
	wantOK(t, "get_certificate_chain with ckc", r)
	certs, ok := r["certificates"].([]any)
	require.True(t, ok, "certificates: %v", r)
	require.NotEmpty(t, certs)
	assert.Equal(t, base64.StdEncoding.EncodeToString(want.Certificate.Raw), certs[0], "the picked key's certificate first")
	assert.Len(t, p.Questions(), 1, "a first-use domain's ckc chain asks one question")
}

// startWithPerson runs the plugin under the host's real consent engine,
// with a person who allows each question once and picks the ECDSA key.
func startWithPerson(t *testing.T) (*plugintest.Host, *testutil.Person, hsm.KeyInfo) {
	t.Helper()
	p := &testutil.Person{}
	var store *hsm.Store
	e, err := consent.NewEngine(consent.EngineConfig{Prompter: p,
		KeyInfo: func(ctx context.Context, uri string) (hsm.KeyInfo, error) { return store.Key(ctx, uri) }})
	require.NoError(t, err)
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: e})
	store = h.Store
	want := h.Key(t, plugintest.KeyECDSA)
	p.Pick = want.URI
	return h, p, want
}
