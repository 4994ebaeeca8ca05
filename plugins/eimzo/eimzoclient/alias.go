package eimzoclient

import (
	"strings"
	"time"
)

// AliasInfo is what the official e-imzo-client.js (_findPfxs2) extracts
// from a certificate alias. Values are upper-case because the official
// client upper-cases the whole alias first.
type AliasInfo struct {
	CN    string
	TIN   string // INN (organisation TIN, OID 1.2.860.3.16.1.1) if present, else UID
	UID   string // individual taxpayer number
	PINFL string // OID 1.2.860.3.16.1.2
	O, T  string
	// SerialNumber is the certificate serial in hex (as in the alias,
	// upper-cased).
	SerialNumber string
	// ValidFrom and ValidTo are the alias dates after the official
	// client's rewrite ("2022.04.25 17:42:58" → "2022-04-25T17:42:58").
	ValidFrom, ValidTo string
	// ValidFromTime and ValidToTime are those dates in Tashkent time
	// (UTC+5), the zone E-IMZO writes them in; zero when absent or
	// unparsable. (The official client parses them in the browser's zone.)
	ValidFromTime, ValidToTime time.Time
}

// Tashkent is the fixed UTC+5 zone of alias dates.
var Tashkent = time.FixedZone("UZT", 5*60*60)

// ParseAlias parses alias exactly the way the official client does:
// upper-case it, rename the first 1.2.860.3.16.1.1= to INN= and the
// first 1.2.860.3.16.1.2= to PINFL=, split before every ",NAME=" whose NAME
// is upper-case letters only, and look fields up by name. Its pitfalls are
// kept on purpose (a value containing ",XX=" is cut there; other dotted
// OIDs stay glued to the value before them), so that tests see what a page
// would see.
func ParseAlias(alias string) AliasInfo {
	a := strings.ToUpper(alias)
	a = strings.Replace(a, "1.2.860.3.16.1.1=", "INN=", 1)
	a = strings.Replace(a, "1.2.860.3.16.1.2=", "PINFL=", 1)
	fields := map[string]string{}
	for _, piece := range splitAlias(a) {
		piece = strings.TrimPrefix(piece, ",")
		name, value, ok := strings.Cut(piece, "=")
		if !ok {
			continue
		}
		if _, dup := fields[name]; !dup { // the official client takes the first match
			fields[name] = value
		}
	}
	info := AliasInfo{
		CN: fields["CN"], UID: fields["UID"], PINFL: fields["PINFL"], O: fields["O"], T: fields["T"],
		SerialNumber: fields["SERIALNUMBER"],
		ValidFrom:    aliasDate(fields["VALIDFROM"]),
		ValidTo:      aliasDate(fields["VALIDTO"]),
	}
	info.TIN = fields["INN"]
	if info.TIN == "" {
		info.TIN = info.UID
	}
	info.ValidFromTime = parseAliasDate(info.ValidFrom)
	info.ValidToTime = parseAliasDate(info.ValidTo)
	return info
}

// splitAlias splits s before every "," followed by [A-Z]+ and "=", keeping
// the comma with the piece after it (the official client's look-ahead
// split on /,(?=[A-Z]+=)/).
func splitAlias(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] != ',' {
			continue
		}
		j := i + 1
		for j < len(s) && s[j] >= 'A' && s[j] <= 'Z' {
			j++
		}
		if j > i+1 && j < len(s) && s[j] == '=' {
			out = append(out, s[start:i])
			start = i
		}
	}
	return append(out, s[start:])
}

// aliasDate rewrites an alias date as the official client does: every "."
// becomes "-", the first space "T".
func aliasDate(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ReplaceAll(s, ".", "-")
	return strings.Replace(s, " ", "T", 1)
}

func parseAliasDate(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02T15:04:05", s, Tashkent)
	if err != nil {
		return time.Time{}
	}
	return t
}
