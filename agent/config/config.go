// Package config loads and validates the agent's configuration file: one
// YAML file, by default $XDG_CONFIG_HOME/signet/config.yaml ([DefaultPath];
// ~/.config/signet/config.yaml on Linux), or the file named by `signet serve
// --config FILE`. [Load] returns the [Config] with every default filled in,
// or every problem it found, joined: each is an [*Error] that reads
// "FILE:LINE:COL: field: reason". A missing default file means "all
// defaults"; a missing file that was named explicitly is an error. A Config
// is plain data, safe to read from many goroutines once loaded.
//
//	cfg, err := config.Load("") // "" for DefaultPath
//	if err != nil {
//		return err // errors.As finds each *config.Error
//	}
//	ca, err := localca.Open(localca.Dir(cfg.DataDir), cfg.TLSNames(), localca.Options{})
//
// Design: docs/configuration.md (why the file is strict, holds no secrets,
// and binds plugins to loopback only).
//
// # The file
//
//	keystore:
//	  pkcs11_modules: [/usr/lib/softhsm/libsofthsm2.so]
//	  max_sessions: 4
//	  login_idle_timeout: 15m     # the default; 0s keeps a login until the agent stops
//	  pfx_dirs: [~/keys]
//	  pfx_files: [/media/DSKEYS/DS1234.pfx]
//	  eimzo: true                 # also scan E-IMZO's key layout
//	data_dir: ~/.local/share/signet
//	plugin_dir: ~/.local/share/signet/plugins
//	plugins:
//	  - name: eimzo
//	    path: eimzo                # relative to plugin_dir
//	    sha256: 3b1f0e7a5c6d4b29e8f1a0c3d5e7f9b1a2c4e6f8091b3d5f7a9c1e3b5d7f9a1c  # optional pin of the binary
//	    listen: ["127.0.0.1:64443", "127.0.0.1:64646"]
//	  - name: cipher
//	    listen:
//	      - name: https
//	        bind: 127.0.0.1:9091
//	        names: [local.cipher.kiev.ua]
//	    options: {mode: strict}
//	policy:
//	  allow: ["https://*.gov.uz"]
//	  deny:  ["https://*.example.net", "null"]
//	  unattended:
//	    rules:
//	      - {origin: "https://ci.example", plugin: cipher, operation: sign, action: allow, uses: 10}
//	    pin_sources:
//	      - {token: "pkcs11:token=CI", file: /run/secrets/ci-pin}
//	tls:
//	  names: [signet.localhost]
//	journal:
//	  max_size_mb: 64             # rotate the journal file at this size
//
// # Rules
//
//   - Decoding is strict: an unknown field, a second YAML document or a file
//     larger than [MaxFileSize] is an error. Validation reports every problem
//     it finds, each with the line and column of the value it came from. (For
//     a YAML syntax error the line is the parser's, which may point at the
//     start of the unclosed construct.)
//   - No secrets: a mapping key named pin, user_pin, so_pin, password,
//     passphrase (or a variant) anywhere in the document is rejected before
//     decoding, and its value is never echoed. An unattended token names a
//     PIN source instead ([PINSource]: a file or an environment variable).
//   - Paths may start with ~; relative paths are relative to the file's
//     directory, a plugin's path to plugin_dir. A PKCS#11 module without a
//     slash is left to the dynamic loader.
//   - keystore.login_idle_timeout: a token login or an unlocked PFX key is
//     forgotten after this long without use, [DefaultLoginIdleTimeout] when
//     unset. Only an explicit 0s keeps logins until the token is removed or
//     the agent stops.
//   - policy.allow and policy.deny are origin patterns ([Pattern]); deny
//     wins ([AdminDecision]).
//   - policy.password_origins are origin patterns (not "*" or "null") whose
//     pages may pass an uploaded key container's password
//     ([Policy.PasswordOrigin]); none by default.
//   - A listen entry is "host:port" or {name, bind, names}. In the short form
//     the host is a loopback IP, localhost (bound as 127.0.0.1) or a DNS name
//     that resolves only to loopback addresses; it is resolved once, at load,
//     and the bind address becomes the IP it resolved to. In the mapping
//     form bind must be a loopback IP ("ip:port"), names are the TLS names of
//     that listener's certificate, and name selects the plugin's listener.
//   - tls.names and the listen names are the only DNS names besides
//     localhost the local CA may issue for ([Config.TLSNames]); a name a
//     plugin declares itself is honoured only when one of them covers it.
//     Names that would cover other people's sites are refused with the rest
//     of the validation errors: single-label names (com, local), public
//     suffixes (co.uk, kiev.ua, github.io), wildcards and IP addresses
//     ([localca.CheckName]).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds the configuration file.
const MaxFileSize = 1 << 20

// DefaultLoginIdleTimeout is keystore.login_idle_timeout when the file does
// not set it.
const DefaultLoginIdleTimeout = 15 * time.Minute

// Config is the whole configuration file after defaults and validation.
type Config struct {
	Keystore  Keystore `yaml:"keystore"`
	DataDir   string   `yaml:"data_dir"`
	PluginDir string   `yaml:"plugin_dir"`
	Plugins   []Plugin `yaml:"plugins"`
	Policy    Policy   `yaml:"policy"`
	TLS       TLS      `yaml:"tls"`
	Journal   Journal  `yaml:"journal"`

	// File is the file this configuration was loaded from ("" for the
	// built-in defaults when no file exists).
	File string `yaml:"-"`
}

// Keystore configures the key store (hsm). Zero values mean the key store's
// own defaults. Its fields mirror agent/keybackends.Config.
type Keystore struct {
	// Modules are PKCS#11 module paths.
	Modules []string `yaml:"pkcs11_modules"`
	// MaxSessions caps the sessions opened per token (0: key store default).
	MaxSessions int `yaml:"max_sessions"`
	// LoginIdleTimeout logs a token out (and forgets an unlocked PFX key)
	// after this much idle time. Unset: DefaultLoginIdleTimeout. An
	// explicit 0s keeps logins until the token goes or the agent stops.
	LoginIdleTimeout time.Duration `yaml:"login_idle_timeout"`
	// PFXDirs are directories scanned for .pfx/.p12 files.
	PFXDirs []string `yaml:"pfx_dirs"`
	// PFXFiles are individual PFX files.
	PFXFiles []string `yaml:"pfx_files"`
	// EIMZO also scans E-IMZO's key layout (/media/DSKEYS, ~/DSKEYS, …).
	EIMZO bool `yaml:"eimzo"`
}

// Plugin is one configured plugin.
type Plugin struct {
	Name string `yaml:"name"`
	// Path of the plugin binary; relative paths are relative to PluginDir.
	// Empty means PluginDir/Name.
	Path string `yaml:"path"`
	// SHA256 pins the binary (64 hex digits), empty for no pin.
	SHA256 string `yaml:"sha256"`
	// Enabled defaults to true.
	Enabled *bool `yaml:"enabled"`
	// Listen are the addresses the plugin binds.
	Listen []Listen `yaml:"listen"`
	// Options are handed to the plugin unchanged.
	Options map[string]string `yaml:"options"`
}

// IsEnabled reports whether the plugin should be started.
func (p Plugin) IsEnabled() bool { return p.Enabled == nil || *p.Enabled }

// Listen is one listen address of a plugin.
type Listen struct {
	// Name selects the plugin listener this entry configures (as the plugin
	// declares it, e.g. "wss"); empty entries apply in declaration order.
	Name string `yaml:"name"`
	// Bind is "ip:port" with a loopback IP.
	Bind string `yaml:"bind"`
	// Names are the DNS names the plugin's TLS certificate carries for this
	// listener, besides the loopback IPs and localhost.
	Names []string `yaml:"names"`

	mapping bool // written as {bind, names}: bind must be an IP
}

// Policy is the administrator's origin policy and the unattended rules.
type Policy struct {
	// Allow and Deny are origin patterns (see ParsePattern). Deny wins.
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
	// Unattended configures decisions taken without asking a person.
	Unattended Unattended `yaml:"unattended"`
	// PasswordOrigins are origin patterns whose pages may pass the
	// password of a key container they uploaded (Cipher's
	// keyStorePassword); empty by default: the person is always asked.
	// "*" and "null" are refused; a denied origin never passes one.
	PasswordOrigins []string `yaml:"password_origins"`

	allow, deny, passwords []Pattern
}

// Unattended holds rules for CI and kiosks.
type Unattended struct {
	Rules      []Rule      `yaml:"rules"`
	PINSources []PINSource `yaml:"pin_sources"`
}

// Actions of a Rule.
const (
	ActionAllow = "allow"
	ActionDeny  = "deny"
	ActionAsk   = "ask"
)

// Operations a Rule can name ("" or "*" means any).
var Operations = []string{"sign", "decrypt", "keygen", "csr", "import", "list"}

// Rule is one unattended rule. Empty (or "*") match fields match anything.
type Rule struct {
	// Origin is an origin pattern, or "local" for a local caller.
	Origin string `yaml:"origin"`
	// Plugin is a plugin name.
	Plugin string `yaml:"plugin"`
	// Key is a key URI (exact match).
	Key string `yaml:"key"`
	// Operation is one of Operations.
	Operation string `yaml:"operation"`
	// Action is allow, deny or ask.
	Action string `yaml:"action"`
	// Uses bounds how many times an allow rule may be used (0: unbounded).
	Uses int `yaml:"uses"`
}

// PINSource names where an unattended token's PIN comes from. Exactly one of
// File and Env is set.
type PINSource struct {
	// Token is the token URI (pkcs11: or file: URI).
	Token string `yaml:"token"`
	File  string `yaml:"file"`
	Env   string `yaml:"env"`
}

// TLS configures the local CA.
type TLS struct {
	// Names are extra DNS names the local CA may issue for.
	Names []string `yaml:"names"`
}

// Journal configures the audit journal (agent/journal).
type Journal struct {
	// MaxSizeMB rotates the journal file once it reaches this many MiB
	// (0: DefaultJournalMaxSizeMB). Rotated files are kept, and the hash
	// chain runs through all of them.
	MaxSizeMB int `yaml:"max_size_mb"`
}

// DefaultJournalMaxSizeMB is the default of journal.max_size_mb.
const DefaultJournalMaxSizeMB = 64

// maxJournalSizeMB bounds journal.max_size_mb (64 GiB).
const maxJournalSizeMB = 64 << 10

// MaxSize is the journal file size, in bytes, at which it is rotated.
func (j Journal) MaxSize() int64 {
	mb := j.MaxSizeMB
	if mb == 0 {
		mb = DefaultJournalMaxSizeMB
	}
	return int64(mb) << 20
}

// Error is one configuration problem at a place in the file.
type Error struct {
	File   string
	Line   int // 0 when unknown
	Column int
	Field  string // dotted path such as plugins[1].listen[0]; may be empty
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// DefaultPath is $XDG_CONFIG_HOME/signet/config.yaml (os.UserConfigDir).
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find configuration directory: %w", err)
	}
	return filepath.Join(dir, "signet", "config.yaml"), nil
}

// DefaultDataDir is $XDG_DATA_HOME/signet, by default ~/.local/share/signet.
func DefaultDataDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "signet"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find data directory: %w", err)
	}
	return filepath.Join(home, ".local", "share", "signet"), nil
}

// Load reads and validates the configuration file at path. An empty path
// means DefaultPath. A missing file at DefaultPath yields the defaults; a
// missing file named explicitly elsewhere is an error.
func Load(path string) (*Config, error) {
	def, err := DefaultPath()
	if path == "" {
		if err != nil {
			return nil, err
		}
		path = def
	}
	explicit := err != nil || filepath.Clean(path) != filepath.Clean(def)
	f, err := os.Open(path)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return Parse("", nil)
		}
		return nil, fmt.Errorf("open configuration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read configuration %s: %w", path, err)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return Parse(path, data)
}

// Parse decodes and validates data as the contents of file. Relative paths
// in the file are taken relative to file's directory (or the working
// directory when file is "").
func Parse(file string, data []byte) (*Config, error) {
	return parse(file, data, defaultResolver)
}

// secretKeys are mapping keys that would hold a secret in the file.
var secretKeys = map[string]bool{
	"pin": true, "user_pin": true, "so_pin": true, "pin_value": true,
	"password": true, "passphrase": true, "passwd": true,
}

func parse(file string, data []byte, resolve resolver) (*Config, error) {
	name := file
	if name == "" {
		name = "<config>"
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: name, Reason: fmt.Sprintf("file larger than %d bytes", MaxFileSize)}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(name, err)
	}
	if err := rejectSecrets(name, &root); err != nil {
		return nil, err
	}
	cfg := &Config{File: file}
	if len(bytes.TrimSpace(data)) > 0 && root.Kind != 0 {
		if doc := docNode(&root); doc != nil && doc.Kind != yaml.MappingNode &&
			!(doc.Kind == yaml.ScalarNode && doc.Tag == "!!null") {
			return nil, &Error{File: name, Line: doc.Line, Column: doc.Column, Reason: "the configuration must be a mapping"}
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, yamlError(name, err)
		}
		var extra yaml.Node
		if err := dec.Decode(&extra); err == nil {
			return nil, &Error{File: name, Line: extra.Line, Column: extra.Column, Reason: "more than one YAML document"}
		} else if !errors.Is(err, io.EOF) {
			return nil, yamlError(name, err)
		}
		cfg.File = file
	}
	v := &validator{file: name, root: docNode(&root), resolve: resolve}
	if err := v.applyDefaults(cfg); err != nil {
		return nil, err
	}
	v.validate(cfg)
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	return cfg, nil
}

func docNode(root *yaml.Node) *yaml.Node {
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		return root.Content[0]
	}
	if root.Kind == yaml.DocumentNode || root.Kind == 0 {
		return nil
	}
	return root
}

// rejectSecrets fails on any mapping key that would carry a PIN or password.
// The value is never quoted in the error.
func rejectSecrets(file string, n *yaml.Node) error {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if secretKeys[strings.ToLower(k.Value)] {
				return &Error{File: file, Line: k.Line, Column: k.Column, Field: k.Value,
					Reason: "a PIN or password must not be stored in the configuration file; " +
						"use policy.unattended.pin_sources with a file or env instead"}
			}
		}
	}
	for _, c := range n.Content {
		if err := rejectSecrets(file, c); err != nil {
			return err
		}
	}
	return nil
}

// yamlError turns a yaml error ("yaml: line 3: …" or a *yaml.TypeError with
// one "line N: …" per problem) into *Error values.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var errs []error
		for _, msg := range te.Errors {
			errs = append(errs, lineError(file, msg))
		}
		return errors.Join(errs...)
	}
	return lineError(file, strings.TrimPrefix(err.Error(), "yaml: "))
}

func lineError(file, msg string) *Error {
	e := &Error{File: file, Reason: msg}
	var line int
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		e.Line = line
		if i := strings.Index(msg, ":"); i >= 0 {
			e.Reason = strings.TrimSpace(msg[i+1:])
		}
	}
	// "field foo not found in type config.Keystore" → "unknown field \"foo\""
	if strings.HasPrefix(e.Reason, "field ") && strings.Contains(e.Reason, " not found in type ") {
		f := strings.TrimPrefix(e.Reason, "field ")
		f = f[:strings.Index(f, " not found in type ")]
		e.Reason = fmt.Sprintf("unknown field %q", f)
	}
	return e
}

// TLSNames are the DNS names the local CA must be able to issue for:
// localhost, tls.names and every plugin listener name, sorted, without
// duplicates.
func (c *Config) TLSNames() []string {
	set := map[string]bool{"localhost": true}
	for _, n := range c.TLS.Names {
		set[strings.ToLower(n)] = true
	}
	for _, p := range c.Plugins {
		for _, l := range p.Listen {
			for _, n := range l.Names {
				set[strings.ToLower(n)] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Plugin returns the configured plugin with the given name.
func (c *Config) Plugin(name string) (Plugin, bool) {
	for _, p := range c.Plugins {
		if p.Name == name {
			return p, true
		}
	}
	return Plugin{}, false
}
