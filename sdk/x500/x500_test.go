package x500_test

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/x500"
)

// rawSET is one RDN with its values as encoded (the SET suffix makes
// encoding/asn1 read a SET OF).
type rawSET []struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

func parseDER(t testing.TB, s string) []byte {
	t.Helper()
	n, err := x500.Parse(s)
	require.NoError(t, err, "%q", s)
	der, err := n.Marshal()
	require.NoError(t, err, "%q", s)
	return der
}

// TestParseEIMZOSubject: a subject as E-IMZO writes it, national
// attributes included, is encoded in the order written with the string
// types of Uzbek CAs, and formats back to the same text.
func TestParseEIMZOSubject(t *testing.T) {
	in := `CN=Familiya Ism Sharif,NAME=Ism,SURNAME=Familiya,L=Tuman,ST=Shahar,C=UZ,O=Kompaniya\, MChJ,UID=324543543,1.2.860.3.16.1.2=32610793225581,T=Direktor,1.2.860.3.16.1.1=242141224`
	der := parseDER(t, in)
	var rdns pkix.RDNSequence
	_, err := asn1.Unmarshal(der, &rdns)
	require.NoError(t, err)
	var raw []rawSET
	_, err = asn1.Unmarshal(der, &raw)
	require.NoError(t, err)
	want := []struct {
		oid, val string
		tag      int
	}{
		{"2.5.4.3", "Familiya Ism Sharif", asn1.TagUTF8String},
		{"2.5.4.41", "Ism", asn1.TagUTF8String},
		{"2.5.4.4", "Familiya", asn1.TagUTF8String},
		{"2.5.4.7", "Tuman", asn1.TagUTF8String},
		{"2.5.4.8", "Shahar", asn1.TagUTF8String},
		{"2.5.4.6", "UZ", asn1.TagPrintableString},
		{"2.5.4.10", "Kompaniya, MChJ", asn1.TagUTF8String},
		{"0.9.2342.19200300.100.1.1", "324543543", asn1.TagUTF8String},
		{"1.2.860.3.16.1.2", "32610793225581", asn1.TagUTF8String},
		{"2.5.4.12", "Direktor", asn1.TagUTF8String},
		{"1.2.860.3.16.1.1", "242141224", asn1.TagUTF8String},
	}
	require.Len(t, rdns, len(want))
	for i, w := range want {
		assert.Equal(t, w.oid, rdns[i][0].Type.String(), "RDN %d", i)
		assert.Equal(t, w.val, rdns[i][0].Value, "RDN %d", i)
		assert.Equal(t, w.tag, raw[i][0].Value.Tag, "RDN %d", i)
	}
	out, err := x500.Format(der)
	require.NoError(t, err)
	assert.Equal(t, in, out)
}

func TestParseForms(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"cn=ali, o = firma ", "CN=ali,O=firma"},
		{`CN="Vali, Ali"+UID=123`, `CN=Vali\, Ali+UID=123`},
		{`CN=\ lead and trail\ `, `CN=\ lead and trail\ `},
		{`CN=caf\C3\A9`, "CN=café"},
		{"OID.2.5.4.3=x,INN=1,PINFL=2,TIN=3", "CN=x,1.2.860.3.16.1.1=1,1.2.860.3.16.1.2=2,1.2.860.3.16.1.1=3"},
		{"CN=#0C03616263", "CN=abc"},
		{"1.3.6.1.4.1.99999.1=x", "1.3.6.1.4.1.99999.1=x"},
		{"E=a@b.uz,SN=71C4EB12,DC=uz", "E=a@b.uz,SERIALNUMBER=71C4EB12,DC=uz"},
		{"EMAIL=a@b.uz,EMAILADDRESS=c@d.uz", "E=a@b.uz,E=c@d.uz"},
		{`CN=a\=b\#c`, `CN=a\=b#c`},
		{`CN=\#x`, `CN=\#x`},
	} {
		got, err := x500.Format(parseDER(t, tt.in))
		require.NoError(t, err, "%q", tt.in)
		assert.Equal(t, tt.want, got, "%q", tt.in)
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"", " ", "CN", "=x", "CN=", "CN=a,", "CN=a,,O=b", "XX=a", "1=a", "3.1=a", "1.40=a",
		"1.02.3=a", `CN="a`, `CN="a"b`, `CN=a"b`, `CN=a\`, "C=UZB", "C=Ўз", "E=ali@ўз.uz",
		"CN=#0C", "CN=#0C03", "CN=#zz", "CN=#0C0161 x", "CN=a\xff",
		"CN=" + strings.Repeat("a", x500.MaxValue+1),
		strings.Repeat("CN=a,", x500.MaxAttributes) + "CN=a",
		strings.Repeat("x", x500.MaxName+1),
	} {
		_, err := x500.Parse(in)
		assert.ErrorIs(t, err, x500.ErrInvalid, "%q", in)
	}
	_, err := x500.Format([]byte{0x30, 0x03, 0x01})
	assert.ErrorIs(t, err, x500.ErrInvalid, "truncated DER")
	assert.Empty(t, x500.Map([]byte{0x05}))
}

func TestMultiValuedRDNIsDERSorted(t *testing.T) {
	assert.Equal(t, parseDER(t, "CN=x+UID=1"), parseDER(t, "UID=1+CN=x"), "SET OF not sorted")
}

func TestMap(t *testing.T) {
	m := x500.Map(parseDER(t, "CN=Ali,OU=a,OU=b,PINFL=32610793225581,1.2.3.4=#020101"))
	assert.Equal(t, map[string]string{
		"CN": "Ali", "OU": "a, b", "1.2.860.3.16.1.2": "32610793225581", "1.2.3.4": "#020101",
	}, m)
}

func TestParseOID(t *testing.T) {
	for _, ok := range []string{"1.2.860.3.16.1.2", "2.5.4.3", "0.39", "2.999"} {
		oid, err := x500.ParseOID(ok)
		require.NoError(t, err, "%q", ok)
		assert.Equal(t, ok, oid.String())
	}
	for _, bad := range []string{"", "1", "3.1", "1.40", "1..2", "01.2", "1.2.2147483648", " 1.2", "1.2." + strings.Repeat("1.", x500.MaxOIDArcs)} {
		_, err := x500.ParseOID(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{
		"CN=Familiya Ism,O=Kompaniya,UID=324543543,1.2.860.3.16.1.2=32610793225581,C=UZ",
		`CN="a,b"+T=x`, `CN=\20a\20`, "CN=#0C03616263", "E=a@b.c,DC=x", "OID.1.2.3=x", `O=\"q\"`, "C=uz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := x500.Parse(s)
		if err != nil {
			require.ErrorIs(t, err, x500.ErrInvalid, "%q", s)
			return
		}
		der, err := n.Marshal()
		require.NoError(t, err, "%q", s)
		var rdns pkix.RDNSequence
		rest, err := asn1.Unmarshal(der, &rdns)
		require.NoError(t, err, "%q: output is not a Name", s)
		require.Empty(t, rest)
		text, err := x500.Format(der)
		require.NoError(t, err, "%q: format", s)
		// The text parses again and formats to the same text; without "#"
		// values (kept as they are) the DER is the same too.
		der2 := parseDER(t, text)
		text2, err := x500.Format(der2)
		require.NoError(t, err)
		require.Equal(t, text, text2, "%q", s)
		if !strings.Contains(s, "#") {
			require.True(t, bytes.Equal(der, der2), "%q → %q: DER %x, then %x", s, text, der, der2)
		}
	})
}

func FuzzParseOID(f *testing.F) {
	for _, s := range []string{"1.2.860.3.16.1.2", "2.5.4.3", "0.39", "1.40", "3.1", "1..2", "01.2", "1.2.2147483648"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		oid, err := x500.ParseOID(s)
		if err != nil {
			return
		}
		require.Equal(t, s, oid.String())
		require.LessOrEqual(t, len(oid), x500.MaxOIDArcs)
		_, err = asn1.Marshal(oid)
		require.NoError(t, err, "%q: accepted OID does not encode", s)
	})
}
