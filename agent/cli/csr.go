package cli

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/signet-agent/signet/hsm"
)

func newCSRCmd(a *App) *cobra.Command {
	var keyURI, subject, out string
	var dns, emails, ips, usages, extUsages, policies []string
	var pss bool
	c := &cobra.Command{
		Use:   `csr --key URI --subject "CN=…,O=…" --out FILE`,
		Short: "Create a PKCS#10 certificate request signed by a key",
		Long: "Create a PKCS#10 request (PEM) for the key named by URI, signed by that key.\n" +
			"--subject is an RFC 4514 string, as `signet keys` prints subjects: most specific\n" +
			"first (CN=…,O=…,C=…), encoded in the request in the reverse (X.500) order.\n" +
			"Types: CN, O, OU, L, ST, C, STREET, POSTALCODE, SERIALNUMBER, T, NAME, SURNAME,\n" +
			"GIVENNAME, E (email), UID, or a dotted OID (1.2.860.3.16.1.2=…). Escape a comma\n" +
			"in a value as \\,.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("--out is required")
			}
			name, err := parseSubject(subject)
			if err != nil {
				return err
			}
			req := hsm.CSRRequest{Subject: name, DNSNames: dns, EmailAddresses: emails}
			for _, s := range ips {
				ip := net.ParseIP(s)
				if ip == nil {
					return usagef("--ip %q is not an IP address", s)
				}
				req.IPAddresses = append(req.IPAddresses, ip)
			}
			if req.KeyUsage, err = parseKeyUsage(usages); err != nil {
				return err
			}
			if req.ExtKeyUsage, err = parseExtKeyUsage(extUsages); err != nil {
				return err
			}
			for _, p := range policies {
				oid, err := parseOID(p)
				if err != nil {
					return usagef("--policy %q: %v", p, err)
				}
				req.Policies = append(req.Policies, oid)
			}
			store, err := a.Store()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			ki, err := findKey(ctx, store, keyURI)
			if err != nil {
				return err
			}
			if ki, err = ensurePublicKey(ctx, store, ki); err != nil {
				return err
			}
			if pss {
				if ki.Algorithm != hsm.RSA {
					return usagef("--pss needs an RSA key; %s is %s", ki.URI, ki.Algorithm)
				}
				req.SignatureAlgorithm = x509.SHA256WithRSAPSS
			}
			der, err := hsm.CreateCSR(ctx, store, ki, req)
			if err != nil {
				return err
			}
			data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
			if err := os.WriteFile(out, data, 0o644); err != nil {
				return fmt.Errorf("write request: %w", err)
			}
			fmt.Fprintf(a.Stderr, "certificate request for %q written to %s\n", subject, out)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&keyURI, "key", "", "key `URI` (see `signet keys`)")
	f.StringVar(&subject, "subject", "", `subject, e.g. "CN=Ism Familiya,O=Kompaniya,C=UZ"`)
	f.StringArrayVar(&dns, "dns", nil, "DNS name SAN (repeatable)")
	f.StringArrayVar(&emails, "email", nil, "email SAN (repeatable)")
	f.StringArrayVar(&ips, "ip", nil, "IP address SAN (repeatable)")
	f.StringSliceVar(&usages, "key-usage", nil, "key usage: digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment, keyAgreement")
	f.StringSliceVar(&extUsages, "ext-key-usage", nil, "extended key usage: clientAuth, serverAuth, emailProtection, codeSigning, timeStamping")
	f.StringArrayVar(&policies, "policy", nil, "certificate policy OID (repeatable)")
	f.BoolVar(&pss, "pss", false, "sign the request with RSA-PSS")
	f.StringVar(&out, "out", "", "write the request (PEM) to `file`")
	return c
}

// ensurePublicKey returns ki with its public key. A locked PFX key whose
// certificate is encrypted shows no public key until unlocked: one
// signature unlocks it (asking for the password) and the listing then
// shows it.
func ensurePublicKey(ctx context.Context, store *hsm.Store, ki hsm.KeyInfo) (hsm.KeyInfo, error) {
	if ki.PublicKey != nil {
		return ki, nil
	}
	d := sha256.Sum256([]byte("signet: unlock to read the public key"))
	if _, err := store.Sign(ctx, ki.URI, d[:], crypto.SHA256); err != nil && !isInvalidRequest(err) {
		return ki, fmt.Errorf("unlock %s: %w", ki.URI, err)
	}
	again, err := findKey(ctx, store, ki.URI)
	if err != nil {
		return ki, err
	}
	if again.PublicKey == nil {
		return ki, fmt.Errorf("%s: public key unknown: %w", ki.URI, hsm.ErrUnsupported)
	}
	return again, nil
}

func isInvalidRequest(err error) bool {
	return err != nil && strings.Contains(err.Error(), hsm.ErrInvalidRequest.Error())
}

var subjectOIDs = map[string]asn1.ObjectIdentifier{
	"CN":           {2, 5, 4, 3},
	"SURNAME":      {2, 5, 4, 4},
	"SERIALNUMBER": {2, 5, 4, 5},
	"C":            {2, 5, 4, 6},
	"L":            {2, 5, 4, 7},
	"ST":           {2, 5, 4, 8},
	"STREET":       {2, 5, 4, 9},
	"O":            {2, 5, 4, 10},
	"OU":           {2, 5, 4, 11},
	"T":            {2, 5, 4, 12},
	"TITLE":        {2, 5, 4, 12},
	"POSTALCODE":   {2, 5, 4, 17},
	"NAME":         {2, 5, 4, 41},
	"GIVENNAME":    {2, 5, 4, 42},
	"E":            {1, 2, 840, 113549, 1, 9, 1},
	"EMAIL":        {1, 2, 840, 113549, 1, 9, 1},
	"UID":          {0, 9, 2342, 19200300, 100, 1, 1},
}

// parseSubject parses an RFC 4514 string "CN=a,O=b,C=UZ" ("\," escapes a
// comma) into a pkix.Name whose DER order is the reverse (C, O, CN), so
// that Name.String() gives the input back.
func parseSubject(s string) (pkix.Name, error) {
	var name pkix.Name
	if strings.TrimSpace(s) == "" {
		return name, usagef(`--subject is required, e.g. "CN=Ism Familiya,O=Kompaniya,C=UZ"`)
	}
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case s[i] == ',' || s[i] == '+':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	parts = append(parts, cur.String())
	for _, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return name, usagef("--subject: %q is not TYPE=value", strings.TrimSpace(p))
		}
		oid, known := subjectOIDs[strings.ToUpper(k)]
		if !known {
			var err error
			if oid, err = parseOID(k); err != nil {
				return name, usagef("--subject: unknown attribute type %q", k)
			}
		}
		var value any = v
		if oid.Equal(subjectOIDs["E"]) { // emailAddress is an IA5String (RFC 5280)
			value = asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(v)}
		}
		name.ExtraNames = append([]pkix.AttributeTypeAndValue{{Type: oid, Value: value}}, name.ExtraNames...)
	}
	return name, nil
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	oid, err := x509.ParseOID(s)
	if err != nil {
		return nil, err
	}
	var out asn1.ObjectIdentifier
	for _, p := range strings.Split(oid.String(), ".") {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil {
			return nil, fmt.Errorf("OID arc %q too large", p)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseKeyUsage(names []string) (x509.KeyUsage, error) {
	var ku x509.KeyUsage
	for _, n := range names {
		switch strings.ToLower(n) {
		case "digitalsignature":
			ku |= x509.KeyUsageDigitalSignature
		case "nonrepudiation", "contentcommitment":
			ku |= x509.KeyUsageContentCommitment
		case "keyencipherment":
			ku |= x509.KeyUsageKeyEncipherment
		case "dataencipherment":
			ku |= x509.KeyUsageDataEncipherment
		case "keyagreement":
			ku |= x509.KeyUsageKeyAgreement
		default:
			return 0, usagef("--key-usage %q unknown", n)
		}
	}
	return ku, nil
}

func parseExtKeyUsage(names []string) ([]x509.ExtKeyUsage, error) {
	var out []x509.ExtKeyUsage
	for _, n := range names {
		switch strings.ToLower(n) {
		case "clientauth":
			out = append(out, x509.ExtKeyUsageClientAuth)
		case "serverauth":
			out = append(out, x509.ExtKeyUsageServerAuth)
		case "emailprotection":
			out = append(out, x509.ExtKeyUsageEmailProtection)
		case "codesigning":
			out = append(out, x509.ExtKeyUsageCodeSigning)
		case "timestamping":
			out = append(out, x509.ExtKeyUsageTimeStamping)
		default:
			return nil, usagef("--ext-key-usage %q unknown", n)
		}
	}
	return out, nil
}
