package hsm

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		in   string
		want URI
		str  string
	}{
		{
			in:   "pkcs11:token=Signet%20Demo;serial=0123abcd;id=%01%02;object=rsa2048;type=private",
			want: URI{Token: "Signet Demo", Serial: "0123abcd", ID: []byte{1, 2}, Object: "rsa2048", Type: ObjectPrivate},
			str:  "pkcs11:token=Signet%20Demo;serial=0123abcd;id=%01%02;object=rsa2048;type=private",
		},
		{
			// order, case of hex digits and literal id characters normalise
			in:   "PKCS11:type=cert;object=my%2dcert;id=A;token=t",
			want: URI{Token: "t", ID: []byte("A"), Object: "my-cert", Type: ObjectCert},
			str:  "pkcs11:token=t;id=%41;object=my-cert;type=cert",
		},
		{
			in:   "pkcs11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2;library-version=2.6;slot-id=3;x-vendor=v?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/tmp/pin&pin-value=1234",
			want: URI{Manufacturer: "SoftHSM project", Model: "SoftHSM v2", LibraryVersion: "2.6", SlotID: "3", Vendor: map[string]string{"x-vendor": "v"}, ModulePath: "/usr/lib/softhsm/libsofthsm2.so", PINSource: "file:/tmp/pin", PINValue: []byte("1234")},
			str:  "pkcs11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2;library-version=2.6;slot-id=3;x-vendor=v?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/tmp/pin",
		},
		{
			in:   "pkcs11:token=a%3Bb%3Fc%26d%25;type=secret;object=",
			want: URI{Token: "a;b?c&d%", Type: ObjectSecret},
			str:  "pkcs11:token=a%3Bb%3Fc%26d%25;type=secret-key",
		},
		{in: "pkcs11:", want: URI{}, str: "pkcs11:"},
	}
	for _, tt := range tests {
		u, err := ParseURI(tt.in)
		require.NoError(t, err, "ParseURI(%q)", tt.in)
		assert.Equal(t, tt.want, *u, "ParseURI(%q) = %+v, want %+v", tt.in, *u, tt.want)
		got := u.String()
		assert.Equal(t, tt.str, got, "String() = %q, want %q", got, tt.str)
		assert.NotContains(t, u.String(), "pin-value", "String() prints pin-value")
	}
}

func TestParseURIErrors(t *testing.T) {
	for _, in := range []string{
		"file:///x.pfx",
		"pkcs11:token=a;token=b",
		"pkcs11:tokne=a",
		"pkcs11:token",
		"pkcs11:id=%0",
		"pkcs11:id=%zz",
		"pkcs11:type=key",
		"pkcs11:?pin-value=%zzSECRET",
		"pkcs11:?unknown=1",
		"pkcs11:" + strings.Repeat("a", MaxURILength),
	} {
		_, err := ParseURI(in)
		assert.ErrorIs(t, err, ErrInvalidURI, "ParseURI(%q) error = %v, want ErrInvalidURI", in, err)
		if err != nil {
			assert.NotContains(t, err.Error(), "SECRET", "the error leaks the PIN value")
		}
	}
}

func TestURIMatch(t *testing.T) {
	u, err := ParseURI("pkcs11:token=A;serial=1;id=%01;type=private")
	require.NoError(t, err)
	assert.True(t, u.MatchesToken(TokenInfo{Label: "A", Serial: "1", Model: "m"}), "token should match")
	assert.False(t, u.MatchesToken(TokenInfo{Label: "A", Serial: "2"}), "serial differs; must not match")
	assert.True(t, u.MatchesObject("any", []byte{1}, ObjectPrivate), "object matching wrong")
	assert.False(t, u.MatchesObject("any", []byte{1}, ObjectCert), "object matching wrong")
	assert.False(t, u.MatchesObject("any", []byte{2}, ObjectPrivate), "object matching wrong")
	assert.True(t, SameURI("pkcs11:type=private;id=%01;token=A;serial=1", u.String()), "SameURI: reordered URI should be the same")
	assert.False(t, SameURI("pkcs11:token=A", u.String()), "SameURI: different URIs reported the same")
	u.PINValue = []byte("1234")
	p := u.PINValue
	u.Wipe()
	assert.Equal(t, []byte{0, 0, 0, 0}, p, "Wipe did not zero the PIN")
	assert.Nil(t, u.PINValue, "Wipe did not zero the PIN")
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"pkcs11:token=Signet%20Demo;serial=0123abcd;id=%01%02;object=rsa2048;type=private",
		"pkcs11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2;x-a=b?module-path=/usr/lib/x.so&pin-value=1",
		"pkcs11:token=a%3Bb%3Fc%26d%25;type=secret;object=",
		"pkcs11:id=%00%FF;object=%E2%82%AC",
		"pkcs11:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			return
		}
		out := u.String()
		u2, err := ParseURI(out)
		require.NoError(t, err, "ParseURI(String()) = %v for %q", err, out)
		require.Nil(t, u2.PINValue, "String prints pin-value: %q", out)
		u.PINValue = nil
		require.Equal(t, u2, u, "round trip differs:\n%+v\n%+v", u, u2)
		require.Equal(t, out, u2.String(), "String not stable: %q vs %q", u2.String(), out)
	})
}
