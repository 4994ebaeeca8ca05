package pfx

import (
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/signet-agent/signet/hsm"
)

// FileURI returns the RFC 8089 file: URI of an absolute path:
// file:///home/me/key.pfx, or file:///C:/keys/key.pfx on Windows.
func FileURI(absPath string) string {
	p := filepath.ToSlash(absPath)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows drive letter: /C:/keys/key.pfx
	}
	u := url.URL{Scheme: "file", Path: p}
	// url.URL renders an empty host as "file:///…".
	return "file://" + u.EscapedPath()
}

// KeyURI returns the URI of the entry alias in the file at absPath:
// file:///path/key.pfx#alias, with the alias percent-encoded.
func KeyURI(absPath, alias string) string {
	return FileURI(absPath) + "#" + escapeFragment(alias)
}

// ParseURI splits a file: URI into the absolute file path and the entry
// alias ("" when the URI names the file only). Any valid percent-encoding
// is accepted; the same key always compares equal after parsing.
func ParseURI(uri string) (path, alias string, err error) {
	if !isFileURI(uri) {
		return "", "", fmt.Errorf("%q is not a file: URI: %w", uri, hsm.ErrInvalidURI)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", "", fmt.Errorf("%q: %v: %w", uri, err, hsm.ErrInvalidURI)
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", "", fmt.Errorf("%q: remote host %q: %w", uri, u.Host, hsm.ErrInvalidURI)
	}
	if u.Opaque != "" || u.Path == "" || u.RawQuery != "" {
		return "", "", fmt.Errorf("%q: want file:///absolute/path.pfx#alias: %w", uri, hsm.ErrInvalidURI)
	}
	p := u.Path
	if runtime.GOOS == "windows" && len(p) >= 3 && p[0] == '/' && p[2] == ':' {
		p = p[1:]
	}
	p = filepath.FromSlash(p)
	if !filepath.IsAbs(p) {
		return "", "", fmt.Errorf("%q: path is not absolute: %w", uri, hsm.ErrInvalidURI)
	}
	return filepath.Clean(p), u.Fragment, nil
}

// isFileURI reports whether uri has the file: scheme (in any case).
func isFileURI(uri string) bool {
	return len(uri) >= len("file:") && strings.EqualFold(uri[:len("file:")], "file:")
}

// escapeFragment percent-encodes everything but RFC 3986 unreserved
// characters, sub-delims, ':' and '@', so E-IMZO aliases
// ("cn=ism familiya,o=…,validfrom=2022.04.25 17:42:58") stay readable.
func escapeFragment(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
