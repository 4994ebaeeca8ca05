package consentui

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
)

// nationalCert issues a self-signed certificate with subject and extra
// extensions, valid from notBefore to notAfter.
func nationalCert(t *testing.T, subject pkix.Name, ext []pkix.Extension, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: subject, NotBefore: notBefore, NotAfter: notAfter,
		ExtraExtensions: ext}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

func utf8Attr(oid asn1.ObjectIdentifier, v string) pkix.AttributeTypeAndValue {
	return pkix.AttributeTypeAndValue{Type: oid, Value: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagUTF8String, Bytes: []byte(v)}}
}

// TestDescribeKeyNational: Russian and Ukrainian certificates come out
// with their national identifiers labelled in the page's language (the
// Ukrainian ones from the subjectDirectoryAttributes extension), the
// owner from the CN, the validity as dates, and the warning for a
// certificate that ends soon or has expired.
func TestDescribeKeyNational(t *testing.T) {
	now := time.Now()
	ru := nationalCert(t, pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		utf8Attr(asn1.ObjectIdentifier{2, 5, 4, 3}, "Иванов Иван Иванович"),
		utf8Attr(asn1.ObjectIdentifier{2, 5, 4, 10}, `ООО "Ромашка"`),
		utf8Attr(asn1.ObjectIdentifier{1, 2, 643, 3, 131, 1, 1}, "500100732259"),
		utf8Attr(asn1.ObjectIdentifier{1, 2, 643, 100, 1}, "1027700132195"),
		utf8Attr(asn1.ObjectIdentifier{1, 2, 643, 100, 3}, "11223344595"),
	}}, nil, now.Add(-time.Hour), now.Add(5*24*time.Hour+time.Hour))
	kv := describeKey(&locale{lang: "ru"}, &hsm.KeyInfo{URI: "pkcs11:token=Rutoken;serial=0A1B;id=%01", Certificate: ru}, "", now)
	assert.Equal(t, "Иванов Иван Иванович", kv.Owner)
	assert.Equal(t, `ООО "Ромашка"`, kv.Organization)
	assert.Equal(t, []field{{"ИНН", "500100732259"}, {"ОГРН", "1027700132195"}, {"СНИЛС", "11223344595"}}, kv.IDs)
	assert.Equal(t, "токен Rutoken (серийный номер 0A1B)", kv.Where)
	assert.Equal(t, "Сертификат истекает через 5 дней, "+date(ru.NotAfter)+": обновите его.", kv.Warning)
	assert.True(t, kv.Soon)

	type attr struct {
		Type   asn1.ObjectIdentifier
		Values []asn1.RawValue `asn1:"set"`
	}
	ps := func(s string) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagPrintableString, Bytes: []byte(s)}
	}
	sda, err := asn1.Marshal([]attr{
		{asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 11, 1, 4, 1, 1}, []asn1.RawValue{ps("1234567890")}},
		{asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 11, 1, 4, 2, 1}, []asn1.RawValue{ps("12345678")}},
	})
	require.NoError(t, err)
	ua := nationalCert(t, pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		utf8Attr(asn1.ObjectIdentifier{2, 5, 4, 4}, "Шевченко"),
		utf8Attr(asn1.ObjectIdentifier{2, 5, 4, 42}, "Тарас Григорович"),
	}}, []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 9}, Value: sda}}, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	kv = describeKey(&locale{lang: "uk"}, &hsm.KeyInfo{URI: "file:///home/t/Key-6.dat#key", TokenURI: "file:///home/t/Key-6.dat", Certificate: ua}, "", now)
	assert.Equal(t, "Тарас Григорович Шевченко", kv.Owner, "owner from given name and surname")
	assert.Equal(t, []field{{"ДРФО (РНОКПП)", "1234567890"}, {"ЄДРПОУ", "12345678"}}, kv.IDs)
	assert.Equal(t, "файл Key-6.dat", kv.Where)
	assert.Equal(t, "Строк дії сертифіката закінчився "+date(ua.NotAfter)+".", kv.Warning)
	assert.False(t, kv.Soon)
}

// TestDescribeKeyLockedPFX: a PFX key whose certificate is unknown until
// the password is entered is named by its file, and says it is locked.
func TestDescribeKeyLockedPFX(t *testing.T) {
	kv := describeKey(&locale{lang: "en"}, &hsm.KeyInfo{URI: "file:///home/a/DS312345678.pfx#3f2a9c", TokenURI: "file:///home/a/DS312345678.pfx",
		Label: "3f2a9c"}, "", time.Now())
	assert.Equal(t, "file DS312345678.pfx", kv.Where)
	assert.Contains(t, kv.Locked, "The file is locked")
	assert.False(t, kv.HasCert)
}
