package cipher

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"time"
)

// Ukrainian identifiers in certificates: DRFOU (the person's tax number)
// and EDRPOU (the organisation's register code), in the subject
// directory attributes (DSTU 4145 profile) or the subject's serialNumber
// ("TINUA-…") and organizationIdentifier ("NTRUA-…").
var (
	oidSubjectDirectoryAttributes = asn1.ObjectIdentifier{2, 5, 29, 9}
	oidDRFOU                      = asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 11, 1, 4, 1, 1}
	oidEDRPOU                     = asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 11, 1, 4, 2, 1}
	oidOrganizationIdentifier     = asn1.ObjectIdentifier{2, 5, 4, 97}
)

// valueOf wraps v the way Cipher's replies wrap every certificate field.
func valueOf(v any) map[string]any { return map[string]any{"value": v} }

// certificateInfo describes cert with the fields portals read
// (ownerFullName.value, notAfter.value,
// extensionsCertificateInfo.value.personalData.value.edrpou/drfou).
func certificateInfo(c *x509.Certificate) map[string]any {
	drfou, edrpou := personalData(c)
	return map[string]any{
		"ownerFullName":     valueOf(c.Subject.CommonName),
		"ownerOrganization": valueOf(first(c.Subject.Organization)),
		"ownerPosition":     valueOf(first(c.Subject.OrganizationalUnit)),
		"ownerSubject":      valueOf(c.Subject.String()),
		"issuerFullName":    valueOf(c.Issuer.CommonName),
		"issuerSubject":     valueOf(c.Issuer.String()),
		"serialNumber":      valueOf(strings.ToUpper(c.SerialNumber.Text(16))),
		"notBefore":         valueOf(fmtTime(c.NotBefore)),
		"notAfter":          valueOf(fmtTime(c.NotAfter)),
		"extensionsCertificateInfo": valueOf(map[string]any{
			"personalData": valueOf(map[string]any{"drfou": drfou, "edrpou": edrpou}),
		}),
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// personalData finds DRFOU and EDRPOU ("" when absent).
func personalData(c *x509.Certificate) (drfou, edrpou string) {
	for _, e := range c.Extensions {
		if !e.Id.Equal(oidSubjectDirectoryAttributes) {
			continue
		}
		var attrs []struct {
			Type   asn1.ObjectIdentifier
			Values []asn1.RawValue `asn1:"set"`
		}
		if _, err := asn1.Unmarshal(e.Value, &attrs); err != nil {
			break
		}
		for _, a := range attrs {
			if len(a.Values) == 0 {
				continue
			}
			var s string
			if _, err := asn1.Unmarshal(a.Values[0].FullBytes, &s); err != nil {
				continue
			}
			switch {
			case a.Type.Equal(oidDRFOU):
				drfou = s
			case a.Type.Equal(oidEDRPOU):
				edrpou = s
			}
		}
	}
	if drfou == "" {
		drfou = strings.TrimPrefix(c.Subject.SerialNumber, "TINUA-")
		if drfou == c.Subject.SerialNumber {
			drfou = ""
		}
	}
	if edrpou == "" {
		edrpou = nameAttr(c.Subject, oidOrganizationIdentifier, "NTRUA-")
	}
	return drfou, edrpou
}

func nameAttr(n pkix.Name, oid asn1.ObjectIdentifier, prefix string) string {
	for _, a := range n.Names {
		if s, ok := a.Value.(string); ok && a.Type.Equal(oid) && strings.HasPrefix(s, prefix) {
			return strings.TrimPrefix(s, prefix)
		}
	}
	return ""
}

// canSign reports whether cert may be used for signatures now.
func canSign(c *x509.Certificate, now time.Time) bool {
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return false
	}
	return c.KeyUsage == 0 || c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) != 0
}
