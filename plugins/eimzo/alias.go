package eimzo

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The E-IMZO key alias.
//
// Uzbek CAs store each PFX key under a friendlyName "alias" built from the
// certificate:
//
//	cn=aliyev vali,name=vali,surname=aliyev,l=…,st=…,c=uz,uid=312345678,
//	1.2.860.3.16.1.2=31203900120034,serialnumber=71c4eb12,
//	validfrom=2022.04.25 17:42:58,validto=2024.04.25 23:59:59
//
// and pages never look at the certificate: the official e-imzo-client.js
// takes the holder's name, TIN, PINFL, serial and validity from this
// string. So every PFX key Signet lists carries an alias of this form:
//
//   - the file's own friendlyName when it already is E-IMZO style
//     (isEIMZOAlias): a CA wrote it, and E-IMZO lists it unchanged;
//   - otherwise, when the certificate is readable without the password,
//     one built from it (certAlias);
//   - otherwise the key store's raw alias (the friendlyName, the hex of
//     the localKeyId, or "key0"): the official client skips such an entry,
//     since it finds neither TIN nor PINFL in it.
//
// load_key accepts exactly the aliases the listing gives, by listing again
// and comparing (listedAlias), so no alias ever has to be parsed back into a
// key name.

// MaxAliasLen bounds an alias parseAlias accepts (a real one is ~300
// bytes).
const MaxAliasLen = 4096

// aliasTimeLayout is E-IMZO's validity format, "yyyy.MM.dd HH:mm:ss".
const aliasTimeLayout = "2006.01.02 15:04:05"

// Tashkent is the time zone of alias validity fields: UTC+5, no daylight
// saving since 1992. A real certificate ending at 18:59:59Z is written
// "23:59:59".
var Tashkent = time.FixedZone("UZT", 5*60*60)

// aliasKeys names subject attributes in aliases: E-IMZO's (BouncyCastle
// style, lower-cased) names. Attributes not listed are written with their
// dotted OID, as the national TIN (1.2.860.3.16.1.1) and PINFL
// (1.2.860.3.16.1.2) always are. The subject's serialNumber (2.5.4.5) is
// deliberately written "2.5.4.5": "serialnumber" is the certificate serial
// at the end of the alias, and the official client takes the first one.
var aliasKeys = map[string]string{
	"2.5.4.3":                    "cn",
	"2.5.4.4":                    "surname",
	"2.5.4.6":                    "c",
	"2.5.4.7":                    "l",
	"2.5.4.8":                    "st",
	"2.5.4.9":                    "street",
	"2.5.4.10":                   "o",
	"2.5.4.11":                   "ou",
	"2.5.4.12":                   "t",
	"2.5.4.15":                   "businesscategory",
	"2.5.4.17":                   "postalcode",
	"2.5.4.20":                   "telephonenumber",
	"2.5.4.41":                   "name",
	"2.5.4.42":                   "givenname",
	"2.5.4.43":                   "initials",
	"2.5.4.44":                   "generation",
	"2.5.4.45":                   "uniqueidentifier",
	"2.5.4.46":                   "dn",
	"2.5.4.65":                   "pseudonym",
	"2.5.4.97":                   "organizationidentifier",
	"0.9.2342.19200300.100.1.1":  "uid",
	"0.9.2342.19200300.100.1.25": "dc",
	"1.2.840.113549.1.9.1":       "e",
}

// certAlias builds the E-IMZO alias of cert: its subject attributes in
// certificate order as key=value with lower-cased values, then
// serialnumber (lowercase hex, no leading zeros), validfrom and validto
// (Tashkent time). A ',' or '\' inside a value is escaped with '\' so that
// parseAlias recovers every value; real subjects have neither.
func certAlias(cert *x509.Certificate) string {
	var b strings.Builder
	for _, atv := range cert.Subject.Names {
		oid := atv.Type.String()
		key := aliasKeys[oid]
		if key == "" {
			key = oid
		}
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(escapeAliasValue(strings.ToLower(attrString(atv.Value))))
		b.WriteByte(',')
	}
	b.WriteString("serialnumber=" + strings.ToLower(cert.SerialNumber.Text(16)))
	b.WriteString(",validfrom=" + cert.NotBefore.In(Tashkent).Format(aliasTimeLayout))
	b.WriteString(",validto=" + cert.NotAfter.In(Tashkent).Format(aliasTimeLayout))
	return b.String()
}

// attrString renders an attribute value: strings as they are, anything
// else (a value crypto/x509 does not decode) as '#' and the hex of its DER,
// as RFC 4514 does.
func attrString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	der, err := asn1.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return "#" + hex.EncodeToString(der)
}

func escapeAliasValue(s string) string {
	if !strings.ContainsAny(s, `,\`) {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `,`, `\,`)
	return r.Replace(s)
}

// aliasField is one key=value field of an alias.
type aliasField struct{ Key, Value string }

// errAlias is the error of a malformed alias.
var errAlias = errors.New("not an E-IMZO alias")

// parseAlias splits an alias into its fields: key=value pairs separated by
// ',', where '\' escapes the next character of a value. Keys are
// non-empty and contain no '=' or ','. It fails on anything else and on
// aliases over MaxAliasLen bytes.
func parseAlias(s string) ([]aliasField, error) {
	if len(s) > MaxAliasLen {
		return nil, fmt.Errorf("alias of %d bytes: %w", len(s), errAlias)
	}
	if s == "" {
		return nil, fmt.Errorf("empty alias: %w", errAlias)
	}
	var fields []aliasField
	for i := 0; i <= len(s); {
		eq := strings.IndexByte(s[i:], '=')
		if eq <= 0 {
			return nil, fmt.Errorf("field %d has no key: %w", len(fields)+1, errAlias)
		}
		key := s[i : i+eq]
		if strings.ContainsAny(key, `,\`) {
			return nil, fmt.Errorf("field %d: bad key: %w", len(fields)+1, errAlias)
		}
		i += eq + 1
		var v strings.Builder
		for ; i < len(s) && s[i] != ','; i++ {
			if s[i] == '\\' {
				i++
				if i == len(s) {
					return nil, fmt.Errorf("field %s ends in an escape: %w", key, errAlias)
				}
			}
			v.WriteByte(s[i])
		}
		fields = append(fields, aliasField{Key: key, Value: v.String()})
		i++ // the ',' (or past the end)
	}
	return fields, nil
}

// aliasValue returns the value of the first field key, and whether there
// is one.
func aliasValue(fields []aliasField, key string) (string, bool) {
	for _, f := range fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// isEIMZOAlias reports whether s is an alias in E-IMZO's format: it parses,
// starts with cn=, and has a hex serialnumber and validfrom/validto dates in
// E-IMZO's layout, so the official client reads the holder, serial and
// validity from it.
func isEIMZOAlias(s string) bool {
	fields, err := parseAlias(s)
	if err != nil || fields[0].Key != "cn" {
		return false
	}
	serial, ok := aliasValue(fields, "serialnumber")
	if !ok || serial == "" || strings.Trim(strings.ToLower(serial), "0123456789abcdef") != "" {
		return false
	}
	for _, k := range []string{"validfrom", "validto"} {
		v, ok := aliasValue(fields, k)
		if !ok {
			return false
		}
		if _, err := time.ParseInLocation(aliasTimeLayout, v, Tashkent); err != nil {
			return false
		}
	}
	return true
}

// aliasCN returns the cn of an E-IMZO alias, or "".
func aliasCN(s string) string {
	fields, err := parseAlias(s)
	if err != nil {
		return ""
	}
	cn, _ := aliasValue(fields, "cn")
	return cn
}
