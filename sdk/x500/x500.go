// Package x500 parses and formats X.500 distinguished names as text, with
// one table of attribute names: the usual short names (CN, O, OU, L, ST, C,
// SERIALNUMBER/SN, SURNAME, GIVENNAME, T, UID, DC, E/EMAIL, …) and the
// national attributes: Uzbek TIN/INN (1.2.860.3.16.1.1) and PINFL
// (1.2.860.3.16.1.2), Russian INN, INNLE, OGRN, OGRNIP and SNILS,
// Ukrainian DRFO and EDRPOU, and organizationIdentifier; national ones are
// written as dotted OIDs, as is any type the table does not know. Fields
// and DirectoryFields label a name's (or a subjectDirectoryAttributes
// extension's) attributes for people. It imports nothing else of this
// module.
//
// Text is "KEY=value" attributes, ',' between RDNs and '+' between the
// attributes of a multi-valued RDN, in the order given: Parse keeps it,
// Format writes a DER Name in its own order (E-IMZO writes names so; an
// RFC 4514 caller reverses the RDNs). Keys are case-insensitive short
// names or dotted OIDs, optionally prefixed "OID."; SN is serialNumber (as
// in BouncyCastle), SURNAME is surname. Values are plain text with
// backslash escapes ("\," or a "\2C" hex pair), a double-quoted string, or
// "#" and the hex of a DER value (kept as it is); unescaped spaces around
// keys and values are dropped. Values are encoded UTF8String, except C
// (PrintableString, two letters), E and DC (IA5String) and serialNumber
// (PrintableString when it fits).
//
//	n, err := x500.Parse("CN=Familiya Ism,O=Kompaniya,PINFL=32610793225581,C=UZ")
//	der, err := n.Marshal() // a certificate request's raw subject
//	text, err := x500.Format(der)
package x500

import (
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds of a name string.
const (
	MaxName       = 4096 // bytes of the string
	MaxAttributes = 64
	MaxValue      = 1024 // bytes of one decoded value
)

// ErrInvalid is returned (wrapped) for a name string or DER name that
// cannot be read.
var ErrInvalid = errors.New("invalid X.500 name")

// attrType is one attribute type name.
type attrType struct {
	name string // as written by Format
	oid  asn1.ObjectIdentifier
	tag  int // ASN.1 string type for parsed values
	// kind and label say what the attribute is, for people (Fields); set
	// on the first entry of an OID.
	kind  string
	label string
}

// names lists the short names. The first entry of an OID is the one
// Format writes and the one that carries the kind and label. National
// attributes are written as dotted OIDs (E-IMZO does so for the Uzbek
// ones; the others stay as they were written before they had a name) and
// accepted under their usual names.
var names = []attrType{
	{"CN", asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.TagUTF8String, KindName, "Name"},
	{"SURNAME", asn1.ObjectIdentifier{2, 5, 4, 4}, asn1.TagUTF8String, "surname", "Surname"},
	{"SERIALNUMBER", asn1.ObjectIdentifier{2, 5, 4, 5}, asn1.TagPrintableString, "serialNumber", "Serial number"},
	{"SN", asn1.ObjectIdentifier{2, 5, 4, 5}, asn1.TagPrintableString, "", ""},
	{"C", asn1.ObjectIdentifier{2, 5, 4, 6}, asn1.TagPrintableString, "country", "Country"},
	{"L", asn1.ObjectIdentifier{2, 5, 4, 7}, asn1.TagUTF8String, "locality", "Locality"},
	{"ST", asn1.ObjectIdentifier{2, 5, 4, 8}, asn1.TagUTF8String, "region", "Region"},
	{"S", asn1.ObjectIdentifier{2, 5, 4, 8}, asn1.TagUTF8String, "", ""},
	{"STREET", asn1.ObjectIdentifier{2, 5, 4, 9}, asn1.TagUTF8String, "street", "Street"},
	{"O", asn1.ObjectIdentifier{2, 5, 4, 10}, asn1.TagUTF8String, KindOrganization, "Organisation"},
	{"OU", asn1.ObjectIdentifier{2, 5, 4, 11}, asn1.TagUTF8String, "unit", "Department"},
	{"T", asn1.ObjectIdentifier{2, 5, 4, 12}, asn1.TagUTF8String, "title", "Title"},
	{"TITLE", asn1.ObjectIdentifier{2, 5, 4, 12}, asn1.TagUTF8String, "", ""},
	{"BUSINESSCATEGORY", asn1.ObjectIdentifier{2, 5, 4, 15}, asn1.TagUTF8String, "businessCategory", "Business category"},
	{"POSTALCODE", asn1.ObjectIdentifier{2, 5, 4, 17}, asn1.TagUTF8String, "postalCode", "Postal code"},
	{"NAME", asn1.ObjectIdentifier{2, 5, 4, 41}, asn1.TagUTF8String, "givenName", "Given name"},
	{"GIVENNAME", asn1.ObjectIdentifier{2, 5, 4, 42}, asn1.TagUTF8String, "givenName", "Given name"},
	{"INITIALS", asn1.ObjectIdentifier{2, 5, 4, 43}, asn1.TagUTF8String, "initials", "Initials"},
	{"DN", asn1.ObjectIdentifier{2, 5, 4, 46}, asn1.TagPrintableString, "dnQualifier", "DN qualifier"},
	{"PSEUDONYM", asn1.ObjectIdentifier{2, 5, 4, 65}, asn1.TagUTF8String, "pseudonym", "Pseudonym"},
	// organizationIdentifier (ETSI EN 319 412-1: "NTRUA-12345678" carries
	// a Ukrainian EDRPOU code, "VATxx-…" a VAT number).
	{"2.5.4.97", asn1.ObjectIdentifier{2, 5, 4, 97}, asn1.TagUTF8String, "organizationIdentifier", "Organisation identifier"},
	{"ORGANIZATIONIDENTIFIER", asn1.ObjectIdentifier{2, 5, 4, 97}, asn1.TagUTF8String, "", ""},
	{"UID", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, asn1.TagUTF8String, "uid", "User ID"},
	{"DC", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, asn1.TagIA5String, "domain", "Domain"},
	{"E", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, asn1.TagIA5String, "email", "E-mail"},
	{"EMAILADDRESS", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, asn1.TagIA5String, "", ""},
	{"EMAIL", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, asn1.TagIA5String, "", ""},
	// Uzbek national attributes: written as dotted OIDs (E-IMZO does so),
	// accepted under the official client's names.
	{"1.2.860.3.16.1.1", asn1.ObjectIdentifier{1, 2, 860, 3, 16, 1, 1}, asn1.TagUTF8String, "tin.uz", "TIN"},
	{"INN", asn1.ObjectIdentifier{1, 2, 860, 3, 16, 1, 1}, asn1.TagUTF8String, "", ""},
	{"TIN", asn1.ObjectIdentifier{1, 2, 860, 3, 16, 1, 1}, asn1.TagUTF8String, "", ""},
	{"1.2.860.3.16.1.2", asn1.ObjectIdentifier{1, 2, 860, 3, 16, 1, 2}, asn1.TagUTF8String, "pinfl", "PINFL"},
	{"PINFL", asn1.ObjectIdentifier{1, 2, 860, 3, 16, 1, 2}, asn1.TagUTF8String, "", ""},
	// Russian national attributes (the CryptoPro names; "INN" is the
	// Uzbek TIN above, so the Russian one has only its OID).
	{"1.2.643.3.131.1.1", asn1.ObjectIdentifier{1, 2, 643, 3, 131, 1, 1}, asn1.TagUTF8String, "inn.ru", "INN"},
	{"1.2.643.100.4", asn1.ObjectIdentifier{1, 2, 643, 100, 4}, asn1.TagUTF8String, "innle.ru", "INN of the legal entity"},
	{"INNLE", asn1.ObjectIdentifier{1, 2, 643, 100, 4}, asn1.TagUTF8String, "", ""},
	{"1.2.643.100.1", asn1.ObjectIdentifier{1, 2, 643, 100, 1}, asn1.TagUTF8String, "ogrn.ru", "OGRN"},
	{"OGRN", asn1.ObjectIdentifier{1, 2, 643, 100, 1}, asn1.TagUTF8String, "", ""},
	{"1.2.643.100.5", asn1.ObjectIdentifier{1, 2, 643, 100, 5}, asn1.TagUTF8String, "ogrnip.ru", "OGRNIP"},
	{"OGRNIP", asn1.ObjectIdentifier{1, 2, 643, 100, 5}, asn1.TagUTF8String, "", ""},
	{"1.2.643.100.3", asn1.ObjectIdentifier{1, 2, 643, 100, 3}, asn1.TagUTF8String, "snils.ru", "SNILS"},
	{"SNILS", asn1.ObjectIdentifier{1, 2, 643, 100, 3}, asn1.TagUTF8String, "", ""},
	// Ukrainian national attributes (DSTU 4145 certificates carry them in
	// the subjectDirectoryAttributes extension: see DirectoryFields).
	{"1.2.804.2.1.1.1.11.1.4.1.1", asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 11, 1, 4, 1, 1}, asn1.TagPrintableString, "drfo.ua", "DRFO"},
	{"DRFO", asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 11, 1, 4, 1, 1}, asn1.TagPrintableString, "", ""},
	{"1.2.804.2.1.1.1.11.1.4.2.1", asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 11, 1, 4, 2, 1}, asn1.TagPrintableString, "edrpou.ua", "EDRPOU"},
	{"EDRPOU", asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 11, 1, 4, 2, 1}, asn1.TagPrintableString, "", ""},
}

// Kinds a caller picks out of Fields to name a certificate's owner.
const (
	KindName         = "name"
	KindOrganization = "organization"
)

// Attribute is one AttributeTypeAndValue with its value as encoded.
type Attribute struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// Name is a parsed name: its RDNs in the order written, each with its
// attributes.
type Name [][]Attribute

// rdnSET is a RelativeDistinguishedName (the SET suffix makes
// encoding/asn1 write a DER SET OF).
type rdnSET []Attribute

// rdnSequence is an RDNSequence.
type rdnSequence []rdnSET

// Marshal returns the DER Name, RDNs in n's order.
func (n Name) Marshal() ([]byte, error) {
	seq := make(rdnSequence, len(n))
	for i, rdn := range n {
		seq[i] = rdnSET(rdn)
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		return nil, fmt.Errorf("encode name: %v: %w", err, ErrInvalid)
	}
	return der, nil
}

// attrByName returns the attribute for a key: a short name or a dotted OID.
func attrByName(key string) (attrType, error) {
	up := strings.ToUpper(key)
	for _, a := range names {
		if a.name == up {
			return a, nil
		}
	}
	up = strings.TrimPrefix(up, "OID.")
	oid, err := ParseOID(up)
	if err != nil {
		return attrType{}, fmt.Errorf("unknown attribute %q: %w", key, ErrInvalid)
	}
	for _, a := range names {
		if a.oid.Equal(oid) {
			return a, nil
		}
	}
	return attrType{name: oid.String(), oid: oid, tag: asn1.TagUTF8String}, nil
}

// MaxOIDArcs bounds the arcs of a dotted OID.
const MaxOIDArcs = 32

// ParseOID parses a dotted OID ("1.2.860.3.16.1.2"): at least two arcs,
// decimal digits without leading zeros, the first arc 0–2 (and the second
// below 40 under 0 and 1), each arc fitting an int.
func ParseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > MaxOIDArcs {
		return nil, fmt.Errorf("OID %q: want 2 to %d arcs", s, MaxOIDArcs)
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		if p == "" || (len(p) > 1 && p[0] == '0') || strings.TrimLeft(p, "0123456789") != "" {
			return nil, fmt.Errorf("OID %q: arc %q is not a number", s, p)
		}
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("OID %q: arc %q too large", s, p)
		}
		oid[i] = int(n)
	}
	if oid[0] > 2 || (oid[0] < 2 && oid[1] >= 40) {
		return nil, fmt.Errorf("OID %q: invalid first arcs", s)
	}
	return oid, nil
}

// Parse parses a name string (see the package documentation).
func Parse(s string) (Name, error) {
	if len(s) > MaxName {
		return nil, fmt.Errorf("name of %d bytes (max %d): %w", len(s), MaxName, ErrInvalid)
	}
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("name is not UTF-8: %w", ErrInvalid)
	}
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty name: %w", ErrInvalid)
	}
	p := &parser{s: s}
	var rdns Name
	var cur []Attribute
	n := 0
	for {
		attr, err := p.attribute()
		if err != nil {
			return nil, err
		}
		if n++; n > MaxAttributes {
			return nil, fmt.Errorf("more than %d attributes: %w", MaxAttributes, ErrInvalid)
		}
		cur = append(cur, attr)
		if p.i >= len(p.s) {
			rdns = append(rdns, cur)
			break
		}
		sep := p.s[p.i]
		p.i++
		if sep == ',' {
			rdns = append(rdns, cur)
			cur = nil
		}
	}
	return rdns, nil
}

type parser struct {
	s string
	i int
}

func (p *parser) skipSpaces() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

// attribute reads "key=value" up to the next unescaped ',' or '+' (left
// unread) or the end.
func (p *parser) attribute() (Attribute, error) {
	eq := strings.IndexByte(p.s[p.i:], '=')
	if eq < 0 {
		return Attribute{}, fmt.Errorf("%q: no '=': %w", p.s[p.i:], ErrInvalid)
	}
	key := strings.TrimSpace(p.s[p.i : p.i+eq])
	if key == "" || strings.ContainsAny(key, ",+\"\\") {
		return Attribute{}, fmt.Errorf("attribute name %q: %w", key, ErrInvalid)
	}
	a, err := attrByName(key)
	if err != nil {
		return Attribute{}, err
	}
	p.i += eq + 1
	p.skipSpaces()
	var raw asn1.RawValue
	switch {
	case p.i < len(p.s) && p.s[p.i] == '#':
		raw, err = p.hexValue()
	default:
		var v string
		v, err = p.stringValue()
		if err == nil {
			raw, err = encodeValue(a, v)
		}
	}
	if err != nil {
		return Attribute{}, err
	}
	return Attribute{Type: a.oid, Value: raw}, nil
}

// stringValue reads a plain or quoted value.
func (p *parser) stringValue() (string, error) {
	var b []byte
	if p.i < len(p.s) && p.s[p.i] == '"' {
		p.i++
		for {
			if p.i >= len(p.s) {
				return "", fmt.Errorf("unterminated quoted value: %w", ErrInvalid)
			}
			c := p.s[p.i]
			if c == '"' {
				p.i++
				break
			}
			if c == '\\' {
				var err error
				if b, err = p.escape(b); err != nil {
					return "", err
				}
				continue
			}
			b = append(b, c)
			p.i++
		}
		p.skipSpaces()
		if p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != '+' {
			return "", fmt.Errorf("text after a quoted value: %w", ErrInvalid)
		}
	} else {
		keep := 0 // length of b up to the last escaped byte: never trimmed
		for p.i < len(p.s) {
			c := p.s[p.i]
			if c == ',' || c == '+' {
				break
			}
			if c == '"' {
				return "", fmt.Errorf("unescaped '\"' in a value: %w", ErrInvalid)
			}
			if c == '\\' {
				var err error
				if b, err = p.escape(b); err != nil {
					return "", err
				}
				keep = len(b)
				continue
			}
			b = append(b, c)
			p.i++
		}
		end := len(b)
		for end > keep && b[end-1] == ' ' {
			end--
		}
		b = b[:end]
	}
	if len(b) == 0 {
		return "", fmt.Errorf("empty value: %w", ErrInvalid)
	}
	if len(b) > MaxValue {
		return "", fmt.Errorf("value of %d bytes (max %d): %w", len(b), MaxValue, ErrInvalid)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("value is not UTF-8: %w", ErrInvalid)
	}
	return string(b), nil
}

// escape reads a backslash escape at p.i: "\XX" (two hex digits) is a
// byte, "\c" is c itself.
func (p *parser) escape(b []byte) ([]byte, error) {
	p.i++ // the backslash
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("name ends in a backslash: %w", ErrInvalid)
	}
	if p.i+1 < len(p.s) && isHex(p.s[p.i]) && isHex(p.s[p.i+1]) {
		v, _ := hex.DecodeString(p.s[p.i : p.i+2])
		p.i += 2
		return append(b, v[0]), nil
	}
	_, size := utf8.DecodeRuneInString(p.s[p.i:])
	b = append(b, p.s[p.i:p.i+size]...)
	p.i += size
	return b, nil
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// hexValue reads "#" and the hex of one DER element.
func (p *parser) hexValue() (asn1.RawValue, error) {
	p.i++
	start := p.i
	for p.i < len(p.s) && isHex(p.s[p.i]) {
		p.i++
	}
	h := p.s[start:p.i]
	p.skipSpaces()
	if p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != '+' {
		return asn1.RawValue{}, fmt.Errorf("bad '#' value: %w", ErrInvalid)
	}
	if len(h) == 0 || len(h)%2 != 0 || len(h)/2 > MaxValue {
		return asn1.RawValue{}, fmt.Errorf("bad '#' value length: %w", ErrInvalid)
	}
	der, _ := hex.DecodeString(h)
	var raw asn1.RawValue
	rest, err := asn1.Unmarshal(der, &raw)
	if err != nil || len(rest) != 0 {
		return asn1.RawValue{}, fmt.Errorf("'#' value is not one DER element: %w", ErrInvalid)
	}
	// Keep the element exactly as given.
	raw = asn1.RawValue{FullBytes: der}
	return raw, nil
}

// encodeValue encodes v with the attribute's string type.
func encodeValue(a attrType, v string) (asn1.RawValue, error) {
	tag := a.tag
	switch tag {
	case asn1.TagPrintableString:
		if !isPrintable(v) {
			if a.oid.Equal(asn1.ObjectIdentifier{2, 5, 4, 6}) {
				return asn1.RawValue{}, fmt.Errorf("country code %q: want two letters: %w", v, ErrInvalid)
			}
			tag = asn1.TagUTF8String
		}
	case asn1.TagIA5String:
		for i := 0; i < len(v); i++ {
			if v[i] >= 0x80 {
				return asn1.RawValue{}, fmt.Errorf("%s=%q: ASCII only: %w", a.name, v, ErrInvalid)
			}
		}
	}
	if a.oid.Equal(asn1.ObjectIdentifier{2, 5, 4, 6}) && len(v) != 2 {
		return asn1.RawValue{}, fmt.Errorf("country code %q: want two letters: %w", v, ErrInvalid)
	}
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(v)}, nil
}

// isPrintable reports whether s fits a PrintableString.
func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte(" '()+,-./:=?", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Format writes a DER Name as text in its own order (short names, dotted
// OIDs for the rest). String values are written as text with backslash
// escapes; other values as "#" and their DER in hex.
func Format(der []byte) (string, error) {
	var rdns rdnSequence
	rest, err := asn1.Unmarshal(der, &rdns)
	if err != nil || len(rest) != 0 {
		return "", fmt.Errorf("name is not a DER RDNSequence: %w", ErrInvalid)
	}
	var b strings.Builder
	for i, rdn := range rdns {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, atv := range rdn {
			if j > 0 {
				b.WriteByte('+')
			}
			a := attrByOID(atv.Type)
			b.WriteString(a.name)
			b.WriteByte('=')
			b.WriteString(formatValue(a, atv.Value))
		}
	}
	return b.String(), nil
}

// attrByOID is the attribute Format writes for oid.
func attrByOID(oid asn1.ObjectIdentifier) attrType {
	for _, a := range names {
		if a.oid.Equal(oid) {
			return a
		}
	}
	return attrType{name: oid.String(), oid: oid, tag: asn1.TagUTF8String}
}

// text returns the text of a string-typed value.
func text(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return "", false
	}
	switch v.Tag {
	case asn1.TagUTF8String, asn1.TagPrintableString, asn1.TagIA5String, asn1.TagT61String:
		if !utf8.Valid(v.Bytes) {
			return "", false
		}
		return string(v.Bytes), true
	case asn1.TagBMPString:
		if len(v.Bytes)%2 != 0 {
			return "", false
		}
		var r []rune
		for i := 0; i < len(v.Bytes); i += 2 {
			r = append(r, rune(v.Bytes[i])<<8|rune(v.Bytes[i+1]))
		}
		s := string(r)
		if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
			return "", false
		}
		return s, true
	}
	return "", false
}

// formatValue escapes a value of attribute a for Format: string
// values as text (whatever their string type: names are for reading), and
// values Parse could not take back as text (not a string, or a
// country code that is not two letters) as "#" and their DER in hex. So
// the text parses again, and formats to the same text.
func formatValue(a attrType, v asn1.RawValue) string {
	s, ok := text(v)
	if ok && s != "" {
		_, err := encodeValue(a, s)
		ok = err == nil
	}
	if !ok || s == "" {
		return "#" + strings.ToUpper(hex.EncodeToString(v.FullBytes))
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case strings.IndexByte(",+\"\\<>;=#", c) >= 0:
			if c == '#' && i > 0 {
				b.WriteByte(c)
				continue
			}
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == ' ' && (i == 0 || i == len(s)-1):
			b.WriteString("\\ ")
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Map returns a DER name's attributes as key → value (values of a
// repeated key joined with ", "); an unreadable name gives an empty map.
func Map(der []byte) map[string]string {
	var rdns rdnSequence
	if _, err := asn1.Unmarshal(der, &rdns); err != nil {
		return map[string]string{}
	}
	out := map[string]string{}
	for _, rdn := range rdns {
		for _, atv := range rdn {
			k := attrByOID(atv.Type).name
			v, ok := text(atv.Value)
			if !ok {
				v = "#" + strings.ToUpper(hex.EncodeToString(atv.Value.FullBytes))
			}
			if old, dup := out[k]; dup {
				v = old + ", " + v
			}
			out[k] = v
		}
	}
	return out
}

// Field is one attribute of a name as people read it.
type Field struct {
	OID asn1.ObjectIdentifier
	// Kind says what the attribute is ("name", "organization", "pinfl",
	// "tin.uz", "inn.ru", "edrpou.ua", …: a stable key for a caller's own
	// labels); empty for a type the table does not know.
	Kind string
	// Label is the English label ("PINFL"), or the dotted OID.
	Label string
	// Value is the text, or "#" and the DER in hex for a value that is
	// not a string.
	Value string
}

// Fields returns a DER name's attributes in their order, each labelled and
// decoded (at most MaxAttributes).
func Fields(der []byte) ([]Field, error) {
	var rdns rdnSequence
	rest, err := asn1.Unmarshal(der, &rdns)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("name is not a DER RDNSequence: %w", ErrInvalid)
	}
	var out []Field
	for _, rdn := range rdns {
		for _, atv := range rdn {
			if len(out) == MaxAttributes {
				return out, nil
			}
			out = append(out, field(atv.Type, atv.Value))
		}
	}
	return out, nil
}

// OIDSubjectDirectoryAttributes is the certificate extension (RFC 5280
// 4.2.1.8) in which Ukrainian certificates carry DRFO and EDRPOU.
var OIDSubjectDirectoryAttributes = asn1.ObjectIdentifier{2, 5, 29, 9}

// DirectoryFields returns the attributes of a subjectDirectoryAttributes
// extension value (SEQUENCE OF Attribute, each a type and a SET OF
// values), one Field per value, at most MaxAttributes.
func DirectoryFields(ext []byte) ([]Field, error) {
	var attrs []struct {
		Type   asn1.ObjectIdentifier
		Values []asn1.RawValue `asn1:"set"`
	}
	rest, err := asn1.Unmarshal(ext, &attrs)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("subjectDirectoryAttributes is not a DER SEQUENCE OF Attribute: %w", ErrInvalid)
	}
	var out []Field
	for _, a := range attrs {
		for _, v := range a.Values {
			if len(out) == MaxAttributes {
				return out, nil
			}
			out = append(out, field(a.Type, v))
		}
	}
	return out, nil
}

func field(oid asn1.ObjectIdentifier, v asn1.RawValue) Field {
	a := attrByOID(oid)
	f := Field{OID: oid, Kind: a.kind, Label: a.label}
	if f.Label == "" {
		f.Label = oid.String()
	}
	s, ok := text(v)
	if !ok {
		s = "#" + strings.ToUpper(hex.EncodeToString(v.FullBytes))
	}
	f.Value = s
	return f
}
