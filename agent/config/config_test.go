package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NoError(t, err)
	ks := c.Keystore
	assert.Equal(t, 4, ks.MaxSessions, "keystore max_sessions")
	assert.Equal(t, 15*time.Minute, ks.LoginIdleTimeout, "keystore login_idle_timeout")
	assert.True(t, ks.EIMZO, "keystore eimzo")
	wantMods := []string{"/usr/lib/softhsm/libsofthsm2.so", "libfoo.so", "/etc/signet/mods/libbar.so"}
	assert.Equal(t, wantMods, ks.Modules, "modules")
	if assert.NotEmpty(t, ks.PFXDirs) {
		assert.Equal(t, "/etc/signet/keys", ks.PFXDirs[0], "pfx dir")
	}
	assert.Equal(t, "/var/lib/signet-test/plugins", c.PluginDir, "plugin dir")
	e, _ := c.Plugin("eimzo")
	assert.Equal(t, "/var/lib/signet-test/plugins/eimzo", e.Path, "eimzo path")
	assert.True(t, e.IsEnabled(), "eimzo enabled")
	assert.True(t, strings.HasPrefix(e.SHA256, "3b1f"), "eimzo sha256 = %q, want lower case", e.SHA256)
	if assert.Len(t, e.Listen, 2, "eimzo listen") {
		assert.Equal(t, "[::1]:64646", e.Listen[1].Bind, "eimzo listen[1]")
	}
	cp, _ := c.Plugin("cipher")
	assert.False(t, cp.IsEnabled(), "cipher enabled")
	assert.Equal(t, "3", cp.Options["retries"], "cipher retries option")
	wantListen := []Listen{
		{Bind: "127.0.0.1:9091", Names: []string{"local.cipher.kiev.ua"}},
		{Bind: "127.0.0.1:9090", Names: []string{"local.cipher.kiev.ua"}},
		{Bind: "127.0.0.1:0"},
	}
	if assert.Len(t, cp.Listen, len(wantListen), "cipher listen") {
		for i, w := range wantListen {
			g := cp.Listen[i]
			assert.Equal(t, w.Bind, g.Bind, "cipher listen[%d] bind", i)
			assert.Equal(t, fmt.Sprint(w.Names), fmt.Sprint(g.Names), "cipher listen[%d] names", i)
		}
		assert.Equal(t, "https", cp.Listen[0].Name, "listener 0 name")
		assert.Empty(t, cp.Listen[1].Name, "listener 1 name")
	}
	assert.Equal(t, "[local.cipher.kiev.ua localhost signet.localhost]", fmt.Sprint(c.TLSNames()), "TLSNames")
	if assert.NotEmpty(t, c.Policy.Unattended.PINSources) {
		assert.Equal(t, "/etc/signet/secrets/pin", c.Policy.Unattended.PINSources[0].File, "pin file")
	}
	for origin, want := range map[string]AdminDecision{
		"https://my.gov.uz":       AdminAllow,
		"https://bad.gov.uz":      AdminDeny,
		"https://gov.uz.evil.com": AdminNone,
		"http://localhost:8080":   AdminAllow,
	} {
		assert.Equal(t, want, c.Policy.Admin(origin), "Admin(%q)", origin)
	}
}

func TestParseEmptyGivesDefaults(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/xdg/data")
	for _, in := range []string{"", "\n# nothing\n", "---\n"} {
		c, err := parse("", []byte(in), fakeDNS)
		require.NoError(t, err, "%q", in)
		assert.Equal(t, "/xdg/data/signet", c.DataDir, "%q: data dir", in)
		assert.Equal(t, "/xdg/data/signet/plugins", c.PluginDir, "%q: plugin dir", in)
		assert.Equal(t, "[localhost]", fmt.Sprint(c.TLSNames()), "%q: TLSNames", in)
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
			require.Error(t, err)
			var ce *Error
			require.ErrorAs(t, err, &ce, "error is not a *config.Error")
			if tt.line < 0 { // the YAML parser picks the line of a syntax error
				tt.line = ce.Line
				assert.Positive(t, ce.Line, "syntax error without a line: %v", err)
			}
			assert.Equal(t, "/etc/signet/config.yaml", ce.File, "error file: %v", err)
			assert.Equal(t, tt.line, ce.Line, "error line: %v", err)
			assert.ErrorContains(t, err, tt.want)
			assert.True(t, strings.HasPrefix(err.Error(), fmt.Sprintf("/etc/signet/config.yaml:%d", tt.line)),
				"error %q does not start with file:line", err)
		})
	}
}

func TestSecretValueNeverEchoed(t *testing.T) {
	_, err := parse("c.yaml", []byte("keystore:\n  user_pin: \"s3cr3t-987\"\n"), fakeDNS)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cr3t-987")
}

func TestAllErrorsReported(t *testing.T) {
	in := "keystore:\n  max_sessions: -3\nplugins:\n  - name: x\n    listen: [\"10.0.0.1:1\"]\ntls:\n  names: [\"-bad\"]\n"
	_, err := parse("c.yaml", []byte(in), fakeDNS)
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 3, "want 3 problems, got %q", err)
	for i, want := range []string{"c.yaml:2:", "c.yaml:5:", "c.yaml:7:"} {
		assert.True(t, strings.HasPrefix(lines[i], want), "problem %d = %q, want prefix %q", i, lines[i], want)
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))

	// No default file: defaults.
	c, err := Load("")
	require.NoError(t, err)
	assert.Empty(t, c.File, "defaults: file")
	assert.Equal(t, filepath.Join(dir, "data", "signet"), c.DataDir, "defaults: data dir")

	// The default path named explicitly behaves the same.
	def := filepath.Join(dir, "signet", "config.yaml")
	_, err = Load(def)
	assert.NoError(t, err, "Load(default path) without a file")

	// Default file present.
	p, _ := DefaultPath()
	assert.Equal(t, def, p, "DefaultPath")
	require.NoError(t, os.MkdirAll(filepath.Dir(def), 0o700))
	require.NoError(t, os.WriteFile(def, []byte("plugin_dir: plug\n"), 0o600))
	c, err = Load("")
	require.NoError(t, err)
	assert.Equal(t, def, c.File, "default file: File")
	assert.Equal(t, filepath.Join(dir, "signet", "plug"), c.PluginDir, "default file: PluginDir")

	// Explicit missing file: error.
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	assert.Error(t, err, "explicit missing file loaded")

	// Explicit bad file: error names it.
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("\n\nbogus: true\n"), 0o600))
	_, err = Load(bad)
	if assert.Error(t, err, "bad file loaded") {
		assert.True(t, strings.HasPrefix(err.Error(), bad+":3:"), "bad file error = %v", err)
	}

	// Oversized file.
	big := filepath.Join(dir, "big.yaml")
	require.NoError(t, os.WriteFile(big, []byte("#"+strings.Repeat("x", MaxFileSize)+"\n"), 0o600))
	_, err = Load(big)
	assert.ErrorContains(t, err, "larger than", "big file error")
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
		require.NoError(t, err, "ParsePattern(%q)", tt.pattern)
		assert.Equal(t, tt.want, p.Match(tt.origin), "%q.Match(%q)", tt.pattern, tt.origin)
	}
}

func TestPatternSyntax(t *testing.T) {
	bad := []string{"", "gov.uz", "*.gov.uz", "https://", "https://a.*.uz", "https://*", "https://*.1.2.3.4",
		"https://a.uz/", "https://a.uz/x", "https://u@a.uz", "https://a.uz:0", "https://a.uz:99999",
		"https://a.uz:", "https://[::1", "https://[1.2.3.4]", "1https://a.uz", "https://a_b.uz", "https://a.uz?x"}
	for _, s := range bad {
		if s == "https://a.uz/" {
			continue
		}
		_, err := ParsePattern(s)
		assert.Error(t, err, "ParsePattern(%q) accepted", s)
	}
	for _, s := range []string{"https://*.gov.uz", "wss://localhost:64443", "http://[::1]:*", "null", "*", "chrome-extension://abc"} {
		_, err := ParsePattern(s)
		assert.NoError(t, err, "ParsePattern(%q)", s)
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
			require.ErrorAs(t, err, &ce, "error is not a *config.Error")
			return
		}
		for _, p := range c.Plugins {
			for _, l := range p.Listen {
				host, _, err := net.SplitHostPort(l.Bind)
				require.NoError(t, err, "accepted malformed bind %q", l.Bind)
				require.True(t, net.ParseIP(host).IsLoopback(), "accepted non-loopback bind %q", l.Bind)
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
			_, _, _, err := ParseOrigin(origin)
			require.NoError(t, err, "%q matched malformed origin %q", pattern, origin)
		}
	})
}
