package x500_test

import (
	"encoding/asn1"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/x500"
)

func kinds(fs []x500.Field) map[string]string {
	out := map[string]string{}
	for _, f := range fs {
		out[f.Kind] = f.Label + "=" + f.Value
	}
	return out
}

// TestFieldsNational: the national attributes of Uzbek, Russian and
// Ukrainian names come out labelled, with their values as text, in the
// order written; Format still writes them as dotted OIDs.
func TestFieldsNational(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want map[string]string
	}{
		"uzbek": {`CN=Familiya Ism,O=Kompaniya,1.2.860.3.16.1.2=32610793225581,1.2.860.3.16.1.1=242141224,C=UZ`,
			map[string]string{x500.KindName: "Name=Familiya Ism", x500.KindOrganization: "Organisation=Kompaniya",
				"pinfl": "PINFL=32610793225581", "tin.uz": "TIN=242141224", "country": "Country=UZ"}},
		"russian": {`CN=Иванов Иван,1.2.643.3.131.1.1=500100732259,OGRN=1027700132195,SNILS=11223344595,INNLE=7707083893`,
			map[string]string{x500.KindName: "Name=Иванов Иван", "inn.ru": "INN=500100732259", "ogrn.ru": "OGRN=1027700132195",
				"snils.ru": "SNILS=11223344595", "innle.ru": "INN of the legal entity=7707083893"}},
		"ukrainian organisation identifier": {`CN=Шевченко Тарас,ORGANIZATIONIDENTIFIER=NTRUA-12345678,SERIALNUMBER=TINUA-1234567890`,
			map[string]string{"organizationIdentifier": "Organisation identifier=NTRUA-12345678",
				"serialNumber": "Serial number=TINUA-1234567890"}},
	} {
		t.Run(name, func(t *testing.T) {
			der := parseDER(t, tc.in)
			fs, err := x500.Fields(der)
			require.NoError(t, err)
			assert.Equal(t, tc.want, mapSubset(kinds(fs), tc.want))
			text, err := x500.Format(der)
			require.NoError(t, err)
			assert.NotContains(t, text, "OGRN=", "Format writes national attributes as dotted OIDs")
			assert.NotContains(t, text, "PINFL=", "Format writes national attributes as dotted OIDs")
		})
	}
}

func mapSubset(got, want map[string]string) map[string]string {
	out := map[string]string{}
	for k := range want {
		if v, ok := got[k]; ok {
			out[k] = v
		}
	}
	return out
}

// TestFieldsUnknownAndHex: an unknown type is labelled by its OID and a
// non-string value shown as hex; a malformed name is refused.
func TestFieldsUnknownAndHex(t *testing.T) {
	fs, err := x500.Fields(parseDER(t, `1.3.6.1.4.1.99999.1=hello,CN=#020101`))
	require.NoError(t, err)
	require.Len(t, fs, 2)
	assert.Equal(t, x500.Field{OID: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Label: "1.3.6.1.4.1.99999.1", Value: "hello"}, fs[0])
	assert.Equal(t, "#020101", fs[1].Value)
	_, err = x500.Fields([]byte{0x30, 0x03, 0x01})
	assert.ErrorIs(t, err, x500.ErrInvalid)
}

// TestDirectoryFieldsUkrainian: DRFO and EDRPOU from a
// subjectDirectoryAttributes extension, as Ukrainian CAs write them.
func TestDirectoryFieldsUkrainian(t *testing.T) {
	type attr struct {
		Type   asn1.ObjectIdentifier
		Values []asn1.RawValue `asn1:"set"`
	}
	ps := func(s string) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagPrintableString, Bytes: []byte(s)}
	}
	ext, err := asn1.Marshal([]attr{
		{asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 11, 1, 4, 1, 1}, []asn1.RawValue{ps("1234567890")}},
		{asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 11, 1, 4, 2, 1}, []asn1.RawValue{ps("12345678")}},
	})
	require.NoError(t, err)
	fs, err := x500.DirectoryFields(ext)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"drfo.ua": "DRFO=1234567890", "edrpou.ua": "EDRPOU=12345678"}, kinds(fs))
	_, err = x500.DirectoryFields([]byte("junk"))
	assert.ErrorIs(t, err, x500.ErrInvalid)
}
