package eimzoclient

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParseAlias(t *testing.T) {
	// An E-IMZO-style alias (one line).
	alias := "cn=familiya ism sharif,name=ism,surname=familiya,l=tuman,st=shahar,c=uz,o=kompaniya,uid=324543543," +
		"1.2.860.3.16.1.2=32610793225581,t=direktor,1.2.860.3.16.1.1=242141224,businesscategory=mchj," +
		"serialnumber=71c4eb12,validfrom=2022.04.25 17:42:58,validto=2024.04.25 23:59:59"
	got := ParseAlias(alias)
	want := AliasInfo{
		CN: "FAMILIYA ISM SHARIF", TIN: "242141224", UID: "324543543", PINFL: "32610793225581",
		O: "KOMPANIYA", T: "DIREKTOR", SerialNumber: "71C4EB12",
		ValidFrom: "2022-04-25T17:42:58", ValidTo: "2024-04-25T23:59:59",
		ValidFromTime: time.Date(2022, 4, 25, 17, 42, 58, 0, Tashkent),
		ValidToTime:   time.Date(2024, 4, 25, 23, 59, 59, 0, Tashkent),
	}
	assert.Equal(t, want, got, "ParseAlias")
	assert.True(t, got.ValidToTime.Equal(time.Date(2024, 4, 25, 18, 59, 59, 0, time.UTC)), "validto %v, want 18:59:59Z", got.ValidToTime)

	// An individual: no organisation TIN, so TIN is the UID.
	ind := ParseAlias("cn=aliyev vali,uid=312345678,1.2.860.3.16.1.2=31203900120034,serialnumber=0a,validfrom=2025.01.01 00:00:00,validto=2026.01.01 23:59:59")
	assert.Equal(t, "312345678", ind.TIN, "individual: %+v", ind)
	assert.Equal(t, "31203900120034", ind.PINFL, "individual: %+v", ind)
	assert.Empty(t, ind.O, "individual: %+v", ind)

	// The official client's pitfall, kept: a value containing ",XX=" is
	// cut there.
	assert.Equal(t, "X", ParseAlias(`cn=a,o=x,y=z,serialnumber=01`).O, "pitfall: O")
	// A short alias of a self-made key: no dates.
	p := ParseAlias("cn=test")
	assert.Equal(t, "TEST", p.CN, "short alias: %+v", p)
	assert.True(t, p.ValidToTime.IsZero(), "short alias: %+v", p)
	assert.Empty(t, p.ValidTo, "short alias: %+v", p)
}

func FuzzParseAlias(f *testing.F) {
	f.Add("cn=a,uid=1,1.2.860.3.16.1.2=2,serialnumber=ff,validfrom=2022.04.25 17:42:58,validto=2024.04.25 23:59:59")
	f.Add(",,=,A=,=B")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		ParseAlias(s) // must not panic
	})
}
