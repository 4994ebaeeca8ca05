package hsm

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// MaxURILength bounds the length of a pkcs11: URI the parser accepts.
const MaxURILength = 4096

// PKCS#11 object types as they appear in a URI's type attribute (RFC 7512).
const (
	ObjectPrivate = "private"
	ObjectPublic  = "public"
	ObjectCert    = "cert"
	ObjectSecret  = "secret-key"
	ObjectData    = "data"
)

// URI is a parsed RFC 7512 pkcs11: URI. Empty fields are absent attributes:
// an attribute given with an empty value is treated as absent, so parsing is
// a normalisation and String gives one canonical form for one key.
//
// PINValue is parsed (a caller may hand a URI with ?pin-value=…) but String
// never prints it and no error mentions it. Wipe it when done.
type URI struct {
	// Token attributes.
	Token        string
	Manufacturer string
	Model        string
	Serial       string
	// Library (module) attributes.
	LibraryManufacturer string
	LibraryDescription  string
	LibraryVersion      string
	// Slot attributes (accepted, but Signet never relies on slot ids).
	SlotManufacturer string
	SlotDescription  string
	SlotID           string
	// Object attributes.
	Object string
	ID     []byte
	Type   string // ObjectPrivate, ObjectPublic, ObjectCert, ObjectSecret, ObjectData
	// Vendor attributes (x-name) in the path, kept for round trips.
	Vendor map[string]string

	// Query attributes.
	PINSource  string
	PINValue   []byte
	ModuleName string
	ModulePath string
}

// path attribute names in canonical output order.
var uriPathOrder = []string{
	"token", "manufacturer", "model", "serial",
	"library-manufacturer", "library-description", "library-version",
	"slot-manufacturer", "slot-description", "slot-id",
	"id", "object", "type",
}

func (u *URI) pathField(name string) *string {
	switch name {
	case "token":
		return &u.Token
	case "manufacturer":
		return &u.Manufacturer
	case "model":
		return &u.Model
	case "serial":
		return &u.Serial
	case "library-manufacturer":
		return &u.LibraryManufacturer
	case "library-description":
		return &u.LibraryDescription
	case "library-version":
		return &u.LibraryVersion
	case "slot-manufacturer":
		return &u.SlotManufacturer
	case "slot-description":
		return &u.SlotDescription
	case "slot-id":
		return &u.SlotID
	case "object":
		return &u.Object
	case "type":
		return &u.Type
	}
	return nil
}

func (u *URI) queryField(name string) *string {
	switch name {
	case "pin-source":
		return &u.PINSource
	case "module-name":
		return &u.ModuleName
	case "module-path":
		return &u.ModulePath
	}
	return nil
}

// ParseURI parses an RFC 7512 pkcs11: URI. Unknown standard attributes and
// repeated attributes are refused (a typo must not widen what a URI names);
// vendor attributes (x-…) are kept.
func ParseURI(s string) (*URI, error) {
	if len(s) > MaxURILength {
		return nil, fmt.Errorf("pkcs11 URI longer than %d bytes: %w", MaxURILength, ErrInvalidURI)
	}
	const scheme = "pkcs11:"
	if len(s) < len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) {
		return nil, fmt.Errorf("not a pkcs11: URI: %w", ErrInvalidURI)
	}
	path, query, _ := strings.Cut(s[len(scheme):], "?")
	u := &URI{}
	err := eachAttribute(path, ";", "path", func(name, raw string) error { return u.setPathAttr(name, raw) })
	if err == nil {
		err = eachAttribute(query, "&", "query", func(name, raw string) error { return u.setQueryAttr(name, raw) })
	}
	if err != nil {
		u.Wipe()
		return nil, err
	}
	return u, nil
}

// eachAttribute calls set for each name=value of the path or query part
// (of the kind, for messages), refusing one without '=' and a repeated one.
func eachAttribute(part, sep, kind string, set func(name, raw string) error) error {
	seen := map[string]bool{}
	for _, attr := range strings.Split(part, sep) {
		if attr == "" {
			continue
		}
		name, raw, ok := strings.Cut(attr, "=")
		if !ok || name == "" {
			return fmt.Errorf("pkcs11 URI %s attribute without '=': %w", kind, ErrInvalidURI)
		}
		if seen[name] {
			return fmt.Errorf("pkcs11 URI attribute %q repeated: %w", safeName(name), ErrInvalidURI)
		}
		seen[name] = true
		if err := set(name, raw); err != nil {
			return err
		}
	}
	return nil
}

// setPathAttr sets the path attribute name to its percent-encoded value.
func (u *URI) setPathAttr(name, raw string) error {
	val, err := pctDecode(raw)
	if err != nil {
		return fmt.Errorf("pkcs11 URI attribute %q: %w", safeName(name), err)
	}
	switch {
	case name == "id":
		if len(val) > 0 {
			u.ID = val
		}
	case name == "type":
		t := string(val)
		switch t {
		case "", ObjectPrivate, ObjectPublic, ObjectCert, ObjectSecret, ObjectData:
		case "secret":
			t = ObjectSecret
		default:
			return fmt.Errorf("pkcs11 URI type %q: %w", safeName(t), ErrInvalidURI)
		}
		u.Type = t
	case u.pathField(name) != nil:
		*u.pathField(name) = string(val)
	case strings.HasPrefix(name, "x-") && validAttrName(name):
		if len(val) > 0 {
			if u.Vendor == nil {
				u.Vendor = map[string]string{}
			}
			u.Vendor[name] = string(val)
		}
	default:
		return fmt.Errorf("pkcs11 URI: unknown path attribute %q: %w", safeName(name), ErrInvalidURI)
	}
	return nil
}

// setQueryAttr sets the query attribute name to its percent-encoded value.
// A pin-value is never echoed in an error.
func (u *URI) setQueryAttr(name, raw string) error {
	val, err := pctDecode(raw)
	if name == "pin-value" {
		if err != nil {
			return fmt.Errorf("pkcs11 URI attribute pin-value: malformed percent-encoding: %w", ErrInvalidURI)
		}
		if len(val) > 0 {
			u.PINValue = val
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("pkcs11 URI attribute %q: %w", safeName(name), err)
	}
	f := u.queryField(name)
	switch {
	case f != nil:
		*f = string(val)
	case strings.HasPrefix(name, "x-") && validAttrName(name):
		// Vendor query attributes carry no meaning for Signet; drop them.
	default:
		return fmt.Errorf("pkcs11 URI: unknown query attribute %q: %w", safeName(name), ErrInvalidURI)
	}
	return nil
}

// String returns the canonical form: path attributes in a fixed order, every
// value percent-encoded the same way, id always fully percent-encoded.
// pin-value is never printed.
func (u *URI) String() string {
	var b strings.Builder
	b.WriteString("pkcs11:")
	first := true
	add := func(name, val string, all bool, sep byte) {
		if val == "" {
			return
		}
		if !first {
			b.WriteByte(sep)
		}
		first = false
		b.WriteString(name)
		b.WriteByte('=')
		pctEncode(&b, val, all, sep == '&')
	}
	for _, name := range uriPathOrder {
		if name == "id" {
			add("id", string(u.ID), true, ';')
			continue
		}
		add(name, *u.pathField(name), false, ';')
	}
	if len(u.Vendor) > 0 {
		names := make([]string, 0, len(u.Vendor))
		for n := range u.Vendor {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			add(n, u.Vendor[n], false, ';')
		}
	}
	if u.PINSource != "" || u.ModuleName != "" || u.ModulePath != "" {
		b.WriteByte('?')
		first = true
		add("module-name", u.ModuleName, false, '&')
		add("module-path", u.ModulePath, false, '&')
		add("pin-source", u.PINSource, false, '&')
	}
	return b.String()
}

// TokenURI returns the URI naming only the token part of u (token,
// manufacturer, model, serial).
func (u *URI) TokenURI() *URI {
	return &URI{Token: u.Token, Manufacturer: u.Manufacturer, Model: u.Model, Serial: u.Serial}
}

// HasObject reports whether u names an object (id, object label or type).
func (u *URI) HasObject() bool {
	return len(u.ID) > 0 || u.Object != "" || u.Type != ""
}

// MatchesToken reports whether every token attribute present in u equals
// the token's.
func (u *URI) MatchesToken(t TokenInfo) bool {
	return (u.Token == "" || u.Token == t.Label) &&
		(u.Manufacturer == "" || u.Manufacturer == t.Manufacturer) &&
		(u.Model == "" || u.Model == t.Model) &&
		(u.Serial == "" || u.Serial == t.Serial)
}

// MatchesObject reports whether every object attribute present in u equals
// the object's label, id and type.
func (u *URI) MatchesObject(label string, id []byte, typ string) bool {
	return (u.Object == "" || u.Object == label) &&
		(len(u.ID) == 0 || bytes.Equal(u.ID, id)) &&
		(u.Type == "" || u.Type == typ)
}

// SameURI reports whether a and b name the same thing: equal strings, or
// pkcs11: URIs whose parsed forms are equal (ignoring pin-source and
// pin-value, which say how to log in, not what is named).
func SameURI(a, b string) bool {
	if a == b {
		return true
	}
	ua, err := ParseURI(a)
	if err != nil {
		return false
	}
	ub, err := ParseURI(b)
	if err != nil {
		return false
	}
	ua.PINSource, ua.PINValue = "", nil
	ub.PINSource, ub.PINValue = "", nil
	return ua.String() == ub.String()
}

// Wipe zeroes the PIN value carried by u, if any.
func (u *URI) Wipe() {
	Wipe(u.PINValue)
	u.PINValue = nil
}

func validAttrName(name string) bool {
	if len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// safeName makes an attribute name or value safe to put in an error: short,
// printable.
func safeName(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func pctDecode(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		if i+2 >= len(s) {
			return nil, fmt.Errorf("malformed percent-encoding: %w", ErrInvalidURI)
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("malformed percent-encoding: %w", ErrInvalidURI)
		}
		out = append(out, hi<<4|lo)
		i += 2
	}
	return out, nil
}

// pctEncode writes v percent-encoded: unreserved characters and a few safe
// sub-delimiters stay literal (unless all is set, as for id); the path and
// query delimiters are always encoded.
func pctEncode(b *strings.Builder, v string, all, query bool) {
	const hexdig = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		c := v[i]
		literal := !all && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("-._~:@!$'()*+,", c) >= 0 || query && c == '/')
		if literal {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdig[c>>4])
		b.WriteByte(hexdig[c&15])
	}
}
