package cli

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk/x500"
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
			"Types: CN, O, OU, L, ST, C, STREET, POSTALCODE, SERIALNUMBER (or SN: the serial\n" +
			"number, not the surname), T, NAME, SURNAME, GIVENNAME, E (email), UID, DC, TIN,\n" +
			"PINFL, or a dotted OID (1.2.860.3.16.1.2=…). Escape a comma in a value as \\, or\n" +
			"quote the value. Values are UTF8String (C, two letters, and SERIALNUMBER\n" +
			"PrintableString; E and DC ASCII).",
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
				oid, err := x500.ParseOID(p)
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

// parseSubject parses an RFC 4514 string, most specific first
// ("CN=a,O=b,C=UZ"), with sdk/x500 (its attribute names, escapes and
// string types) into a pkix.Name whose DER order is the reverse (C, O,
// CN). A '+' joins attributes in x500's syntax; pkix.Name has no
// multi-valued RDNs, so each attribute becomes an RDN of its own.
func parseSubject(s string) (pkix.Name, error) {
	var name pkix.Name
	if strings.TrimSpace(s) == "" {
		return name, usagef(`--subject is required, e.g. "CN=Ism Familiya,O=Kompaniya,C=UZ"`)
	}
	rdns, err := x500.Parse(s)
	if err != nil {
		return name, usagef("--subject: %v", err)
	}
	for _, rdn := range rdns {
		for _, a := range rdn {
			name.ExtraNames = append([]pkix.AttributeTypeAndValue{{Type: a.Type, Value: a.Value}}, name.ExtraNames...)
		}
	}
	return name, nil
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
