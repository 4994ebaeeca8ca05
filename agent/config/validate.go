package config

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/signet-agent/signet/agent/internal/pluginenv"
	"github.com/signet-agent/signet/agent/localca"
)

// resolver looks a host name up; tests inject a fake.
type resolver func(host string) ([]net.IP, error)

func defaultResolver(host string) ([]net.IP, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	ips := make([]net.IP, len(addrs))
	for i, a := range addrs {
		ips[i] = a.IP
	}
	return ips, nil
}

// UnmarshalYAML accepts "host:port" or {name, bind: "ip:port", names: [...]}.
func (l *Listen) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "!!str" && n.Tag != "!!int" {
			return typeErr(n, "listen address must be \"host:port\" or {bind, names}")
		}
		l.Bind = n.Value
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "name":
				if v.Kind != yaml.ScalarNode {
					return typeErr(v, "name must be a listener name")
				}
				l.Name = v.Value
			case "bind":
				if v.Kind != yaml.ScalarNode {
					return typeErr(v, "bind must be \"ip:port\"")
				}
				l.Bind = v.Value
			case "names":
				if v.Kind != yaml.SequenceNode {
					return typeErr(v, "names must be a list of DNS names")
				}
				for _, e := range v.Content {
					if e.Kind != yaml.ScalarNode {
						return typeErr(e, "names must be a list of DNS names")
					}
					l.Names = append(l.Names, e.Value)
				}
			default:
				return typeErr(k, fmt.Sprintf("unknown field %q", k.Value))
			}
		}
		if l.Bind == "" {
			return typeErr(n, "bind is required")
		}
		l.mapping = true
		return nil
	}
	return typeErr(n, "listen address must be \"host:port\" or {bind, names}")
}

func typeErr(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, msg)}}
}

type validator struct {
	file    string
	root    *yaml.Node
	resolve resolver
	errs    []error
}

// pos finds the node at path (mapping keys as strings, sequence indexes as
// ints) and returns its line and column; it falls back to the deepest node
// found.
func (v *validator) pos(path ...any) (int, int) {
	n := v.root
	if n == nil {
		return 0, 0
	}
	line, col := n.Line, n.Column
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						next = n.Content[i+1]
						line, col = n.Content[i].Line, n.Content[i].Column
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
			}
		}
		if next == nil {
			return line, col
		}
		n = next
		line, col = n.Line, n.Column
	}
	return line, col
}

func fieldName(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		}
	}
	return b.String()
}

func (v *validator) errf(path []any, format string, args ...any) {
	line, col := v.pos(path...)
	v.errs = append(v.errs, &Error{File: v.file, Line: line, Column: col, Field: fieldName(path), Reason: fmt.Sprintf(format, args...)})
}

func p(path ...any) []any { return path }

// expand resolves ~ and relative paths against the configuration file's
// directory.
func (v *validator) expand(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	if path == "~" || strings.HasPrefix(path, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("expand %q: %w", path, err)
		}
		path = filepath.Join(home, path[1:])
	}
	if filepath.IsAbs(path) {
		return filepath.Clean(path), nil
	}
	base := "."
	if v.file != "<config>" {
		base = filepath.Dir(v.file)
	}
	abs, err := filepath.Abs(filepath.Join(base, path))
	if err != nil {
		return "", fmt.Errorf("resolve %q: %w", path, err)
	}
	return abs, nil
}

func (v *validator) expandAt(path []any, s *string) {
	out, err := v.expand(*s)
	if err != nil {
		v.errf(path, "%v", err)
		return
	}
	*s = out
}

// set reports whether the file gives a non-null value to the mapping key
// at path.
func (v *validator) set(path ...string) bool {
	n := v.root
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return false
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n != nil && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func (v *validator) applyDefaults(c *Config) error {
	if !v.set("keystore", "login_idle_timeout") {
		c.Keystore.LoginIdleTimeout = DefaultLoginIdleTimeout
	}
	if c.DataDir == "" {
		d, err := DefaultDataDir()
		if err != nil {
			return err
		}
		c.DataDir = d
	} else {
		v.expandAt(p("data_dir"), &c.DataDir)
	}
	if c.PluginDir == "" {
		c.PluginDir = filepath.Join(c.DataDir, "plugins")
	} else {
		v.expandAt(p("plugin_dir"), &c.PluginDir)
	}
	for i := range c.Keystore.Modules {
		// A bare library name is left for the dynamic loader to find.
		if strings.ContainsRune(c.Keystore.Modules[i], '/') || strings.HasPrefix(c.Keystore.Modules[i], "~") {
			v.expandAt(p("keystore", "pkcs11_modules", i), &c.Keystore.Modules[i])
		}
	}
	for i := range c.Keystore.PFXDirs {
		v.expandAt(p("keystore", "pfx_dirs", i), &c.Keystore.PFXDirs[i])
	}
	for i := range c.Keystore.PFXFiles {
		v.expandAt(p("keystore", "pfx_files", i), &c.Keystore.PFXFiles[i])
	}
	for i := range c.Plugins {
		pl := &c.Plugins[i]
		switch {
		case pl.Path == "" && pl.Name != "":
			pl.Path = filepath.Join(c.PluginDir, pl.Name)
		case pl.Path != "" && !filepath.IsAbs(pl.Path) && !strings.HasPrefix(pl.Path, "~"):
			pl.Path = filepath.Join(c.PluginDir, pl.Path)
		default:
			v.expandAt(p("plugins", i, "path"), &pl.Path)
		}
		pl.SHA256 = strings.ToLower(pl.SHA256)
	}
	for i := range c.Policy.Unattended.PINSources {
		v.expandAt(p("policy", "unattended", "pin_sources", i, "file"), &c.Policy.Unattended.PINSources[i].File)
	}
	for i := range c.TLS.Names {
		c.TLS.Names[i] = strings.ToLower(c.TLS.Names[i])
	}
	return nil
}

var (
	pluginNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	envNameRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// validate checks c section by section, recording every problem.
func (v *validator) validate(c *Config) {
	v.validateJournal(c.Journal)
	v.validateKeystore(c.Keystore)
	v.validatePlugins(c.Plugins)
	v.validatePolicy(&c.Policy)
	v.validatePINSources(c.Policy.Unattended.PINSources)
	for i, n := range c.TLS.Names {
		if err := localca.CheckName(n); err != nil {
			v.errf(p("tls", "names", i), "%v", err)
		}
	}
}

func (v *validator) validateJournal(j Journal) {
	if mb := j.MaxSizeMB; mb < 0 || mb > maxJournalSizeMB {
		v.errf(p("journal", "max_size_mb"), "must be between 1 and %d (MiB; 0 for the default %d), got %d",
			maxJournalSizeMB, DefaultJournalMaxSizeMB, mb)
	}
}

func (v *validator) validateKeystore(ks Keystore) {
	if ks.MaxSessions < 0 || ks.MaxSessions > 1024 {
		v.errf(p("keystore", "max_sessions"), "must be between 0 and 1024, got %d", ks.MaxSessions)
	}
	if ks.LoginIdleTimeout < 0 {
		v.errf(p("keystore", "login_idle_timeout"), "must not be negative")
	}
	for i, m := range ks.Modules {
		if m == "" {
			v.errf(p("keystore", "pkcs11_modules", i), "empty module path")
		}
	}
	for i, d := range ks.PFXDirs {
		if d == "" {
			v.errf(p("keystore", "pfx_dirs", i), "empty directory")
		}
	}
	for i, f := range ks.PFXFiles {
		if f == "" {
			v.errf(p("keystore", "pfx_files", i), "empty file name")
		}
	}
}

// validatePlugins checks each plugin and normalises its listen entries;
// names and fixed addresses must be unique.
func (v *validator) validatePlugins(plugins []Plugin) {
	names := map[string]int{}
	binds := map[string]string{}
	for i := range plugins {
		pl := &plugins[i]
		if !pluginNameRE.MatchString(pl.Name) {
			v.errf(p("plugins", i, "name"), "plugin name %q must be 1-64 of a-z, 0-9, '-' and '_', starting with a letter or digit", pl.Name)
		} else if j, dup := names[pl.Name]; dup {
			v.errf(p("plugins", i, "name"), "plugin %q is already configured at plugins[%d]", pl.Name, j)
		} else {
			names[pl.Name] = i
		}
		if pl.SHA256 != "" {
			if b, err := hex.DecodeString(pl.SHA256); err != nil || len(b) != 32 {
				v.errf(p("plugins", i, "sha256"), "must be 64 hexadecimal digits")
			}
		}
		for j := range pl.Listen {
			path := p("plugins", i, "listen", j)
			if err := v.checkListen(&pl.Listen[j]); err != nil {
				v.errf(path, "%v", err)
				continue
			}
			for k, n := range pl.Listen[j].Names {
				if err := localca.CheckName(n); err != nil {
					v.errf(p("plugins", i, "listen", j, "names", k), "%v", err)
				}
			}
			b := pl.Listen[j].Bind
			if _, port, _ := net.SplitHostPort(b); port != "0" {
				if other, dup := binds[b]; dup {
					v.errf(path, "address %s is already used by plugin %q", b, other)
				}
				binds[b] = pl.Name
			}
		}
		for k := range pl.Options {
			if len(k) == 0 || len(k) > 128 {
				v.errf(p("plugins", i, "options"), "option names must be 1-128 characters")
			}
		}
	}
}

// validatePolicy compiles the origin lists and checks the unattended rules.
func (v *validator) validatePolicy(pol *Policy) {
	pol.allow, pol.deny = nil, nil
	for i, s := range pol.Allow {
		pat, err := ParsePattern(s)
		if err != nil {
			v.errf(p("policy", "allow", i), "%v", err)
			continue
		}
		pol.allow = append(pol.allow, pat)
	}
	for i, s := range pol.Deny {
		pat, err := ParsePattern(s)
		if err != nil {
			v.errf(p("policy", "deny", i), "%v", err)
			continue
		}
		pol.deny = append(pol.deny, pat)
	}
	pol.passwords = nil
	for i, s := range pol.PasswordOrigins {
		pat, err := ParsePattern(s)
		if err == nil && (s == "*" || s == "null") {
			err = fmt.Errorf("origin pattern %q: a password origin must name its sites", s)
		}
		if err != nil {
			v.errf(p("policy", "password_origins", i), "%v", err)
			continue
		}
		pol.passwords = append(pol.passwords, pat)
	}
	for i, r := range pol.Unattended.Rules {
		path := func(f string) []any { return p("policy", "unattended", "rules", i, f) }
		switch r.Origin {
		case "", "*", "local":
		default:
			if _, err := ParsePattern(r.Origin); err != nil {
				v.errf(path("origin"), "%v (or \"local\" for a local caller)", err)
			}
		}
		if r.Plugin != "" && r.Plugin != "*" && !pluginNameRE.MatchString(r.Plugin) {
			v.errf(path("plugin"), "invalid plugin name %q", r.Plugin)
		}
		if r.Operation != "" && r.Operation != "*" && !slices.Contains(Operations, r.Operation) {
			v.errf(path("operation"), "unknown operation %q (want one of %s)", r.Operation, strings.Join(Operations, ", "))
		}
		switch r.Action {
		case ActionAllow, ActionDeny, ActionAsk:
		case "":
			v.errf(p("policy", "unattended", "rules", i), "action is required (allow, deny or ask)")
		default:
			v.errf(path("action"), "unknown action %q (want allow, deny or ask)", r.Action)
		}
		if r.Uses < 0 {
			v.errf(path("uses"), "must not be negative")
		} else if r.Uses > 0 && r.Action != ActionAllow {
			v.errf(path("uses"), "a use count applies only to allow rules")
		}
	}
}

// validatePINSources checks that each PIN source names a token and one
// place to read its PIN, and that no plugin could read that place.
func (v *validator) validatePINSources(sources []PINSource) {
	for i, s := range sources {
		path := func(f string) []any { return p("policy", "unattended", "pin_sources", i, f) }
		if !strings.HasPrefix(s.Token, "pkcs11:") && !strings.HasPrefix(s.Token, "file:") {
			v.errf(path("token"), "must be a pkcs11: or file: token URI")
		}
		switch {
		case s.File == "" && s.Env == "":
			v.errf(p("policy", "unattended", "pin_sources", i), "set file or env")
		case s.File != "" && s.Env != "":
			v.errf(p("policy", "unattended", "pin_sources", i), "set only one of file and env")
		case s.Env != "" && !envNameRE.MatchString(s.Env):
			v.errf(path("env"), "invalid environment variable name")
		case pluginenv.Inherited(s.Env):
			v.errf(path("env"), "%s would reach every plugin: plugins inherit %s from the agent; read the PIN from a variable outside these", s.Env, pluginenv.Text())
		}
	}
}

// checkListen validates and normalises one listen entry so that Bind is a
// loopback "ip:port" and Names holds its DNS names.
func (v *validator) checkListen(l *Listen) error {
	mapping := l.mapping
	if l.Name != "" && !pluginNameRE.MatchString(l.Name) {
		return fmt.Errorf("invalid listener name %q", l.Name)
	}
	host, port, err := net.SplitHostPort(l.Bind)
	if err != nil {
		return fmt.Errorf("address %q: want host:port", l.Bind)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("address %q: invalid port", l.Bind)
	}
	for i, name := range l.Names {
		name = strings.ToLower(name)
		if !validDNSName(name) {
			return fmt.Errorf("invalid DNS name %q", name)
		}
		l.Names[i] = name
	}
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("address %q is not a loopback address; plugins may bind only 127.0.0.1, ::1 or names that resolve to them", l.Bind)
		}
		l.Bind = net.JoinHostPort(ip.String(), port)
		return nil
	}
	if mapping {
		return fmt.Errorf("bind %q must be a loopback IP address (put DNS names in names)", l.Bind)
	}
	host = strings.ToLower(host)
	if !validDNSName(host) {
		return fmt.Errorf("address %q: invalid host", l.Bind)
	}
	if host == "localhost" {
		l.Bind = net.JoinHostPort("127.0.0.1", port)
		return nil
	}
	ips, err := v.resolve(host)
	if err != nil || len(ips) == 0 {
		return fmt.Errorf("cannot resolve %q to check it is loopback; write {bind: \"127.0.0.1:%s\", names: [%s]} instead", host, port, host)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("%q resolves to %s, which is not a loopback address", host, ip)
		}
	}
	l.Bind = net.JoinHostPort(ips[0].String(), port)
	l.Names = append(l.Names, host)
	return nil
}
