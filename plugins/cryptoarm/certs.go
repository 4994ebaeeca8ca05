package cryptoarm

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/signet-agent/signet/sdk"
	"github.com/signet-agent/signet/sdk/cms"
)

// signerInfo is a signer as the vendor's app sends it (§5.3): flat, times
// in milliseconds since the epoch, the certificate as base64 DER.
type signerInfo struct {
	SerialNumber        string `json:"serialNumber"`
	DigestAlgorithm     string `json:"digestAlgorithm,omitempty"`
	IssuerFriendlyName  string `json:"issuerFriendlyName"`
	IssuerName          string `json:"issuerName"`
	NotAfter            int64  `json:"notAfter"`
	NotBefore           int64  `json:"notBefore"`
	OrganizationName    string `json:"organizationName"`
	SigningTime         int64  `json:"signingTime,omitempty"`
	SubjectFriendlyName string `json:"subjectFriendlyName"`
	SubjectName         string `json:"subjectName"`
	X509                string `json:"x509"`
	Status              *bool  `json:"status,omitempty"`
}

func describeSigner(c *x509.Certificate, r *cms.SignerReport) signerInfo {
	var s signerInfo
	if c != nil {
		s = signerInfo{
			SerialNumber:        hex.EncodeToString(c.SerialNumber.Bytes()),
			IssuerFriendlyName:  friendly(c.Issuer),
			IssuerName:          c.Issuer.String(),
			NotAfter:            c.NotAfter.UnixMilli(),
			NotBefore:           c.NotBefore.UnixMilli(),
			SubjectFriendlyName: friendly(c.Subject),
			SubjectName:         c.Subject.String(),
			X509:                base64.StdEncoding.EncodeToString(c.Raw),
		}
		if len(c.Subject.Organization) > 0 {
			s.OrganizationName = c.Subject.Organization[0]
		}
	}
	if r != nil {
		s.DigestAlgorithm = r.DigestOID.String()
		if r.HasSigningTime {
			s.SigningTime = r.SigningTime.UnixMilli()
		}
		ok := r.Valid()
		s.Status = &ok
	}
	return s
}

// friendly is a name's common name, else its first organisation.
func friendly(n pkix.Name) string {
	if n.CommonName != "" {
		return n.CommonName
	}
	if len(n.Organization) > 0 {
		return n.Organization[0]
	}
	return n.String()
}

func tsaClient() *http.Client { return &http.Client{Timeout: RequestTimeout} }

// certificates runs export, import and information (§6).
func (j *job) certificates(ctx context.Context) error {
	if len(j.params.Operation) != 1 {
		return jobErr(CodeInvalidParams, nil, "certificates: want one operation")
	}
	switch op := strings.ToLower(j.params.Operation[0]); op {
	case "export":
		return j.exportCertificate(ctx)
	case "import":
		return j.importCertificate(ctx)
	case "information":
		return j.certificateInformation(ctx)
	default:
		return jobErr(CodeInvalidParams, nil, "certificates: unknown operation %q", clip(op))
	}
}

// exportCertificate has the person pick one of their certificates (the
// key choice dialog; no signature follows) and sends it (certificates.base64).
func (j *job) exportCertificate(ctx context.Context) error {
	j.describe("send one of your certificates (no signature is made)")
	choice, err := j.chooseKey(ctx, j.op(nil))
	if err != nil {
		return err
	}
	c := choice.Key.Certificate
	params := map[string]any{"id": j.link.ID, "certificateBase64": base64.StdEncoding.EncodeToString(c.Raw), "friendlyName": friendly(c.Subject)}
	if j.params.Props.Multy {
		params = map[string]any{"id": j.link.ID, "certificates": []map[string]string{{"certificateBase64": params["certificateBase64"].(string), "friendlyName": friendly(c.Subject)}}}
	}
	return j.send(ctx, j.link.Service, notify("certificates.base64", params), []output{{Name: "certificate.cer", Data: c.Raw}})
}

// importCertificate stores the job's certificate next to its key on the
// token (the host asks the person); no result is sent (§6).
func (j *job) importCertificate(ctx context.Context) error {
	c, err := parseCertB64(j.params.Props.CertificateB64)
	if err != nil {
		return jobErr(CodeInvalidParams, err, "certificateBase64")
	}
	j.describe("import the certificate of " + c.Subject.String() + " next to its key")
	op := j.op([]sdk.Document{sdk.DocumentOf(friendly(c.Subject)+".cer", "application/pkix-cert", c.Raw)})
	keys, err := j.r.cfg.Keys.Keys(ctx, op)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	for _, k := range keys {
		if k.HasPrivateKey && keyOf(k, c) {
			_, err := j.r.cfg.Keys.ImportCertificate(ctx, sdk.ImportCertificateRequest{KeyURI: k.URI, Certificate: c}, op)
			if err != nil {
				return fmt.Errorf("import certificate: %w", err)
			}
			return nil
		}
	}
	return jobErr(CodeInvalidParams, sdk.ErrKeyNotFound, "no key of yours matches the certificate of %s", clip(c.Subject.String()))
}

// keyOf reports whether c certifies k's public key.
func keyOf(k sdk.Key, c *x509.Certificate) bool {
	if k.Certificate != nil && bytes.Equal(k.Certificate.RawSubjectPublicKeyInfo, c.RawSubjectPublicKeyInfo) {
		return true
	}
	if k.PublicKey == nil {
		return false
	}
	der, err := x509.MarshalPKIXPublicKey(k.PublicKey)
	return err == nil && bytes.Equal(der, c.RawSubjectPublicKeyInfo)
}

// certificateInformation sends what the certificate says
// (certificateInfo.info, the method the vendor's app and demo use).
func (j *job) certificateInformation(ctx context.Context) error {
	c, err := parseCertB64(j.params.Props.CertificateB64)
	if err != nil {
		return jobErr(CodeInvalidParams, err, "certificateBase64")
	}
	sum := sha1.Sum(c.Raw)
	_, verr := c.Verify(x509.VerifyOptions{Roots: j.r.cfg.VerifyRoots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	params := map[string]any{
		"id": j.link.ID, "certificateBase64": base64.StdEncoding.EncodeToString(c.Raw),
		"hash": strings.ToUpper(hex.EncodeToString(sum[:])), "serial": hex.EncodeToString(c.SerialNumber.Bytes()),
		"issuerFriendlyName": friendly(c.Issuer), "issuerName": c.Issuer.String(),
		"subjectFriendlyName": friendly(c.Subject), "subjectName": c.Subject.String(),
		"notAfter": c.NotAfter.UnixMilli(), "notBefore": c.NotBefore.UnixMilli(),
		"status": verr == nil, "isMynsvyaz": false,
	}
	return j.send(ctx, j.link.Service, notify("certificateInfo.info", params), nil)
}

// jsonTemplate is certrequests' JSONTemplate (§8).
type jsonTemplate struct {
	FriendlyName string `json:"FriendlyName"`
	RDN          []struct {
		OID          string `json:"Oid"`
		Name         string `json:"Name"`
		DefaultValue string `json:"DefaultValue"`
	} `json:"RDN"`
	Extensions struct {
		ExtendedKeyUsage []struct {
			Name         string   `json:"Name"`
			DefaultValue FlexBool `json:"DefaultValue"`
		} `json:"ExtendedKeyUsage"`
	} `json:"Extensions"`
	CertificateB64 string `json:"certificateBase64"`
}

// certRequests generates a key on the token and sends its PKCS#10 request
// (certrequests.base64).
func (j *job) certRequests(ctx context.Context) error {
	if len(j.params.Operation) != 1 || !strings.EqualFold(j.params.Operation[0], "GENERATE") {
		return jobErr(CodeInvalidParams, nil, "certrequests: want operation GENERATE")
	}
	var t jsonTemplate
	if len(j.params.Props.Template) > 0 {
		if err := json.Unmarshal(j.params.Props.Template, &t); err != nil {
			return jobErr(CodeInvalidParams, err, "template")
		}
	}
	tmpl := &x509.CertificateRequest{}
	switch {
	case strings.EqualFold(j.params.Props.TemplateType, "CertificateTemplate"):
		c, err := parseCertB64(t.CertificateB64)
		if err != nil {
			return jobErr(CodeInvalidParams, err, "template.certificateBase64")
		}
		tmpl.Subject = c.Subject
		tmpl.DNSNames, tmpl.EmailAddresses = c.DNSNames, c.EmailAddresses
	default:
		if len(t.RDN) > 64 {
			return jobErr(CodeInvalidParams, nil, "template: %d RDNs", len(t.RDN))
		}
		for i, rdn := range t.RDN {
			oid, err := parseOID(rdn.OID)
			if err != nil {
				return jobErr(CodeInvalidParams, err, "template.RDN[%d].Oid", i)
			}
			if rdn.DefaultValue != "" {
				tmpl.Subject.ExtraNames = append(tmpl.Subject.ExtraNames, pkix.AttributeTypeAndValue{Type: oid, Value: rdn.DefaultValue})
			}
		}
		var ekus []asn1.ObjectIdentifier
		for _, e := range t.Extensions.ExtendedKeyUsage {
			if oid, err := parseOID(e.Name); err == nil && bool(e.DefaultValue) {
				ekus = append(ekus, oid)
			}
		}
		if len(ekus) > 0 {
			v, _ := asn1.Marshal(ekus)
			tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: v})
		}
	}
	if len(tmpl.Subject.ExtraNames) == 0 && len(tmpl.Subject.Names) == 0 && tmpl.Subject.CommonName == "" && tmpl.Subject.String() == "" {
		return jobErr(CodeInvalidParams, nil, "template: an empty subject")
	}
	j.describe("create a key on your token and a certificate request for " + tmpl.Subject.String())
	op := j.op(nil)
	token := j.r.cfg.KeygenToken
	if token == "" {
		toks, err := j.r.cfg.Keys.Tokens(ctx, op)
		if err != nil && len(toks) == 0 {
			return fmt.Errorf("list tokens: %w", err)
		}
		for _, tk := range toks {
			if tk.Backend == "pkcs11" && !tk.Flags.WriteProtected {
				token = tk.URI
				break
			}
		}
		if token == "" {
			return jobErr(CodeInternal, sdk.ErrKeyNotFound, "no token to create the key on")
		}
	}
	label := "cryptoarm " + time.Now().UTC().Format("2006-01-02T15:04:05")
	if t.FriendlyName != "" {
		label = clipN(t.FriendlyName, 64)
	}
	key, err := j.r.cfg.Keys.GenerateKey(ctx, sdk.GenerateKeyRequest{TokenURI: token, Label: label, Algorithm: sdk.AlgorithmRSA, Bits: 2048}, op)
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	csr, err := j.r.cfg.Keys.CreateCSR(ctx, key.URI, tmpl, op)
	if err != nil {
		return fmt.Errorf("certificate request: %w", err)
	}
	params := map[string]any{"id": j.link.ID, "certificaterequestBase64": base64.StdEncoding.EncodeToString(csr), "friendlyName": label}
	return j.send(ctx, j.link.Service, notify("certrequests.base64", params), []output{{Name: "request.p10", Data: csr}})
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) < 2 || len(parts) > 32 {
		return nil, fmt.Errorf("OID %q", clip(s))
	}
	for _, p := range parts {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != p {
			return nil, fmt.Errorf("OID %q", clip(s))
		}
		oid = append(oid, n)
	}
	return oid, nil
}
