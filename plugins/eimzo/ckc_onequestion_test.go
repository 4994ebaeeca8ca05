package eimzo_test

import (
	"context"
	"encoding/base64"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/plugintest"
)

// allowOnce is a person who answers every question "Allow once" (the
// domain stays not allowed) and, offered keys, picks the one named pick.
type allowOnce struct {
	pick  string
	mu    sync.Mutex
	asked []consent.Question
}

func (p *allowOnce) Confirm(_ context.Context, q consent.Question) (consent.Answer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, q)
	a := consent.Answer{Allow: true}
	for _, c := range q.Request.Choices {
		if c.URI == p.pick {
			a.KeyURI = c.URI
		}
	}
	return a, nil
}

func (p *allowOnce) PIN(context.Context, hsm.PINRequest) (hsm.PINResponse, error) {
	return hsm.PINResponse{}, hsm.ErrCancelled
}

func (p *allowOnce) questions() []consent.Question {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]consent.Question(nil), p.asked...)
}

// A domain the person has not allowed yet signs with "ckc" (whatever
// token key the person picks) under the host's real consent engine: the
// plugin lists the token keys for the choice, the person picks one and the
// signature follows — ONE question, the key choice, which is also the
// domain's first use; the signature carries the picked key's certificate,
// which came with the choice.
func TestCKCFirstUseDomainAsksOnce(t *testing.T) {
	p := &allowOnce{}
	var store *hsm.Store
	e, err := consent.NewEngine(consent.EngineConfig{Prompter: p,
		KeyInfo: func(ctx context.Context, uri string) (hsm.KeyInfo, error) { return store.Key(ctx, uri) }})
	require.NoError(t, err)
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: e})
	store = h.Store
	want := h.Key(t, plugintest.KeyECDSA)
	p.pick = want.URI

	data := base64.StdEncoding.EncodeToString([]byte("hujjat matni"))
	r := call(t, h, endpoint(h, "ws"), testOrigin, pluginReq("pkcs7", "create_pkcs7", data, "ckc", "no"))
	wantOK(t, "create_pkcs7 with ckc", r)
	assert.Equal(t, want.Certificate.SerialNumber.Text(16), r["signer_serial_number"], "signed with the picked key's certificate")

	qs := p.questions()
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
	p := &allowOnce{}
	var store *hsm.Store
	e, err := consent.NewEngine(consent.EngineConfig{Prompter: p,
		KeyInfo: func(ctx context.Context, uri string) (hsm.KeyInfo, error) { return store.Key(ctx, uri) }})
	require.NoError(t, err)
	h := plugintest.Start(t, pkg, &plugintest.Config{Consent: e})
	store = h.Store
	want := h.Key(t, plugintest.KeyECDSA)
	p.pick = want.URI

	r := call(t, h, endpoint(h, "ws"), testOrigin, pluginReq("x509", "get_certificate_chain", "ckc"))
	wantOK(t, "get_certificate_chain with ckc", r)
	certs, ok := r["certificates"].([]any)
	require.True(t, ok, "certificates: %v", r)
	require.NotEmpty(t, certs)
	assert.Equal(t, base64.StdEncoding.EncodeToString(want.Certificate.Raw), certs[0], "the picked key's certificate first")
	assert.Len(t, p.questions(), 1, "a first-use domain's ckc chain asks one question")
}
