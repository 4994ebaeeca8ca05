package cli

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/x500"
)

// TestParseSubject: --subject is RFC 4514 (most specific first), parsed
// by sdk/x500 (names, national attributes, escapes, quotes) and encoded in
// the reverse order. The wanted text is x500.Format of the DER: DER order.
func TestParseSubject(t *testing.T) {
	cases := []struct{ in, want string }{
		{"CN=Ism Familiya,O=Kompaniya,C=UZ", "C=UZ,O=Kompaniya,CN=Ism Familiya"},
		{" cn = a , o = b\\, c ", "O=b\\, c,CN=a"},
		{`CN="a, b",O=x`, "O=x,CN=a\\, b"},
		{"CN=x,1.2.860.3.16.1.2=32610793225581", "1.2.860.3.16.1.2=32610793225581,CN=x"},
		{"CN=x,PINFL=32610793225581,TIN=242141224", "1.2.860.3.16.1.1=242141224,1.2.860.3.16.1.2=32610793225581,CN=x"},
		{"E=a@b.uz,CN=y", "CN=y,E=a@b.uz"},
		{"EMAIL=a@b.uz,CN=y", "CN=y,E=a@b.uz"},
		{"CN=a+O=b", "O=b,CN=a"}, // pkix.Name has no multi-valued RDNs
	}
	for _, c := range cases {
		n, err := parseSubject(c.in)
		require.NoError(t, err, "%q", c.in)
		got, err := x500.Format(subjectDER(t, n))
		require.NoError(t, err)
		assert.Equal(t, c.want, got, "%q", c.in)
	}
	for _, bad := range []string{"", "CN", "CN=", "XX=1", "=v", "C=UZB", "E=ali@ўз.uz", `CN="a`} {
		_, err := parseSubject(bad)
		assert.Error(t, err, "%q accepted", bad)
	}
}

// TestParseSubjectStringTypes: the string types are those of sdk/x500:
// UTF8String, C PrintableString, E IA5String.
func TestParseSubjectStringTypes(t *testing.T) {
	n, err := parseSubject("CN=Ism,E=a@b.uz,O=Kompaniya,C=UZ")
	require.NoError(t, err)
	var rdns []rdnTestSET
	_, err = asn1.Unmarshal(subjectDER(t, n), &rdns)
	require.NoError(t, err)
	require.Len(t, rdns, 4)
	tags := map[string]int{}
	for _, rdn := range rdns {
		tags[rdn[0].Type.String()] = rdn[0].Value.Tag
	}
	assert.Equal(t, map[string]int{
		"2.5.4.6":              asn1.TagPrintableString,
		"2.5.4.10":             asn1.TagUTF8String,
		"1.2.840.113549.1.9.1": asn1.TagIA5String,
		"2.5.4.3":              asn1.TagUTF8String,
	}, tags)
}

// subjectDER is the name as a request carries it.
func subjectDER(t *testing.T, n pkix.Name) []byte {
	t.Helper()
	der, err := asn1.Marshal(n.ToRDNSequence())
	require.NoError(t, err)
	return der
}

// rdnTestSET is one RDN as encoded (the SET suffix makes encoding/asn1
// read a SET OF).
type rdnTestSET []struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}
