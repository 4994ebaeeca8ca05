package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Pattern is a web-origin pattern from the administrator's allow and deny
// lists.
//
// Syntax:
//
//	https://portal.example        exactly that origin (port 443 implied)
//	https://*.gov.uz              any subdomain of gov.uz, at any depth,
//	                              but not gov.uz itself; port 443
//	http://localhost:8080         explicit port
//	http://localhost:*            any port
//	null                          the opaque origin "null"
//	*                             every origin
//
// Scheme and host are case-insensitive. A pattern without a port means the
// scheme's default port (http/ws 80, https/wss 443), so https://*.gov.uz
// does not match https://my.gov.uz:8443. Paths, queries, fragments and user
// information are rejected: an origin has none.
type Pattern struct {
	raw      string
	any      bool
	null     bool
	scheme   string
	host     string // lower case, IPv6 without brackets; for wildcards the base
	wildcard bool
	port     string // "*" for any port; "" when the scheme has no default
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.raw }

var defaultPorts = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443"}

// ParsePattern parses an origin pattern.
func ParsePattern(s string) (Pattern, error) {
	p := Pattern{raw: s}
	switch s {
	case "":
		return p, errors.New("empty origin pattern")
	case "*":
		p.any = true
		return p, nil
	case "null":
		p.null = true
		return p, nil
	}
	scheme, host, port, err := splitOrigin(s, true)
	if err != nil {
		return p, fmt.Errorf("origin pattern %q: %w", s, err)
	}
	p.scheme, p.port = scheme, port
	if strings.HasPrefix(host, "*.") {
		p.wildcard = true
		host = host[2:]
		if net.ParseIP(host) != nil {
			return p, fmt.Errorf("origin pattern %q: a wildcard needs a DNS name, not an IP address", s)
		}
	}
	if strings.Contains(host, "*") {
		return p, fmt.Errorf("origin pattern %q: \"*\" is allowed only as the whole first label (*.example.com)", s)
	}
	if net.ParseIP(host) == nil && !validDNSName(host) {
		return p, fmt.Errorf("origin pattern %q: invalid host %q", s, host)
	}
	p.host = host
	return p, nil
}

// Match reports whether origin (as sent in an Origin header) matches the
// pattern. A malformed origin matches only "*".
func (p Pattern) Match(origin string) bool {
	if p.any {
		return true
	}
	if p.null {
		return origin == "null"
	}
	scheme, host, port, err := ParseOrigin(origin)
	if err != nil {
		return false
	}
	if scheme != p.scheme {
		return false
	}
	if p.port != "*" && port != p.port {
		return false
	}
	if p.wildcard {
		return len(host) > len(p.host)+1 && strings.HasSuffix(host, "."+p.host)
	}
	return host == p.host
}

// ParseOrigin splits an origin "scheme://host[:port]" into its lower-case
// scheme, host (IPv6 without brackets) and port, filling in the scheme's
// default port.
func ParseOrigin(origin string) (scheme, host, port string, err error) {
	scheme, host, port, err = splitOrigin(origin, false)
	if err != nil {
		return "", "", "", err
	}
	if net.ParseIP(host) == nil && !validDNSName(host) {
		return "", "", "", fmt.Errorf("invalid host %q", host)
	}
	return scheme, host, port, nil
}

func splitOrigin(s string, pattern bool) (scheme, host, port string, err error) {
	if len(s) > 2048 {
		return "", "", "", errors.New("too long")
	}
	i := strings.Index(s, "://")
	if i <= 0 {
		return "", "", "", errors.New("want scheme://host[:port]")
	}
	scheme = strings.ToLower(s[:i])
	for j, c := range scheme {
		ok := c >= 'a' && c <= 'z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')
		if !ok {
			return "", "", "", fmt.Errorf("invalid scheme %q", s[:i])
		}
	}
	rest := s[i+3:]
	rest = strings.TrimSuffix(rest, "/") // tolerate "https://a.b/" as written by hand
	if strings.ContainsAny(rest, "/?#@\\ ") {
		return "", "", "", errors.New("an origin has no path, query, fragment or user information")
	}
	if rest == "" {
		return "", "", "", errors.New("missing host")
	}
	host, port = rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]")
		if end < 0 {
			return "", "", "", errors.New("unterminated IPv6 address")
		}
		host = rest[1:end]
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return "", "", "", fmt.Errorf("invalid IPv6 address %q", host)
		}
		after := rest[end+1:]
		if after != "" {
			if !strings.HasPrefix(after, ":") {
				return "", "", "", errors.New("junk after IPv6 address")
			}
			port = after[1:]
			if port == "" {
				return "", "", "", errors.New("empty port")
			}
		}
	} else if j := strings.LastIndex(rest, ":"); j >= 0 {
		host, port = rest[:j], rest[j+1:]
		if port == "" {
			return "", "", "", errors.New("empty port")
		}
	}
	host = strings.ToLower(host)
	if host == "" {
		return "", "", "", errors.New("missing host")
	}
	switch {
	case port == "*" && pattern:
	case port != "":
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' || port[0] == '+' {
			return "", "", "", fmt.Errorf("invalid port %q", port)
		}
	default:
		port = defaultPorts[scheme]
	}
	return scheme, host, port, nil
}

// validDNSName reports whether s is a syntactically valid lower-case DNS
// name (letters, digits, hyphens; labels of 1–63 characters; at most 253).
func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// AdminDecision is the administrator's verdict on an origin.
type AdminDecision int

const (
	// AdminNone: neither list matches; the user's decisions apply.
	AdminNone AdminDecision = iota
	// AdminAllow: an allow pattern matches and no deny pattern does.
	AdminAllow
	// AdminDeny: a deny pattern matches (deny beats allow).
	AdminDeny
)

func (d AdminDecision) String() string {
	switch d {
	case AdminAllow:
		return "allow"
	case AdminDeny:
		return "deny"
	}
	return "none"
}

// Admin returns the administrator's decision for origin. Deny patterns win
// over allow patterns.
func (p *Policy) Admin(origin string) AdminDecision {
	for _, d := range p.deny {
		if d.Match(origin) {
			return AdminDeny
		}
	}
	for _, a := range p.allow {
		if a.Match(origin) {
			return AdminAllow
		}
	}
	return AdminNone
}

// PasswordOrigin reports whether the administrator lets pages of origin
// pass the password of a key container they uploaded
// (policy.password_origins). A local caller (origin "") and a denied
// origin never do.
func (p *Policy) PasswordOrigin(origin string) bool {
	if origin == "" || p.Admin(origin) == AdminDeny {
		return false
	}
	for _, pat := range p.passwords {
		if pat.Match(origin) {
			return true
		}
	}
	return false
}
