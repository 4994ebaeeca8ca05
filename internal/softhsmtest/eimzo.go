package softhsmtest

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// E-IMZO-like test key files.
//
// Uzbek certification authorities issue certificates whose subject carries
// national attributes (TIN, PINFL) and write them into PFX files whose key
// entry has a friendlyName "alias" built from the subject, the serial and
// the validity (E-IMZO's alias format). go-pkcs12 cannot write a
// friendlyName (SSLMate/go-pkcs12#34), so these files are written with
// `openssl pkcs12 -export -name ALIAS`, the tool a person would use; that
// also proves interoperability with OpenSSL-written files.

// Object identifiers of the subject attributes in Uzbek certificates.
var (
	OIDEIMZOTIN   = asn1.ObjectIdentifier{1, 2, 860, 3, 16, 1, 1}          // organisation TIN (Юр.ИНН)
	OIDEIMZOPINFL = asn1.ObjectIdentifier{1, 2, 860, 3, 16, 1, 2}          // personal id (ПИНФЛ)
	OIDUID        = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1} // individual TIN
	oidCN         = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidSurname    = asn1.ObjectIdentifier{2, 5, 4, 4}
	oidCountry    = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidLocality   = asn1.ObjectIdentifier{2, 5, 4, 7}
	oidProvince   = asn1.ObjectIdentifier{2, 5, 4, 8}
	oidOrg        = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidTitle      = asn1.ObjectIdentifier{2, 5, 4, 12}
	oidBusiness   = asn1.ObjectIdentifier{2, 5, 4, 15}
	oidName       = asn1.ObjectIdentifier{2, 5, 4, 41}
)

// EIMZOPerson is the holder of an E-IMZO-like test certificate. Empty
// fields are left out of the subject.
type EIMZOPerson struct {
	CN               string // "ALIYEV VALI G'ANIYEVICH"
	Name             string // given name (2.5.4.41)
	Surname          string // family name (2.5.4.4)
	Organization     string // O
	Locality         string // L
	Province         string // ST
	Country          string // C, "UZ"
	UID              string // individual TIN, 9 digits
	PINFL            string // 14 digits
	Title            string // T
	TIN              string // organisation TIN, 9 digits; "" for individuals
	BusinessCategory string
}

// Example holders: an individual and an employee of a company.
var (
	EIMZOIndividual = EIMZOPerson{
		CN: "ALIYEV VALI G'ANIYEVICH", Name: "VALI", Surname: "ALIYEV",
		Locality: "YUNUSOBOD TUMANI", Province: "TOSHKENT SHAHRI", Country: "UZ",
		UID: "312345678", PINFL: "31203900120034",
	}
	EIMZOEmployee = EIMZOPerson{
		CN: "KARIMOVA DILNOZA RUSTAMOVNA", Name: "DILNOZA", Surname: "KARIMOVA",
		Organization: `"SIGNET TEST" MCHJ`, Locality: "CHILONZOR TUMANI", Province: "TOSHKENT SHAHRI", Country: "UZ",
		UID: "487654321", PINFL: "42507880230011", Title: "DIREKTOR",
		TIN: "305123456", BusinessCategory: "MCHJ",
	}
)

// attrs returns the holder's attributes in the order of a real Uzbek user
// certificate: CN, name, surname, O, L, ST, C, UID, PINFL, T, TIN,
// businessCategory.
func (p EIMZOPerson) attrs() []struct {
	oid   asn1.ObjectIdentifier
	key   string // the alias key
	value string
} {
	all := []struct {
		oid   asn1.ObjectIdentifier
		key   string
		value string
	}{
		{oidCN, "cn", p.CN}, {oidName, "name", p.Name}, {oidSurname, "surname", p.Surname},
		{oidOrg, "o", p.Organization}, {oidLocality, "l", p.Locality}, {oidProvince, "st", p.Province},
		{oidCountry, "c", p.Country}, {OIDUID, "uid", p.UID}, {OIDEIMZOPINFL, "1.2.860.3.16.1.2", p.PINFL},
		{oidTitle, "t", p.Title}, {OIDEIMZOTIN, "1.2.860.3.16.1.1", p.TIN},
		{oidBusiness, "businesscategory", p.BusinessCategory},
	}
	out := all[:0]
	for _, a := range all {
		if a.value != "" {
			out = append(out, a)
		}
	}
	return out
}

// EIMZOSubject returns the subject of p's certificate: one attribute per
// RDN in the order of attrs, UTF8String values except C (PrintableString),
// as Uzbek CAs encode them.
func EIMZOSubject(p EIMZOPerson) pkix.Name {
	var n pkix.Name
	for _, a := range p.attrs() {
		var v any = asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagUTF8String, Bytes: []byte(a.value)}
		if a.oid.Equal(oidCountry) {
			v = asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagPrintableString, Bytes: []byte(a.value)}
		}
		n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{Type: a.oid, Value: v})
	}
	return n
}

// tashkent is Uzbekistan's time zone (UTC+5, no daylight saving).
var tashkent = time.FixedZone("UZT", 5*60*60)

// Alias returns the alias an Uzbek CA writes for p's certificate cert: the
// lower-cased subject in certificate order, then the serial in lowercase
// hex and the validity in Tashkent time, "yyyy.MM.dd HH:mm:ss" (eimzo.md
// §7.1). It is written from p's fields, independently of the plugin's own
// alias builder, so tests can compare the two.
func (p EIMZOPerson) Alias(cert *x509.Certificate) string {
	var parts []string
	for _, a := range p.attrs() {
		parts = append(parts, a.key+"="+strings.ToLower(a.value))
	}
	const layout = "2006.01.02 15:04:05"
	parts = append(parts,
		"serialnumber="+cert.SerialNumber.Text(16),
		"validfrom="+cert.NotBefore.In(tashkent).Format(layout),
		"validto="+cert.NotAfter.In(tashkent).Format(layout))
	return strings.Join(parts, ",")
}

// NewEIMZOKey generates a software key of type typ with a certificate for
// person issued by p; opts may set the validity, serial and the rest
// (its Subject is replaced).
func (p *PKI) NewEIMZOKey(typ string, person EIMZOPerson, opts IssueOptions) (*SoftwareKey, error) {
	opts.Subject = EIMZOSubject(person)
	return p.NewSoftwareKey(typ, opts)
}

// EIMZOPFX says how WriteEIMZOPFX writes a file.
type EIMZOPFX struct {
	// Alias is the key entry's friendlyName; "" writes none (the entry
	// then has only OpenSSL's localKeyID).
	Alias    string
	Password string
	// PlainCertificates leaves the certificates unencrypted
	// (-certpbe NONE), so they are readable without the password, as in
	// files from Uzbek CAs; otherwise OpenSSL encrypts them with the
	// password (its default).
	PlainCertificates bool
}

// WriteEIMZOPFX writes k's key, certificate and chain to path (parent
// directories created, mode 0600) with `openssl pkcs12 -export`. The
// password reaches openssl through its environment, never its arguments.
func WriteEIMZOPFX(path string, k *SoftwareKey, o EIMZOPFX) error {
	dir, err := os.MkdirTemp("", "eimzo-pfx-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	var chain bytes.Buffer
	for _, c := range k.Chain {
		_ = pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	files := map[string][]byte{
		"key.pem":   keyPEM,
		"cert.pem":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Certificate.Raw}),
		"chain.pem": chain.Bytes(),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	args := []string{"pkcs12", "-export",
		"-inkey", filepath.Join(dir, "key.pem"), "-in", filepath.Join(dir, "cert.pem"),
		"-out", path, "-passout", "env:SIGNET_EIMZO_PFX_PASSWORD"}
	if len(k.Chain) > 0 {
		args = append(args, "-certfile", filepath.Join(dir, "chain.pem"))
	}
	if o.Alias != "" {
		args = append(args, "-name", o.Alias)
	}
	if o.PlainCertificates {
		args = append(args, "-certpbe", "NONE")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", args...)
	cmd.Env = append(os.Environ(), "SIGNET_EIMZO_PFX_PASSWORD="+o.Password)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("openssl pkcs12 -export %s: %v: %s", path, err, out)
	}
	return os.Chmod(path, 0o600)
}
