package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeDNS resolves local.cipher.kiev.ua to loopback and evil.example to a
// public address; everything else fails.
func fakeDNS(host string) ([]net.IP, error) {
	switch host {
	case "local.cipher.kiev.ua":
		return []net.IP{net.ParseIP("127.0.0.1")}, nil
	case "evil.example":
		return []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("203.0.113.7")}, nil
	}
	return nil, fmt.Errorf("no such host %s", host)
}

const full = `# full example
keystore:
  pkcs11_modules: [/usr/lib/softhsm/libsofthsm2.so, libfoo.so, ./mods/libbar.so]
  max_sessions: 4
  login_idle_timeout: 15m
  pfx_dirs: [keys]
  pfx_files: [/media/DSKEYS/DS1.pfx]
  eimzo: true
data_dir: /var/lib/signet-test
plugins:
  - name: eimzo
    sha256: 3B1F0000000000000000000000000000000000000000000000000000000000AA
    listen: ["127.0.0.1:64443", "[::1]:64646"]
  - name: cipher
    path: /opt/cipher
    enabled: false
    listen:
      - bind: 127.0.0.1:9091
        name: https
        names: [Local.Cipher.Kiev.UA]
      - local.cipher.kiev.ua:9090
      - localhost:0
    options: {mode: strict, retries: 3}
policy:
  allow: ["https://*.gov.uz", "http://localhost:*"]
  deny: ["https://bad.gov.uz"]
  unattended:
    rules:
      - {origin: "https://ci.example", plugin: cipher, operation: sign, action: allow, uses: 10}
      - {origin: local, action: ask}
    pin_sources:
      - {token: "pkcs11:token=CI", file: secrets/pin}
      - {token: "pkcs11:token=CI2", env: CI_PIN}
tls:
  names: [signet.localhost]
`

func TestParseFull(t *testing.T) {
	c, err := parse("/etc/signet/config.yaml", []byte(full), fakeDNS)
	if err != nil {
		t.Fatal(err)
	}
	ks := c.Keystore
	if ks.MaxSessions != 4 || ks.LoginIdleTimeout != 15*time.Minute || !ks.EIMZO {
		t.Errorf("keystore = %+v", ks)
	}
	wantMods := []string{"/usr/lib/softhsm/libsofthsm2.so", "libfoo.so", "/etc/signet/mods/libbar.so"}
	if fmt.Sprint(ks.Modules) != fmt.Sprint(wantMods) {
		t.Errorf("modules = %v, want %v", ks.Modules, wantMods)
	}
	if ks.PFXDirs[0] != "/etc/signet/keys" {
		t.Errorf("pfx dir = %q", ks.PFXDirs[0])
	}
	if c.PluginDir != "/var/lib/signet-test/plugins" {
		t.Errorf("plugin dir = %q", c.PluginDir)
	}
	e, _ := c.Plugin("eimzo")
	if e.Path != "/var/lib/signet-test/plugins/eimzo" || !e.IsEnabled() || e.SHA256[:4] != "3b1f" {
		t.Errorf("eimzo = %+v", e)
	}
	if e.Listen[1].Bind != "[::1]:64646" {
		t.Errorf("eimzo listen = %+v", e.Listen)
	}
	cp, _ := c.Plugin("cipher")
	if cp.IsEnabled() || cp.Options["retries"] != "3" {
		t.Errorf("cipher = %+v", cp)
	}
	wantListen := []Listen{
		{Bind: "127.0.0.1:9091", Names: []string{"local.cipher.kiev.ua"}},
		{Bind: "127.0.0.1:9090", Names: []string{"local.cipher.kiev.ua"}},
		{Bind: "127.0.0.1:0"},
	}
	for i, w := range wantListen {
		g := cp.Listen[i]
		if g.Bind != w.Bind || fmt.Sprint(g.Names) != fmt.Sprint(w.Names) {
			t.Errorf("cipher listen[%d] = %+v, want %+v", i, g, w)
		}
	}
	if cp.Listen[0].Name != "https" || cp.Listen[1].Name != "" {
		t.Errorf("listener names %q %q", cp.Listen[0].Name, cp.Listen[1].Name)
	}
	if got := c.TLSNames(); fmt.Sprint(got) != "[local.cipher.kiev.ua localhost signet.localhost]" {
		t.Errorf("TLSNames = %v", got)
	}
	if c.Policy.Unattended.PINSources[0].File != "/etc/signet/secrets/pin" {
		t.Errorf("pin file = %q", c.Policy.Unattended.PINSources[0].File)
	}
	for origin, want := range map[string]AdminDecision{
		"https://my.gov.uz":       AdminAllow,
		"https://bad.gov.uz":      AdminDeny,
		"https://gov.uz.evil.com": AdminNone,
		"http://localhost:8080":   AdminAllow,
	} {
		if got := c.Policy.Admin(origin); got != want {
			t.Errorf("Admin(%q) = %v, want %v", origin, got, want)
		}
	}
}

func TestParseEmptyGivesDefaults(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/xdg/data")
	for _, in := range []string{"", "\n# nothing\n", "---\n"} {
		c, err := parse("", []byte(in), fakeDNS)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if c.DataDir != "/xdg/data/signet" || c.PluginDir != "/xdg/data/signet/plugins" {
			t.Errorf("%q: data %q plugins %q", in, c.DataDir, c.PluginDir)
		}
		if fmt.Sprint(c.TLSNames()) != "[localhost]" {
			t.Errorf("TLSNames = %v", c.TLSNames())
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		want     string // substring of the error
	}{
		{"unknown top field", "data_dir: /x\nfoo: 1\n", 2, `unknown field "foo"`},
		{"unknown nested field", "keystore:\n  max_sessions: 2\n  modules: [a]\n", 3, `unknown field "modules"`},
		{"syntax", "keystore:\n  max_sessions: [1\n", -1, "did not find expected"},
		{"wrong type", "keystore:\n  max_sessions: many\n", 2, "cannot unmarshal"},
		{"bad duration", "keystore:\n  login_idle_timeout: 10\n", 2, "cannot unmarshal"},
		{"negative sessions", "keystore:\n\n  max_sessions: -1\n", 3, "between 0 and 1024"},
		{"literal pin", "policy:\n  unattended:\n    pin_sources:\n      - token: pkcs11:token=A\n        pin: \"1234\"\n", 5, "must not be stored in the configuration file"},
		{"password in options", "plugins:\n  - name: x\n    options:\n      password: hunter2\n", 4, "PIN or password"},
		{"non-loopback listen", "plugins:\n  - name: x\n    listen:\n      - 127.0.0.1:1\n      - 0.0.0.0:64443\n", 5, "not a loopback address"},
		{"public ip listen", "plugins:\n  - name: x\n    listen: [\"192.168.1.2:80\"]\n", 3, "not a loopback"},
		{"name resolving off loopback", "plugins:\n  - name: x\n    listen: [\"evil.example:80\"]\n", 3, "not a loopback"},
		{"unresolvable name", "plugins:\n  - name: x\n    listen: [\"nowhere.invalid:80\"]\n", 3, "cannot resolve"},
		{"mapping bind is a name", "plugins:\n  - name: x\n    listen:\n      - bind: localhost:80\n        names: [a.b]\n", 4, "must be a loopback IP"},
		{"mapping unknown key", "plugins:\n  - name: x\n    listen:\n      - bind: 127.0.0.1:80\n        port: 3\n", 5, `unknown field "port"`},
		{"bad listener name", "plugins:\n  - name: x\n    listen:\n      - {name: \"a b\", bind: 127.0.0.1:80}\n", 4, "invalid listener name"},
		{"bad port", "plugins:\n  - name: x\n    listen: [\"127.0.0.1:70000\"]\n", 3, "invalid port"},
		{"duplicate bind", "plugins:\n  - name: x\n    listen: [\"127.0.0.1:80\"]\n  - name: y\n    listen: [\"127.0.0.1:80\"]\n", 5, "already used"},
		{"duplicate plugin", "plugins:\n  - name: x\n  - name: x\n", 3, "already configured"},
		{"bad plugin name", "plugins:\n  - name: X/../y\n", 2, "plugin name"},
		{"bad sha", "plugins:\n  - name: x\n    sha256: abc\n", 3, "64 hexadecimal"},
		{"bad allow pattern", "policy:\n  allow:\n    - https://*.gov.uz\n    - https://a.*.uz\n", 4, "only as the whole first label"},
		{"pattern with path", "policy:\n  deny: [\"https://a.uz/x\"]\n", 2, "no path"},
		{"bad action", "policy:\n  unattended:\n    rules:\n      - action: maybe\n", 4, "unknown action"},
		{"missing action", "policy:\n  unattended:\n    rules:\n      - plugin: x\n", 4, "action is required"},
		{"uses on deny", "policy:\n  unattended:\n    rules:\n      - action: deny\n        uses: 3\n", 5, "only to allow"},
		{"bad operation", "policy:\n  unattended:\n    rules:\n      - action: allow\n        operation: burn\n", 5, "unknown operation"},
		{"pin source both", "policy:\n  unattended:\n    pin_sources:\n      - token: pkcs11:token=A\n        file: /x\n        env: X\n", 4, "only one of"},
		{"pin source bad token", "policy:\n  unattended:\n    pin_sources:\n      - token: A\n        env: X\n", 4, "token URI"},
		{"bad tls name", "tls:\n  names: [ok.example, \"bad name\"]\n", 2, "invalid DNS name"},
		{"two documents", "data_dir: /a\n---\ndata_dir: /b\n", 2, "more than one YAML document"},
		{"not a mapping", "- a\n- b\n", 1, "must be a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse("/etc/signet/config.yaml", []byte(tt.in), fakeDNS)
			if err == nil {
				t.Fatal("no error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *config.Error", err, err)
			}
			if tt.line < 0 { // the YAML parser picks the line of a syntax error
				tt.line = ce.Line
				if ce.Line <= 0 {
					t.Errorf("syntax error without a line: %v", err)
				}
			}
			if ce.File != "/etc/signet/config.yaml" || ce.Line != tt.line {
				t.Errorf("error at %s:%d, want line %d: %v", ce.File, ce.Line, tt.line, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("/etc/signet/config.yaml:%d", tt.line)) {
				t.Errorf("error %q does not start with file:line", err)
			}
		})
	}
}

func TestSecretValueNeverEchoed(t *testing.T) {
	_, err := parse("c.yaml", []byte("keystore:\n  user_pin: \"s3cr3t-987\"\n"), fakeDNS)
	if err == nil || strings.Contains(err.Error(), "s3cr3t-987") {
		t.Fatalf("err = %v", err)
	}
}

func TestAllErrorsReported(t *testing.T) {
	in := "keystore:\n  max_sessions: -3\nplugins:\n  - name: x\n    listen: [\"10.0.0.1:1\"]\ntls:\n  names: [\"-bad\"]\n"
	_, err := parse("c.yaml", []byte(in), fakeDNS)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 problems, got %q", err)
	}
	for i, want := range []string{"c.yaml:2:", "c.yaml:5:", "c.yaml:7:"} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("problem %d = %q, want prefix %q", i, lines[i], want)
		}
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))

	// No default file: defaults.
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.File != "" || c.DataDir != filepath.Join(dir, "data", "signet") {
		t.Errorf("defaults: %+v", c)
	}

	// The default path named explicitly behaves the same.
	def := filepath.Join(dir, "signet", "config.yaml")
	if _, err := Load(def); err != nil {
		t.Errorf("Load(default path) without a file: %v", err)
	}

	// Default file present.
	if p, _ := DefaultPath(); p != def {
		t.Errorf("DefaultPath = %q, want %q", p, def)
	}
	os.MkdirAll(filepath.Dir(def), 0o700)
	os.WriteFile(def, []byte("plugin_dir: plug\n"), 0o600)
	c, err = Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.File != def || c.PluginDir != filepath.Join(dir, "signet", "plug") {
		t.Errorf("default file: File %q PluginDir %q", c.File, c.PluginDir)
	}

	// Explicit missing file: error.
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("explicit missing file loaded")
	}

	// Explicit bad file: error names it.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("\n\nbogus: true\n"), 0o600)
	_, err = Load(bad)
	if err == nil || !strings.HasPrefix(err.Error(), bad+":3:") {
		t.Errorf("bad file error = %v", err)
	}

	// Oversized file.
	big := filepath.Join(dir, "big.yaml")
	os.WriteFile(big, []byte("#"+strings.Repeat("x", MaxFileSize)+"\n"), 0o600)
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file error = %v", err)
	}
}

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		origin  string
		want    bool
	}{
		{"https://*.gov.uz", "https://my.gov.uz", true},
		{"https://*.gov.uz", "https://a.b.gov.uz", true},
		{"https://*.gov.uz", "https://MY.GOV.UZ", true},
		{"https://*.gov.uz", "https://my.gov.uz:443", true},
		{"https://*.gov.uz", "https://gov.uz", false},
		{"https://*.gov.uz", "https://gov.uz.evil.com", false},
		{"https://*.gov.uz", "https://evilgov.uz", false},
		{"https://*.gov.uz", "http://my.gov.uz", false},
		{"https://*.gov.uz", "https://my.gov.uz:8443", false},
		{"https://*.gov.uz", "null", false},
		{"https://*.gov.uz", "https://my.gov.uz/path", false},
		{"https://portal.example", "https://portal.example", true},
		{"https://portal.example:443", "https://portal.example", true},
		{"https://portal.example", "https://x.portal.example", false},
		{"http://localhost:8080", "http://localhost:8080", true},
		{"http://localhost:8080", "http://localhost", false},
		{"http://localhost:*", "http://localhost:1234", true},
		{"http://localhost:*", "http://localhost", true},
		{"http://localhost:*", "https://localhost:1234", false},
		{"http://[::1]:8080", "http://[::1]:8080", true},
		{"http://127.0.0.1", "http://127.0.0.1:80", true},
		{"null", "null", true},
		{"null", "https://a.b", false},
		{"*", "https://anything.example", true},
		{"*", "garbage", true},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", tt.pattern, err)
		}
		if got := p.Match(tt.origin); got != tt.want {
			t.Errorf("%q.Match(%q) = %v, want %v", tt.pattern, tt.origin, got, tt.want)
		}
	}
}

func TestPatternSyntax(t *testing.T) {
	bad := []string{"", "gov.uz", "*.gov.uz", "https://", "https://a.*.uz", "https://*", "https://*.1.2.3.4",
		"https://a.uz/", "https://a.uz/x", "https://u@a.uz", "https://a.uz:0", "https://a.uz:99999",
		"https://a.uz:", "https://[::1", "https://[1.2.3.4]", "1https://a.uz", "https://a_b.uz", "https://a.uz?x"}
	for _, s := range bad {
		if _, err := ParsePattern(s); err == nil && s != "https://a.uz/" {
			t.Errorf("ParsePattern(%q) accepted", s)
		}
	}
	for _, s := range []string{"https://*.gov.uz", "wss://localhost:64443", "http://[::1]:*", "null", "*", "chrome-extension://abc"} {
		if _, err := ParsePattern(s); err != nil {
			t.Errorf("ParsePattern(%q): %v", s, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte(""))
	f.Add([]byte("plugins:\n  - name: x\n    listen: [{bind: 127.0.0.1:1, names: [a]}]\n"))
	f.Add([]byte("policy: {allow: ['https://*.a'], unattended: {rules: [{action: allow}]}}"))
	f.Add([]byte("keystore: {pin: 1}"))
	f.Add([]byte("&a [*a, *a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse("fuzz.yaml", data, fakeDNS)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *config.Error", err, err)
			}
			return
		}
		for _, p := range c.Plugins {
			for _, l := range p.Listen {
				host, _, err := net.SplitHostPort(l.Bind)
				if err != nil || !net.ParseIP(host).IsLoopback() {
					t.Fatalf("accepted non-loopback bind %q", l.Bind)
				}
			}
		}
		_ = c.TLSNames()
	})
}

func FuzzPattern(f *testing.F) {
	f.Add("https://*.gov.uz", "https://my.gov.uz")
	f.Add("http://[::1]:*", "http://[::1]:80")
	f.Add("null", "null")
	f.Fuzz(func(t *testing.T, pattern, origin string) {
		p, err := ParsePattern(pattern)
		if err != nil {
			return
		}
		if p.Match(origin) && !p.any && !p.null {
			if _, _, _, err := ParseOrigin(origin); err != nil {
				t.Fatalf("%q matched malformed origin %q", pattern, origin)
			}
		}
	})
}
