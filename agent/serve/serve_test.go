package serve

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/hsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	require.NoError(t, err)
	return cfg
}

func TestConfigConsent(t *testing.T) {
	cfg := parse(t, `
data_dir: /tmp/x
policy:
  deny: ["https://evil.example"]
  unattended:
    rules:
      - {origin: "https://*.gov.uz", plugin: eimzo, operation: sign, action: allow, uses: 2}
      - {origin: "local", operation: list, action: allow}
      - {origin: "https://ask.example", action: ask}
      - {origin: "https://evil.example", action: allow}
`)
	a, err := consent.NewEngine(consent.EngineConfig{Policy: &cfg.Policy}) // headless: no one to ask
	require.NoError(t, err)
	ctx := context.Background()
	cases := []struct {
		name string
		req  consent.Request
		ok   bool
	}{
		{"gov sign 1", consent.Request{Kind: consent.Sign, Origin: "https://my.gov.uz", Plugin: "eimzo"}, true},
		{"gov origin question does not use a use", consent.Request{Kind: consent.Origin, Origin: "https://my.gov.uz", Plugin: "eimzo"}, true},
		{"gov sign 2", consent.Request{Kind: consent.Sign, Origin: "https://my.gov.uz", Plugin: "eimzo"}, true},
		{"gov sign 3: uses exhausted", consent.Request{Kind: consent.Sign, Origin: "https://my.gov.uz", Plugin: "eimzo"}, false},
		{"other plugin", consent.Request{Kind: consent.Sign, Origin: "https://my.gov.uz", Plugin: "cipher"}, false},
		{"local list", consent.Request{Kind: consent.List, Caller: "cli"}, true},
		{"local sign", consent.Request{Kind: consent.Sign, Caller: "cli"}, false},
		{"ask has no one to ask", consent.Request{Kind: consent.Sign, Origin: "https://ask.example"}, false},
		{"admin deny beats allow rule", consent.Request{Kind: consent.List, Origin: "https://evil.example"}, false},
	}
	for _, c := range cases {
		err := a.Ask(ctx, c.req)
		if c.ok {
			assert.NoError(t, err, c.name)
		} else {
			assert.ErrorIs(t, err, hsm.ErrDenied, c.name)
		}
	}
}

func TestPluginSpecs(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "signet-plugin-eimzo"), []byte("x"), 0o755))
	cfg := parse(t, `
data_dir: /tmp/x
plugin_dir: `+dir+`
plugins:
  - name: eimzo
    listen: ["127.0.0.1:64443", {bind: "127.0.0.1:64646", names: [e.localhost]}]
    options: {lang: uz}
  - name: off
    enabled: false
`)
	specs := pluginSpecs(cfg)
	require.Len(t, specs, 2, "specs")
	assert.Equal(t, host.PluginSpec{Name: "off", Disabled: true}, specs[1], "a disabled plugin is passed on as disabled")
	s := specs[0]
	assert.Equal(t, filepath.Join(dir, "signet-plugin-eimzo"), s.Path, "path")
	want := []host.ListenConfig{{Addr: "127.0.0.1:64443"}, {Addr: "127.0.0.1:64646", TLSNames: []string{"e.localhost"}}}
	if assert.Len(t, s.Listen, 2, "listen") {
		assert.Equal(t, want[0].Addr, s.Listen[0].Addr, "listen[0]")
		assert.Equal(t, want[1].Addr, s.Listen[1].Addr, "listen[1]")
		assert.Len(t, s.Listen[1].TLSNames, 1, "listen[1] TLS names")
	}
	assert.Equal(t, "uz", s.Options["lang"], "options %v", s.Options)
}
