package serve

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/hsm"
)

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
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
		if c.ok != (err == nil) {
			t.Errorf("%s: %v", c.name, err)
		}
		if err != nil && !errors.Is(err, hsm.ErrDenied) {
			t.Errorf("%s: %v is not ErrDenied", c.name, err)
		}
	}
}

func TestPluginSpecs(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "signet-plugin-eimzo"), []byte("x"), 0o755)
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
	if len(specs) != 1 {
		t.Fatalf("specs: %+v", specs)
	}
	s := specs[0]
	if s.Path != filepath.Join(dir, "signet-plugin-eimzo") {
		t.Errorf("path %s", s.Path)
	}
	want := []host.ListenConfig{{Addr: "127.0.0.1:64443"}, {Addr: "127.0.0.1:64646", TLSNames: []string{"e.localhost"}}}
	if len(s.Listen) != 2 || s.Listen[0].Addr != want[0].Addr || s.Listen[1].Addr != want[1].Addr || len(s.Listen[1].TLSNames) != 1 {
		t.Errorf("listen %+v", s.Listen)
	}
	if s.Options["lang"] != "uz" {
		t.Errorf("options %v", s.Options)
	}
}
