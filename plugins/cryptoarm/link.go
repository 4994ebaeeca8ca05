package cryptoarm

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// MaxLink bounds a cryptoarm: link, inline JSON included.
const MaxLink = 64 << 10

// ErrBadLink is returned for a link this plugin does not accept.
var ErrBadLink = errors.New("cryptoarm link refused")

// Commands of the current generation, by their lower-case form.
var commands = map[string]string{
	"signandencrypt": CmdSignAndEncrypt,
	"certificates":   CmdCertificates,
	"certrequests":   CmdCertRequests,
	"diagnostics":    CmdDiagnostics,
	"startview":      CmdStartView,
	"mail":           CmdMail,
	"sign":           CmdLegacySign,
	"verify":         CmdLegacyVerify,
}

// Command names as the protocol spells them (method prefixes).
const (
	CmdSignAndEncrypt = "signAndEncrypt"
	CmdCertificates   = "certificates"
	CmdCertRequests   = "certrequests"
	CmdDiagnostics    = "diagnostics"
	CmdStartView      = "startView"
	CmdMail           = "mail"
	CmdLegacySign     = "sign"   // legacy: GET parameters, multipart results
	CmdLegacyVerify   = "verify" // legacy
)

// Link is a parsed cryptoarm: link.
type Link struct {
	// Command is the canonical command name (CmdSignAndEncrypt, …).
	Command string
	// Service is the service URL exactly as the link carries it, its own
	// query included; empty for a local job.
	Service string
	// ServiceURL is Service parsed.
	ServiceURL *url.URL
	// ID is the transaction id (the service URL's first "id" value).
	ID string
	// Legacy marks the pre-2020 sign/verify form; AccessToken is its token.
	Legacy      bool
	AccessToken string
	// LocalPath is the job file of a local job; InlineJSON the job given
	// in the link itself. At most one of Service, LocalPath, InlineJSON is
	// set.
	LocalPath  string
	InlineJSON []byte
}

// Local reports whether the link names a local job.
func (l Link) Local() bool { return l.LocalPath != "" || l.InlineJSON != nil }

// Origin is the service's origin (scheme://host[:port]), "" for a local job.
func (l Link) Origin() string {
	if l.ServiceURL == nil {
		return ""
	}
	return OriginOf(l.ServiceURL)
}

// OriginOf is u's origin: lower-case scheme and host, the port only when
// it is not the scheme's default.
func OriginOf(u *url.URL) string {
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return strings.ToLower(u.Scheme) + "://" + host
}

// LinkPolicy is what ParseLink accepts beyond https service URLs.
type LinkPolicy struct {
	// LoopbackHTTP accepts http service URLs on loopback addresses
	// (local development).
	LoopbackHTTP bool
	// NoLocalJobs refuses the local forms (a job file or inline JSON).
	NoLocalJobs bool
}

// ParseLink parses a cryptoarm: link: cryptoarm://<command>/<service URL>
// with the service URL taken verbatim (its own query, with ?id= or /?id=),
// the legacy cryptoarm://sign/<URL>?accessToken=… and verify forms, and
// the local forms cryptoarm://<command>/<path or file: URL of a JSON job>
// and cryptoarm://<command>/<inline JSON>. The command is matched
// case-insensitively. Errors match ErrBadLink and say what is wrong.
func ParseLink(raw string, p LinkPolicy) (Link, error) {
	if len(raw) > MaxLink {
		return Link{}, fmt.Errorf("%w: %d bytes (at most %d)", ErrBadLink, len(raw), MaxLink)
	}
	const scheme = "cryptoarm://"
	if len(raw) < len(scheme) || !strings.EqualFold(raw[:len(scheme)], scheme) {
		return Link{}, fmt.Errorf("%w: not a cryptoarm:// link", ErrBadLink)
	}
	rest := raw[len(scheme):]
	cmd, target, ok := strings.Cut(rest, "/")
	if !ok || target == "" {
		return Link{}, fmt.Errorf("%w: no service URL or job after the command", ErrBadLink)
	}
	canon, known := commands[strings.ToLower(cmd)]
	if !known {
		return Link{}, fmt.Errorf("%w: unknown command %q", ErrBadLink, clip(cmd))
	}
	l := Link{Command: canon, Legacy: canon == CmdLegacySign || canon == CmdLegacyVerify}
	switch {
	case isInlineJSON(target):
		if p.NoLocalJobs {
			return Link{}, fmt.Errorf("%w: local jobs are turned off", ErrBadLink)
		}
		js := target
		if !strings.HasPrefix(js, "{") {
			d, err := url.PathUnescape(js)
			if err != nil {
				return Link{}, fmt.Errorf("%w: inline JSON: %v", ErrBadLink, err)
			}
			js = d
		}
		l.InlineJSON = []byte(js)
		return l, nil
	case hasPrefixFold(target, "file:") || strings.HasPrefix(target, "/"):
		if p.NoLocalJobs {
			return Link{}, fmt.Errorf("%w: local jobs are turned off", ErrBadLink)
		}
		path, err := LocalPath(target)
		if err != nil {
			return Link{}, err
		}
		l.LocalPath = path
		return l, nil
	}
	u, err := ServiceURL(target, p)
	if err != nil {
		return Link{}, err
	}
	l.Service, l.ServiceURL = target, u
	q := u.Query()
	l.ID = q.Get("id")
	l.AccessToken = q.Get("accessToken")
	if l.Legacy && l.AccessToken == "" {
		return Link{}, fmt.Errorf("%w: %s link without accessToken", ErrBadLink, canon)
	}
	if !l.Legacy && l.ID == "" {
		return Link{}, fmt.Errorf("%w: service URL without ?id=", ErrBadLink)
	}
	return l, nil
}

// ServiceURL parses a service (or file, or uploader) URL and checks its
// scheme: https, or http on a loopback address when p allows it.
func ServiceURL(s string, p LinkPolicy) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: URL %q: %v", ErrBadLink, clip(s), err)
	}
	if u.Host == "" || u.Opaque != "" || u.User != nil {
		return nil, fmt.Errorf("%w: URL %q: want scheme://host/path without user info", ErrBadLink, clip(s))
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !p.LoopbackHTTP || !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("%w: %q is plain http: only https (and loopback http when allow_loopback_http is set)", ErrBadLink, clip(s))
		}
	default:
		return nil, fmt.Errorf("%w: URL scheme %q: want https", ErrBadLink, clip(u.Scheme))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	return u, nil
}

// LocalPath turns a file: URL or an absolute path into a clean absolute
// path; anything else (a relative path, a remote host) is refused.
func LocalPath(s string) (string, error) {
	path := s
	if hasPrefixFold(s, "file:") {
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("%w: file URL %q: %v", ErrBadLink, clip(s), err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", fmt.Errorf("%w: file URL %q names a remote host", ErrBadLink, clip(s))
		}
		path = u.Path
	} else if d, err := url.PathUnescape(s); err == nil {
		path = d
	}
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("%w: local path %q is not absolute", ErrBadLink, clip(s))
	}
	if strings.ContainsRune(path, 0) {
		return "", fmt.Errorf("%w: local path with a NUL byte", ErrBadLink)
	}
	return path, nil
}

func isInlineJSON(s string) bool {
	return strings.HasPrefix(s, "{") || hasPrefixFold(s, "%7B")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 200
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
