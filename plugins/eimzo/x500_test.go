package eimzo

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"

	"github.com/signet-agent/signet/sdk"
	"github.com/signet-agent/signet/sdk/cms"
)

// Internal tests (package eimzo) of the X.500 name parser, which has no
// wire function of its own (pkcs10_test.go checks it end to end), and of
// the CMS algorithm choice.

func TestX500ParseEIMZOSubject(t *testing.T) {
	in := `CN=Familiya Ism Sharif,NAME=Ism,SURNAME=Familiya,L=Tuman,ST=Shahar,C=UZ,O=Kompaniya\, MChJ,UID=324543543,1.2.860.3.16.1.2=32610793225581,T=Direktor,1.2.860.3.16.1.1=242141224`
	der, err := parseX500(in)
	if err != nil {
		t.Fatal(err)
	}
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(der, &rdns); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		oid string
		val string
		tag int
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
	var raw x500RDNs
	if _, err := asn1.Unmarshal(der, &raw); err != nil {
		t.Fatal(err)
	}
	if len(rdns) != len(want) {
		t.Fatalf("%d RDNs, want %d", len(rdns), len(want))
	}
	for i, w := range want {
		got := rdns[i][0]
		if got.Type.String() != w.oid || got.Value != w.val || raw[i][0].Value.Tag != w.tag {
			t.Errorf("RDN %d = %v %q tag %d, want %s %q tag %d", i, got.Type, got.Value, raw[i][0].Value.Tag, w.oid, w.val, w.tag)
		}
	}
	out, err := formatX500(der)
	if err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("format = %s\nwant     %s", out, in)
	}
}

func TestX500ParseForms(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"cn=ali, o = firma ", "CN=ali,O=firma"},
		{`CN="Vali, Ali"+UID=123`, `CN=Vali\, Ali+UID=123`},
		{`CN=\ lead and trail\ `, `CN=\ lead and trail\ `},
		{`CN=caf\C3\A9`, "CN=café"},
		{"OID.2.5.4.3=x,INN=1,PINFL=2,TIN=3", "CN=x,1.2.860.3.16.1.1=1,1.2.860.3.16.1.2=2,1.2.860.3.16.1.1=3"},
		{"CN=#0C03616263", "CN=abc"},
		{"1.3.6.1.4.1.99999.1=x", "1.3.6.1.4.1.99999.1=x"},
		{"E=a@b.uz,SN=71C4EB12,DC=uz", "E=a@b.uz,SERIALNUMBER=71C4EB12,DC=uz"},
		{`CN=a\=b\#c`, `CN=a\=b#c`},
		{`CN=\#x`, `CN=\#x`},
	}
	for _, tt := range tests {
		der, err := parseX500(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		got, err := formatX500(der)
		if err != nil || got != tt.want {
			t.Errorf("%q → %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestX500ParseErrors(t *testing.T) {
	for _, in := range []string{
		"", " ", "CN", "=x", "CN=", "CN=a,", "CN=a,,O=b", "XX=a", "1=a", "3.1=a", "1.40=a",
		"1.02.3=a", `CN="a`, `CN="a"b`, `CN=a"b`, `CN=a\`, "C=UZB", "C=Ўз", "E=ali@ўз.uz",
		"CN=#0C", "CN=#0C03", "CN=#zz", "CN=#0C0161 x", "CN=a\xff",
		"CN=" + strings.Repeat("a", MaxX500Value+1),
		strings.Repeat("CN=a,", MaxX500Attributes) + "CN=a",
		strings.Repeat("x", MaxX500Name+1),
	} {
		if _, err := parseX500(in); !errors.Is(err, ErrX500) {
			t.Errorf("%q: err %v, want ErrX500", in, err)
		}
	}
}

func TestX500MultiValuedRDNIsDERSorted(t *testing.T) {
	a, err := parseX500("UID=1+CN=x")
	if err != nil {
		t.Fatal(err)
	}
	b, err := parseX500("CN=x+UID=1")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("SET OF not sorted: %x vs %x", a, b)
	}
}

func FuzzX500(f *testing.F) {
	for _, s := range []string{
		"CN=Familiya Ism,O=Kompaniya,UID=324543543,1.2.860.3.16.1.2=32610793225581,C=UZ",
		`CN="a,b"+T=x`, `CN=\20a\20`, "CN=#0C03616263", "E=a@b.c,DC=x", "OID.1.2.3=x", `O=\"q\"`, "C=uz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		der, err := parseX500(s)
		if err != nil {
			if !errors.Is(err, ErrX500) {
				t.Fatalf("%q: error %v does not wrap ErrX500", s, err)
			}
			return
		}
		var rdns pkix.RDNSequence
		if rest, err := asn1.Unmarshal(der, &rdns); err != nil || len(rest) != 0 {
			t.Fatalf("%q: output is not a Name: %v", s, err)
		}
		text, err := formatX500(der)
		if err != nil {
			t.Fatalf("%q: format: %v", s, err)
		}
		// The text parses again and formats to the same text; without
		// "#" values (kept as they are) the DER is the same too.
		der2, err := parseX500(text)
		if err != nil {
			t.Fatalf("%q → %q does not parse: %v", s, text, err)
		}
		text2, err := formatX500(der2)
		if err != nil || text2 != text {
			t.Fatalf("%q → %q → %q (%v)", s, text, text2, err)
		}
		if !strings.Contains(s, "#") && !bytes.Equal(der, der2) {
			t.Fatalf("%q → %q: DER %x, then %x", s, text, der, der2)
		}
	})
}

// TestPKCS7SignOptions checks the one place that picks CMS algorithms
// (internal: no O'zDSt key can be put in a test key store yet).
func TestPKCS7SignOptions(t *testing.T) {
	cert := func(pub crypto.PublicKey) *x509.Certificate {
		spki, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return &x509.Certificate{RawSubjectPublicKeyInfo: spki, PublicKey: pub}
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	chain := []*x509.Certificate{{Raw: []byte{1}}}
	for _, tt := range []struct {
		name string
		pub  crypto.PublicKey
		want crypto.Hash
	}{
		{"RSA", &rsaKey.PublicKey, crypto.SHA256},
		{"P-256", &p256.PublicKey, crypto.SHA256},
		{"P-384", &p384.PublicKey, crypto.SHA384},
		{"P-521", &p521.PublicKey, crypto.SHA512},
		{"Ed25519", edPub, 0}, // sdk/cms default: SHA-512 (RFC 8419)
	} {
		opts, err := signOptions(sdk.Key{Certificate: cert(tt.pub), Chain: chain})
		if err != nil || opts.Digest != tt.want || len(opts.Chain) != 1 {
			t.Errorf("%s: %+v, %v", tt.name, opts, err)
		}
	}

	ozdst, _ := asn1.Marshal(struct {
		Alg struct{ Algorithm asn1.ObjectIdentifier }
		Key asn1.BitString
	}{struct{ Algorithm asn1.ObjectIdentifier }{cms.OIDPublicKeyOzDSt1092_2}, asn1.BitString{Bytes: make([]byte, 66), BitLength: 528}})
	_, err := signOptions(sdk.Key{Certificate: &x509.Certificate{RawSubjectPublicKeyInfo: ozdst}})
	if e := asError(err); e.Status != StatusRuntime || !strings.Contains(e.reason("ru"), "OZDST-1092-2009-2 пока не поддерживается") {
		t.Errorf("O'zDSt key: %v", err)
	}
	if _, err := signOptions(sdk.Key{}); asError(err).Status != StatusKeyIDNotForCert {
		t.Errorf("no certificate: %v", err)
	}
}

// FuzzX500OID fuzzes the dotted OID parser (attribute keys, cp_list): an
// accepted OID prints back as its input, and a cp_list either parses into
// OIDs or fails with -1023/-2023.
func FuzzX500OID(f *testing.F) {
	for _, s := range []string{"1.2.860.3.16.1.2", "2.5.4.3", "0.39", "1.40", "3.1", "1..2", "01.2", "1.2.2147483648", " 1.2 , 2.3 ", ","} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if oid, err := parseOID(s); err == nil {
			if oid.String() != s || len(oid) > MaxOIDArcs {
				t.Fatalf("%q parsed as %v", s, oid)
			}
			if _, err := asn1.Marshal(oid); err != nil {
				t.Fatalf("%q: accepted OID does not encode: %v", s, err)
			}
		}
		oids, _, err := parsePolicies([]string{s}, 0)
		if err != nil {
			if st := asError(err).Status; st != StatusNoPolicies && st != StatusBadPolicyOID {
				t.Fatalf("cp_list %q: status %d", s, st)
			}
			return
		}
		if s != "" && len(oids) == 0 {
			t.Fatalf("cp_list %q: no OIDs and no error", s)
		}
		if _, err := policiesExtension(oids); err != nil {
			t.Fatalf("cp_list %q: %v", s, err)
		}
	})
}
