package consentui

import (
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk/x500"
)

// keyView is a key as the person knows it: whose it is (owner,
// organisation, national identifiers, all decoded from the certificate by
// sdk/x500's table), who issued it, how long it is valid, and where it
// lives (which token or file). The technical details (label, algorithm,
// serial, URI, the raw subject) come last, folded away.
type keyView struct {
	L                          *locale
	Owner, Organization, Title string
	IDs                        []field // national identifiers (PINFL, TIN, INN, EDRPOU, …)
	Subject                    []field // every subject attribute, labelled
	Issuer                     string
	Validity                   string
	Warning                    string // expired, not yet valid, ends soon
	Soon                       bool   // Warning is "ends soon", not "invalid"
	Where                      string // "token X (serial Y)" or "file alice.pfx"
	Locked                     string // a PFX key whose certificate is unknown until unlocked
	Label, URI, Algorithm      string
	Serial, DN                 string
	HasCert                    bool
}

// warnBefore is how long before its end a certificate gets a warning.
const warnBefore = 30 * 24 * time.Hour

// idKinds are the sdk/x500 kinds shown as the owner's identifiers.
var idKinds = map[string]bool{
	"pinfl": true, "tin.uz": true, "inn.ru": true, "innle.ru": true, "ogrn.ru": true, "ogrnip.ru": true,
	"snils.ru": true, "drfo.ua": true, "edrpou.ua": true, "organizationIdentifier": true,
}

func describeKey(l *locale, k *hsm.KeyInfo, uri string, now time.Time) *keyView {
	if k == nil {
		if uri == "" {
			return nil
		}
		return &keyView{L: l, URI: uri, Where: where(l, uri, "")}
	}
	kv := &keyView{L: l, Label: k.Label, URI: k.URI, Where: where(l, k.URI, k.TokenURI)}
	if k.Algorithm != "" {
		kv.Algorithm = string(k.Algorithm)
		if k.Bits > 0 {
			kv.Algorithm += " " + strconv.Itoa(k.Bits)
		}
	}
	c := k.Certificate
	if c == nil {
		if strings.HasPrefix(k.URI, "file:") {
			kv.Locked = l.T("key.pfxLocked")
		}
		return kv
	}
	kv.HasCert = true
	kv.DN = c.Subject.String()
	subject, _ := x500.Fields(c.RawSubject)
	for _, ext := range c.Extensions {
		if ext.Id.Equal(x500.OIDSubjectDirectoryAttributes) {
			dir, _ := x500.DirectoryFields(ext.Value)
			subject = append(subject, dir...)
		}
	}
	var given, surname string
	for _, f := range subject {
		label := attrLabel(l, f)
		kv.Subject = append(kv.Subject, field{label, f.Value})
		switch {
		case f.Kind == x500.KindName && kv.Owner == "":
			kv.Owner = f.Value
		case f.Kind == x500.KindOrganization:
			kv.Organization = join(kv.Organization, f.Value)
		case f.Kind == "title" && kv.Title == "":
			kv.Title = f.Value
		case f.Kind == "givenName" && given == "":
			given = f.Value
		case f.Kind == "surname" && surname == "":
			surname = f.Value
		case idKinds[f.Kind]:
			kv.IDs = append(kv.IDs, field{label, f.Value})
		}
	}
	if kv.Owner == "" {
		kv.Owner = strings.TrimSpace(given + " " + surname)
	}
	if kv.Owner == "" && len(c.EmailAddresses) > 0 {
		kv.Owner = c.EmailAddresses[0]
	}
	kv.Issuer = issuerName(c.RawIssuer, c.Issuer.String())
	kv.Serial = c.SerialNumber.Text(16)
	kv.Validity = l.T("key.validity", date(c.NotBefore), date(c.NotAfter))
	switch left := c.NotAfter.Sub(now); {
	case left < 0:
		kv.Warning = l.T("key.expired", date(c.NotAfter))
	case now.Before(c.NotBefore):
		kv.Warning = l.T("key.notYet", date(c.NotBefore))
	case left < warnBefore:
		kv.Warning = l.N("key.endsSoon", int(left/(24*time.Hour)), date(c.NotAfter))
		kv.Soon = true
	}
	return kv
}

// attrLabel is an attribute's label in l's language, or sdk/x500's
// English one for a kind the catalogue does not name.
func attrLabel(l *locale, f x500.Field) string {
	if f.Kind != "" {
		if _, ok := catalogues[defaultLang]["attr."+f.Kind]; ok {
			return l.T("attr." + f.Kind)
		}
	}
	return f.Label
}

// issuerName is the issuer as people name it: its CN and O.
func issuerName(der []byte, dn string) string {
	fs, err := x500.Fields(der)
	if err != nil {
		return dn
	}
	var cn, o string
	for _, f := range fs {
		switch f.Kind {
		case x500.KindName:
			cn = join(cn, f.Value)
		case x500.KindOrganization:
			o = join(o, f.Value)
		}
	}
	switch {
	case cn != "" && o != "" && cn != o:
		return cn + " (" + o + ")"
	case cn != "":
		return cn
	case o != "":
		return o
	}
	return dn
}

// where names the token or file a key lives in.
func where(l *locale, keyURI, tokenURI string) string {
	if u := tokenURI; u != "" {
		keyURI = u
	}
	if strings.HasPrefix(keyURI, "file:") {
		return l.T("key.inFile", fileName(keyURI))
	}
	u, err := hsm.ParseURI(keyURI)
	if err != nil || u.Token == "" {
		return ""
	}
	if u.Serial != "" {
		return l.T("key.onTokenSerial", u.Token, u.Serial)
	}
	return l.T("key.onToken", u.Token)
}

// fileName is the base name of a file: URI (a PFX file), or the URI.
func fileName(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "file" || u.Path == "" {
		return uri
	}
	return path.Base(u.Path)
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
}

// date is a day as people write it in every language we speak.
func date(t time.Time) string { return t.UTC().Format("02.01.2006") }
