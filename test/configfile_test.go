package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-agent/signet/agent/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// The agent's configuration file as the tests write it: a test fills an
// agentConfig (newAgentConfig gives the common defaults) and writeConfig
// marshals it to dir/config.yaml. The types mirror the file's shape (see
// agent/config); an empty field is left out, so the file says only what the
// test set.

// agentConfig is the whole file.
type agentConfig struct {
	Keystore  keystoreConf `yaml:"keystore,omitempty"`
	DataDir   string       `yaml:"data_dir,omitempty"`
	PluginDir string       `yaml:"plugin_dir,omitempty"`
	TLS       tlsConf      `yaml:"tls,omitempty"`
	Plugins   []pluginConf `yaml:"plugins,omitempty"`
	Policy    policyConf   `yaml:"policy,omitempty"`
}

// keystoreConf is keystore:.
type keystoreConf struct {
	PKCS11Modules []string `yaml:"pkcs11_modules,omitempty"`
	PFXDirs       []string `yaml:"pfx_dirs,omitempty"`
	PFXFiles      []string `yaml:"pfx_files,omitempty"`
}

// tlsConf is tls:.
type tlsConf struct {
	Names []string `yaml:"names,omitempty"`
}

// pluginConf is one plugins: entry. An empty Path is plugin_dir/Name.
type pluginConf struct {
	Name    string            `yaml:"name"`
	Path    string            `yaml:"path,omitempty"`
	SHA256  string            `yaml:"sha256,omitempty"`
	Listen  []listenConf      `yaml:"listen,omitempty"`
	Options map[string]string `yaml:"options,omitempty"`
}

// listenConf is one listen entry: written in the short "host:port" form
// when only Bind is set, else as the mapping {name, bind, names}.
type listenConf struct {
	Name  string   `yaml:"name,omitempty"`
	Bind  string   `yaml:"bind,omitempty"`
	Names []string `yaml:"names,omitempty"`
}

// MarshalYAML writes the short form when the entry has only an address.
func (l listenConf) MarshalYAML() (any, error) {
	if l.Name == "" && len(l.Names) == 0 {
		return l.Bind, nil
	}
	type mapping listenConf // without this method
	return mapping(l), nil
}

// anyPort is a listen entry on a free loopback port the agent picks.
var anyPort = listenConf{Bind: "127.0.0.1:0"}

// policyConf is policy:.
type policyConf struct {
	Allow      []string       `yaml:"allow,omitempty"`
	Deny       []string       `yaml:"deny,omitempty"`
	Unattended unattendedConf `yaml:"unattended,omitempty"`
	// PasswordOrigins is policy.password_origins.
	PasswordOrigins []string `yaml:"password_origins,omitempty"`
}

// unattendedConf is policy.unattended:.
type unattendedConf struct {
	Rules      []ruleConf  `yaml:"rules,omitempty"`
	PINSources []pinSource `yaml:"pin_sources,omitempty"`
}

// ruleConf is one unattended rule.
type ruleConf struct {
	Origin    string `yaml:"origin,omitempty"`
	Plugin    string `yaml:"plugin,omitempty"`
	Key       string `yaml:"key,omitempty"`
	Operation string `yaml:"operation,omitempty"`
	Action    string `yaml:"action"`
	Uses      int    `yaml:"uses,omitempty"`
}

// allowAll is the unattended rule that allows every origin.
var allowAll = ruleConf{Origin: "*", Action: "allow"}

// pinSource names a token's PIN source: File or Env.
type pinSource struct {
	Token string `yaml:"token"`
	File  string `yaml:"file,omitempty"`
	Env   string `yaml:"env,omitempty"`
}

// newAgentConfig is the configuration most tests start from: the SoftHSM
// module, data_dir dir/data and a plugin_dir with no plugins (dir/no-plugins,
// which does not exist), so only the configured plugins run.
func newAgentConfig(dir string) agentConfig {
	return agentConfig{
		Keystore:  keystoreConf{PKCS11Modules: []string{hsmEnv.Module}},
		DataDir:   filepath.Join(dir, "data"),
		PluginDir: filepath.Join(dir, "no-plugins"),
	}
}

// writeConfig writes cfg to dir/config.yaml (0600) and returns its path.
func writeConfig(t testing.TB, dir string, cfg agentConfig) string {
	t.Helper()
	data, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

// TestWriteConfigLoads: what writeConfig emits, with every field the tests
// use set, passes the agent's strict decoding and validation unchanged.
func TestWriteConfigLoads(t *testing.T) {
	dir := t.TempDir()
	cfg := newAgentConfig(dir)
	cfg.Keystore.PFXDirs = []string{filepath.Join(dir, "keys")}
	cfg.Keystore.PFXFiles = []string{filepath.Join(dir, "a key.pfx")}
	cfg.TLS.Names = []string{"signet.localhost"}
	cfg.Plugins = []pluginConf{
		{Name: "short", Path: "/bin/true", SHA256: strings.Repeat("ab", 32), Listen: []listenConf{anyPort, {Bind: "127.0.0.1:9"}}},
		{Name: "mapping", Listen: []listenConf{{Name: "https", Bind: "127.0.0.1:0", Names: []string{"local.signet.test"}}}, Options: map[string]string{"token_key": "k: \"v\""}},
	}
	cfg.Policy = policyConf{
		Allow: []string{"https://*.example.org"},
		Deny:  []string{"https://*.evil.example"},
		Unattended: unattendedConf{
			Rules:      []ruleConf{allowAll, {Origin: "local", Plugin: "short", Operation: "sign", Action: "allow", Uses: 3}},
			PINSources: []pinSource{{Token: "pkcs11:token=A", File: filepath.Join(dir, "pin")}, {Token: "pkcs11:token=B", Env: "B_PIN"}},
		},
	}
	path := writeConfig(t, dir, cfg)
	assert.Equal(t, filepath.Join(dir, "config.yaml"), path)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(data), "- 127.0.0.1:0\n", "a bind-only listen entry is not in the short form")

	got, err := config.Load(path)
	require.NoError(t, err, "%s", data)
	assert.Equal(t, cfg.Keystore.PKCS11Modules, got.Keystore.Modules)
	assert.Equal(t, cfg.Keystore.PFXDirs, got.Keystore.PFXDirs)
	assert.Equal(t, cfg.Keystore.PFXFiles, got.Keystore.PFXFiles)
	assert.Equal(t, cfg.DataDir, got.DataDir)
	assert.Equal(t, cfg.PluginDir, got.PluginDir)
	assert.Equal(t, cfg.TLS.Names, got.TLS.Names)
	require.Len(t, got.Plugins, 2)
	assert.Equal(t, "/bin/true", got.Plugins[0].Path)
	assert.Equal(t, cfg.Plugins[0].SHA256, got.Plugins[0].SHA256)
	require.Len(t, got.Plugins[0].Listen, 2)
	assert.Equal(t, "127.0.0.1:9", got.Plugins[0].Listen[1].Bind)
	require.Len(t, got.Plugins[1].Listen, 1)
	assert.Equal(t, "https", got.Plugins[1].Listen[0].Name)
	assert.Equal(t, "127.0.0.1:0", got.Plugins[1].Listen[0].Bind)
	assert.Equal(t, []string{"local.signet.test"}, got.Plugins[1].Listen[0].Names)
	assert.Equal(t, cfg.Plugins[1].Options, got.Plugins[1].Options)
	assert.Len(t, got.Policy.Allow, 1)
	assert.Len(t, got.Policy.Deny, 1)
	require.Len(t, got.Policy.Unattended.Rules, 2)
	assert.Equal(t, 3, got.Policy.Unattended.Rules[1].Uses)
	assert.Equal(t, []config.PINSource{
		{Token: "pkcs11:token=A", File: filepath.Join(dir, "pin")},
		{Token: "pkcs11:token=B", Env: "B_PIN"},
	}, got.Policy.Unattended.PINSources)
}
