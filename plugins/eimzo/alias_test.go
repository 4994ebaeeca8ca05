package eimzo

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ClientAlias is what the official e-imzo-client.js (_findPfxs2) makes of
// a listed key's alias. Exported for the package's external
// tests, which parse every alias the real plugin lists.
type ClientAlias struct {
	CN, TIN, UID, PINFL, O, T, SerialNumber string
	ValidFrom, ValidTo                      time.Time // as a browser in Tashkent reads them
	// Skipped: the client drops entries with neither TIN nor PINFL.
	Skipped bool
}

// clientSplit is the client's look-ahead split: pieces start at every
// match of ,[A-Z]+= (splitKeep(/,[A-Z]+=/g, true)).
var clientSplit = regexp.MustCompile(`,[A-Z]+=`)

// ParseAliasLikeClient reimplements the official client's parsing: upper-case
// the alias, replace the first "1.2.860.3.16.1.1=" by "INN=" and the first
// "1.2.860.3.16.1.2=" by "PINFL=", split before every ",[A-Z]+=", and
// take a field F from the first piece in which "F=" occurs (anywhere, as
// String.search does); TIN = INN || UID; dates with '.' → '-' and the
// first ' ' → 'T', read in local time.
func ParseAliasLikeClient(alias string) ClientAlias {
	a := strings.ToUpper(alias)
	a = strings.Replace(a, "1.2.860.3.16.1.1=", "INN=", 1)
	a = strings.Replace(a, "1.2.860.3.16.1.2=", "PINFL=", 1)
	var pieces []string
	last := 0
	for _, m := range clientSplit.FindAllStringIndex(a, -1) {
		if m[0] != last {
			pieces = append(pieces, a[last:m[0]])
			last = m[0]
		}
	}
	if last < len(a) {
		pieces = append(pieces, a[last:])
	}
	get := func(f string) string {
		for _, p := range pieces {
			if n := strings.Index(p, f+"="); n >= 0 {
				return p[n+len(f)+1:]
			}
		}
		return ""
	}
	date := func(v string) time.Time {
		v = strings.Replace(strings.ReplaceAll(v, ".", "-"), " ", "T", 1)
		t, _ := time.ParseInLocation("2006-01-02T15:04:05", v, Tashkent)
		return t
	}
	c := ClientAlias{
		CN: get("CN"), UID: get("UID"), PINFL: get("PINFL"), O: get("O"), T: get("T"),
		SerialNumber: get("SERIALNUMBER"),
		ValidFrom:    date(get("VALIDFROM")), ValidTo: date(get("VALIDTO")),
	}
	c.TIN = get("INN")
	if c.TIN == "" {
		c.TIN = c.UID
	}
	c.Skipped = c.TIN == "" && c.PINFL == ""
	return c
}

// CheckClientAlias compares what the official client reads from alias with
// the certificate itself: CN, TIN (the organisation's, else the
// holder's UID), UID, PINFL, serial and validity.
func CheckClientAlias(t testing.TB, alias string, cert *x509.Certificate) {
	t.Helper()
	got := ParseAliasLikeClient(alias)
	attr := func(oid asn1.ObjectIdentifier) string {
		for _, n := range cert.Subject.Names {
			if n.Type.Equal(oid) {
				s, _ := n.Value.(string)
				return s
			}
		}
		return ""
	}
	tin := attr(softhsmtest.OIDEIMZOTIN)
	if tin == "" {
		tin = attr(softhsmtest.OIDUID)
	}
	want := ClientAlias{
		CN:           strings.ToUpper(cert.Subject.CommonName),
		TIN:          tin,
		UID:          attr(softhsmtest.OIDUID),
		PINFL:        attr(softhsmtest.OIDEIMZOPINFL),
		SerialNumber: strings.ToUpper(cert.SerialNumber.Text(16)),
		ValidFrom:    cert.NotBefore,
		ValidTo:      cert.NotAfter,
	}
	// What the official client reads from the alias.
	assert.Equal(t, want.CN, got.CN, "CN of alias %q", alias)
	assert.Equal(t, want.TIN, got.TIN, "TIN of alias %q", alias)
	assert.Equal(t, want.UID, got.UID, "UID of alias %q", alias)
	assert.Equal(t, want.PINFL, got.PINFL, "PINFL of alias %q", alias)
	assert.Equal(t, want.SerialNumber, got.SerialNumber, "serial number of alias %q", alias)
	assert.True(t, got.ValidFrom.Equal(want.ValidFrom), "validFrom %v of alias %q, want %v", got.ValidFrom, alias, want.ValidFrom)
	assert.True(t, got.ValidTo.Equal(want.ValidTo), "validTo %v of alias %q, want %v", got.ValidTo, alias, want.ValidTo)
	assert.False(t, got.Skipped, "official client skips alias %q (neither TIN nor PINFL)", alias)
}

// testPKI is one PKI for the alias tests.
func testPKI(t testing.TB) *softhsmtest.PKI {
	t.Helper()
	p, err := softhsmtest.DefaultPKI()
	require.NoError(t, err)
	return p
}

func TestAliasFromCertificate(t *testing.T) {
	pki := testPKI(t)
	endOfDay := time.Date(2027, 4, 25, 18, 59, 59, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		person softhsmtest.EIMZOPerson
		opts   softhsmtest.IssueOptions
		want   string // "" = the person's own alias (softhsmtest's writer)
	}{
		{"individual", softhsmtest.EIMZOIndividual, softhsmtest.IssueOptions{}, ""},
		{"employee", softhsmtest.EIMZOEmployee, softhsmtest.IssueOptions{}, ""},
		{"spec example", softhsmtest.EIMZOPerson{
			CN: "familiya ism sharif", Name: "ism", Surname: "familiya", Organization: "kompaniya",
			Locality: "tuman", Province: "shahar", Country: "UZ", UID: "324543543", PINFL: "32610793225581",
			Title: "direktor", TIN: "242141224",
		}, softhsmtest.IssueOptions{
			SerialNumber: big.NewInt(0x71c4eb12),
			NotBefore:    time.Date(2022, 4, 25, 12, 42, 58, 0, time.UTC),
			NotAfter:     endOfDay,
		}, "cn=familiya ism sharif,name=ism,surname=familiya,o=kompaniya,l=tuman,st=shahar,c=uz,uid=324543543," +
			"1.2.860.3.16.1.2=32610793225581,t=direktor,1.2.860.3.16.1.1=242141224," +
			"serialnumber=71c4eb12,validfrom=2022.04.25 17:42:58,validto=2027.04.25 23:59:59"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := pki.NewEIMZOKey(softhsmtest.ECP256, tc.person, tc.opts)
			require.NoError(t, err)
			want := tc.want
			if want == "" {
				want = tc.person.Alias(k.Certificate)
			}
			got := certAlias(k.Certificate)
			assert.Equal(t, want, got, "certAlias")
			assert.True(t, isEIMZOAlias(got), "isEIMZOAlias(%q)", got)
			CheckClientAlias(t, got, k.Certificate)
		})
	}
}

func TestAliasSpecialSubjects(t *testing.T) {
	serial := big.NewInt(0xabc)
	c := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	c.Subject.Names = []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "Ism, Familiya"},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 5}, Value: "AA1234567"}, // subject serialNumber
		{Type: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: `back\slash`},
		{Type: softhsmtest.OIDEIMZOPINFL, Value: "12345678901234"},
	}
	got := certAlias(c)
	want := `cn=ism\, familiya,2.5.4.5=aa1234567,1.2.3.4=back\\slash,1.2.860.3.16.1.2=12345678901234,` +
		`serialnumber=abc,validfrom=2024.01.01 05:00:00,validto=2025.01.01 05:00:00`
	require.Equal(t, want, got, "certAlias")
	fields, err := parseAlias(got)
	require.NoError(t, err)
	assert.Equal(t, "ism, familiya", fields[0].Value, "parseAlias: %q", fields)
	assert.Equal(t, `back\slash`, fields[2].Value, "parseAlias: %q", fields)
	// The subject's serialNumber does not hide the certificate serial from
	// the official client.
	assert.Equal(t, "ABC", ParseAliasLikeClient(got).SerialNumber, "client serial")
}

func TestIsEIMZOAlias(t *testing.T) {
	good := "cn=aliyev vali,uid=312345678,serialnumber=71c4eb12,validfrom=2022.04.25 17:42:58,validto=2024.04.25 23:59:59"
	for _, tc := range []struct {
		alias string
		want  bool
	}{
		{good, true},
		{"cn=x,serialnumber=0,validfrom=2022.04.25 17:42:58,validto=2024.04.25 23:59:59", true},
		{"", false},
		{"key0", false},
		{"3ef969acc89459d687c3e1301a4d5231715ff958", false},
		{"cn=aliyev vali", false},
		{"o=x," + good, false}, // must start with cn=
		{strings.Replace(good, "serialnumber=71c4eb12", "serialnumber=xyz", 1), false},
		{strings.Replace(good, "2022.04.25 17:42:58", "2022-04-25 17:42:58", 1), false},
		{strings.Replace(good, ",validto=2024.04.25 23:59:59", "", 1), false},
		{good + ",", false},
		{good + `\`, false},
		{"=x," + good, false},
		{strings.Repeat("a", MaxAliasLen+1), false},
	} {
		assert.Equal(t, tc.want, isEIMZOAlias(tc.alias), "isEIMZOAlias(%q)", tc.alias)
	}
}

// FuzzAliasParse: parseAlias never panics, and what it accepts survives
// writing back with escapes; the client parser never panics either.
func FuzzAliasParse(f *testing.F) {
	for _, s := range []string{
		"cn=familiya ism sharif,name=ism,surname=familiya,l=tuman,st=shahar,c=uz,o=kompaniya,uid=324543543," +
			"1.2.860.3.16.1.2=32610793225581,t=direktor,1.2.860.3.16.1.1=242141224,businesscategory=x," +
			"serialnumber=71c4eb12,validfrom=2022.04.25 17:42:58,validto=2024.04.25 23:59:59",
		`cn=a\,b,o=c\\d`, "key0", "", "=", ",", `a=\`, "a=b,,c=d", "a==b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = isEIMZOAlias(s)
		_ = aliasCN(s)
		_ = ParseAliasLikeClient(s)
		fields, err := parseAlias(s)
		if err != nil {
			return
		}
		var parts []string
		for _, fl := range fields {
			parts = append(parts, fl.Key+"="+escapeAliasValue(fl.Value))
		}
		again, err := parseAlias(strings.Join(parts, ","))
		require.NoError(t, err, "rewritten alias of %q does not parse", s)
		require.Len(t, again, len(fields), "rewritten alias of %q does not parse the same", s)
		for i := range fields {
			require.Equal(t, fields[i], again[i], "field %d of %q", i, s)
		}
	})
}

// FuzzAliasBuild: any subject values and serial give an alias that
// parseAlias splits back into exactly those (lower-cased) values, that is
// E-IMZO style when it starts with cn, and from which the official client
// reads the serial and the validity.
func FuzzAliasBuild(f *testing.F) {
	f.Add("ALIYEV VALI", "\"SIGNET\" MCHJ", "312345678", []byte{0x71, 0xc4, 0xeb, 0x12}, int64(1650890578))
	f.Add("a,b=c", `x\y`, ",UID=1", []byte{0}, int64(0))
	f.Fuzz(func(t *testing.T, cn, o, uid string, serial []byte, from int64) {
		if len(cn)+len(o)+len(uid) > 1000 || len(serial) > 20 {
			return
		}
		nb := time.Unix(from%(1<<34), 0).UTC()
		c := &x509.Certificate{SerialNumber: new(big.Int).SetBytes(serial), NotBefore: nb, NotAfter: nb.Add(365 * 24 * time.Hour)}
		c.Subject.Names = []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: cn},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: o},
			{Type: softhsmtest.OIDUID, Value: uid},
		}
		a := certAlias(c)
		fields, err := parseAlias(a)
		require.NoError(t, err, "certAlias %q does not parse", a)
		wantVals := []string{strings.ToLower(cn), strings.ToLower(o), strings.ToLower(uid)}
		for i, w := range wantVals {
			require.Equal(t, w, fields[i].Value, "field %d (alias %q)", i, a)
		}
		if nb.Year() >= 1000 && nb.Year() <= 9999 {
			require.True(t, isEIMZOAlias(a), "isEIMZOAlias(%q)", a)
		}
		// The certificate fields come last, so the client finds them —
		// unless a value itself contains "serialnumber=" or the like (the
		// client's known pitfall).
		if strings.Contains(cn+o+uid, "=") {
			return
		}
		got := ParseAliasLikeClient(a)
		require.Equal(t, strings.ToUpper(c.SerialNumber.Text(16)), got.SerialNumber, "client serial (alias %q)", a)
		if nb.Year() >= 1000 && nb.Year() <= 9999 {
			require.True(t, got.ValidFrom.Equal(nb), "client validFrom %v, want %v (alias %q)", got.ValidFrom, nb, a)
		}

	})
}
