package cms

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Parsing limits.
const (
	maxSigners      = 256
	maxCertificates = 1024
	maxAttributes   = 256
)

// SignedData is a parsed ContentInfo(SignedData). Raw fields keep the exact
// encodings (after BER→DER normalisation) so that co-signing and
// timestamping can re-emit the message without touching existing signers.
type SignedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier
	ContentType      asn1.ObjectIdentifier
	// Content is the encapsulated content; nil when the signature is
	// detached (HasContent false).
	Content    []byte
	HasContent bool
	// Certificates are the parsed certificates of the certificates field
	// (entries Go cannot parse are kept only in RawCertificates).
	Certificates    []*x509.Certificate
	RawCertificates [][]byte
	RawCRLs         [][]byte
	Signers         []*SignerInfo

	rawDigestAlgs [][]byte
}

// SignerInfo is one parsed signer.
type SignerInfo struct {
	Version int
	// Exactly one of the two signer identifiers is set.
	IssuerRaw    []byte // DER Name, issuerAndSerialNumber
	SerialNumber *big.Int
	SubjectKeyID []byte // subjectKeyIdentifier

	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignatureAlgorithm pkix.AlgorithmIdentifier
	// Signature is the signature value (E-IMZO's signature_hex is its hex).
	Signature []byte

	SignedAttributes   []ParsedAttribute
	UnsignedAttributes []ParsedAttribute
	// RawSignedAttributes is the [0] IMPLICIT SET as encoded (tag 0xA0);
	// the signature covers it with the tag changed to SET (0x31).
	RawSignedAttributes []byte
	HasSignedAttributes bool

	// Certificate is the signer certificate found in the message (or in
	// VerifyOptions.Certificates after Verify), nil if not found.
	Certificate *x509.Certificate

	// Raw is the complete SignerInfo encoding.
	Raw []byte
	// rawBeforeUnsigned is Raw's content up to (not including) the
	// unsigned attributes.
	rawBeforeUnsigned []byte
	rawUnsigned       [][]byte
}

// ParsedAttribute is an attribute as read: its type and raw DER values.
type ParsedAttribute struct {
	Type   asn1.ObjectIdentifier
	Values [][]byte
}

// SignatureHex is the lowercase hex of the signature value, as E-IMZO's
// signature_hex.
func (s *SignerInfo) SignatureHex() string { return hex.EncodeToString(s.Signature) }

// SerialHex is the signer certificate serial in lowercase hex, as E-IMZO's
// signer_serial_number.
func (s *SignerInfo) SerialHex() string {
	if s.Certificate != nil {
		return bigIntHex(s.Certificate.SerialNumber)
	}
	return bigIntHex(s.SerialNumber)
}

func findAttr(attrs []ParsedAttribute, oid asn1.ObjectIdentifier) *ParsedAttribute {
	for i := range attrs {
		if attrs[i].Type.Equal(oid) {
			return &attrs[i]
		}
	}
	return nil
}

// SigningTime returns the signingTime attribute, if present and readable.
func (s *SignerInfo) SigningTime() (time.Time, bool) {
	a := findAttr(s.SignedAttributes, OIDAttributeSigningTime)
	if a == nil || len(a.Values) != 1 {
		return time.Time{}, false
	}
	var t time.Time
	if rest, err := asn1.Unmarshal(a.Values[0], &t); err != nil || len(rest) > 0 {
		return time.Time{}, false
	}
	return t, true
}

// TimestampToken returns the first signatureTimeStampToken unsigned
// attribute value (a DER ContentInfo), if any.
func (s *SignerInfo) TimestampToken() ([]byte, bool) {
	a := findAttr(s.UnsignedAttributes, OIDAttributeSignatureTimeStampToken)
	if a == nil || len(a.Values) == 0 {
		return nil, false
	}
	return a.Values[0], true
}

// ParseSignedData parses a DER or BER ContentInfo holding SignedData.
func ParseSignedData(data []byte) (*SignedData, error) {
	return parseSignedData(data, true)
}

// ParseSigners parses a ContentInfo holding SignedData as ParseSignedData
// does but leaves its certificates unparsed: RawCertificates is set,
// Certificates and each SignerInfo's Certificate stay nil. For a caller
// that only reads the signer infos (signer identifier, signature) of a
// message, parsing the certificates is most of the cost.
func ParseSigners(data []byte) (*SignedData, error) {
	return parseSignedData(data, false)
}

func parseSignedData(data []byte, certs bool) (*SignedData, error) {
	ct, inner, err := parseContentInfo(data)
	if err != nil {
		return nil, err
	}
	if !ct.Equal(OIDSignedData) {
		return nil, fmt.Errorf("%w: content type %v is not SignedData", ErrMalformed, ct)
	}
	return parseSignedDataBody(inner, certs)
}

func malformed(what string) error { return fmt.Errorf("%w: %s", ErrMalformed, what) }

// parseSignedDataBody parses a SignedData, its certificates too when
// parseCerts.
func parseSignedDataBody(der []byte, parseCerts bool) (*SignedData, error) {
	in := cryptobyte.String(der)
	var body cryptobyte.String
	if !in.ReadASN1(&body, casn1.SEQUENCE) || !in.Empty() {
		return nil, malformed("SignedData is not a SEQUENCE")
	}
	sd := &SignedData{}
	var v int64
	if !body.ReadASN1Int64WithTag(&v, casn1.INTEGER) || v < 0 || v > 5 {
		return nil, malformed("SignedData version")
	}
	sd.Version = int(v)
	var set cryptobyte.String
	if !body.ReadASN1(&set, casn1.SET) {
		return nil, malformed("SignedData digestAlgorithms")
	}
	for !set.Empty() {
		var elem cryptobyte.String
		if !set.ReadASN1Element(&elem, casn1.SEQUENCE) || len(sd.DigestAlgorithms) >= 64 {
			return nil, malformed("SignedData digestAlgorithms entry")
		}
		alg, err := parseAlgID(elem)
		if err != nil {
			return nil, err
		}
		sd.DigestAlgorithms = append(sd.DigestAlgorithms, alg)
		sd.rawDigestAlgs = append(sd.rawDigestAlgs, []byte(elem))
	}
	var encap cryptobyte.String
	if !body.ReadASN1(&encap, casn1.SEQUENCE) {
		return nil, malformed("SignedData encapContentInfo")
	}
	if !encap.ReadASN1ObjectIdentifier(&sd.ContentType) {
		return nil, malformed("encapContentInfo eContentType")
	}
	if !encap.Empty() {
		var ex, oct cryptobyte.String
		if !encap.ReadASN1(&ex, casn1.Tag(0).Constructed().ContextSpecific()) || !encap.Empty() {
			return nil, malformed("encapContentInfo eContent")
		}
		if !ex.ReadASN1(&oct, casn1.OCTET_STRING) || !ex.Empty() {
			return nil, malformed("eContent is not an OCTET STRING")
		}
		sd.Content = []byte(oct)
		sd.HasContent = true
	}
	if body.PeekASN1Tag(casn1.Tag(0).Constructed().ContextSpecific()) {
		var certs cryptobyte.String
		body.ReadASN1(&certs, casn1.Tag(0).Constructed().ContextSpecific())
		for !certs.Empty() {
			var elem cryptobyte.String
			var tag casn1.Tag
			if !certs.ReadAnyASN1Element(&elem, &tag) || len(sd.RawCertificates) >= maxCertificates {
				return nil, malformed("certificates")
			}
			sd.RawCertificates = append(sd.RawCertificates, []byte(elem))
			if tag != casn1.SEQUENCE || !parseCerts {
				continue // attribute certificates and other formats: kept raw
			}
			if c, err := x509.ParseCertificate(elem); err == nil {
				sd.Certificates = append(sd.Certificates, c)
			}
		}
	}
	if body.PeekASN1Tag(casn1.Tag(1).Constructed().ContextSpecific()) {
		var crls cryptobyte.String
		body.ReadASN1(&crls, casn1.Tag(1).Constructed().ContextSpecific())
		for !crls.Empty() {
			var elem cryptobyte.String
			var tag casn1.Tag
			if !crls.ReadAnyASN1Element(&elem, &tag) || len(sd.RawCRLs) >= maxCertificates {
				return nil, malformed("crls")
			}
			sd.RawCRLs = append(sd.RawCRLs, []byte(elem))
		}
	}
	var sis cryptobyte.String
	if !body.ReadASN1(&sis, casn1.SET) || !body.Empty() {
		return nil, malformed("SignedData signerInfos")
	}
	for !sis.Empty() {
		var elem cryptobyte.String
		if !sis.ReadASN1Element(&elem, casn1.SEQUENCE) || len(sd.Signers) >= maxSigners {
			return nil, malformed("SignerInfo")
		}
		si, err := parseSignerInfo(elem)
		if err != nil {
			return nil, fmt.Errorf("signer %d: %w", len(sd.Signers), err)
		}
		si.Certificate = findSignerCert(si, sd.Certificates)
		sd.Signers = append(sd.Signers, si)
	}
	return sd, nil
}

func parseAlgID(elem cryptobyte.String) (pkix.AlgorithmIdentifier, error) {
	var alg pkix.AlgorithmIdentifier
	rest, err := asn1.Unmarshal(elem, &alg)
	if err != nil || len(rest) != 0 {
		return alg, malformed("AlgorithmIdentifier")
	}
	return alg, nil
}

func parseSignerInfo(der cryptobyte.String) (*SignerInfo, error) {
	si := &SignerInfo{Raw: append([]byte(nil), der...)}
	in := der
	var body cryptobyte.String
	if !in.ReadASN1(&body, casn1.SEQUENCE) {
		return nil, malformed("SignerInfo")
	}
	start := len(der) - len(body) // header length
	var v int64
	if !body.ReadASN1Int64WithTag(&v, casn1.INTEGER) || v < 0 || v > 5 {
		return nil, malformed("SignerInfo version")
	}
	si.Version = int(v)
	switch {
	case body.PeekASN1Tag(casn1.SEQUENCE):
		var ias, name cryptobyte.String
		body.ReadASN1(&ias, casn1.SEQUENCE)
		si.SerialNumber = new(big.Int)
		if !ias.ReadASN1Element(&name, casn1.SEQUENCE) || !ias.ReadASN1Integer(si.SerialNumber) || !ias.Empty() {
			return nil, malformed("SignerInfo issuerAndSerialNumber")
		}
		si.IssuerRaw = []byte(name)
	case body.PeekASN1Tag(casn1.Tag(0).ContextSpecific()):
		var ski cryptobyte.String
		body.ReadASN1(&ski, casn1.Tag(0).ContextSpecific())
		si.SubjectKeyID = []byte(ski)
	default:
		return nil, malformed("SignerInfo sid")
	}
	var elem cryptobyte.String
	if !body.ReadASN1Element(&elem, casn1.SEQUENCE) {
		return nil, malformed("SignerInfo digestAlgorithm")
	}
	var err error
	if si.DigestAlgorithm, err = parseAlgID(elem); err != nil {
		return nil, err
	}
	if body.PeekASN1Tag(casn1.Tag(0).Constructed().ContextSpecific()) {
		var raw cryptobyte.String
		body.ReadASN1Element(&raw, casn1.Tag(0).Constructed().ContextSpecific())
		si.RawSignedAttributes = []byte(raw)
		si.HasSignedAttributes = true
		var attrs cryptobyte.String
		raw.ReadASN1(&attrs, casn1.Tag(0).Constructed().ContextSpecific())
		if si.SignedAttributes, _, err = parseAttributes(attrs); err != nil {
			return nil, fmt.Errorf("signed attributes: %w", err)
		}
	}
	if !body.ReadASN1Element(&elem, casn1.SEQUENCE) {
		return nil, malformed("SignerInfo signatureAlgorithm")
	}
	if si.SignatureAlgorithm, err = parseAlgID(elem); err != nil {
		return nil, err
	}
	var sig cryptobyte.String
	if !body.ReadASN1(&sig, casn1.OCTET_STRING) {
		return nil, malformed("SignerInfo signature")
	}
	si.Signature = []byte(sig)
	si.rawBeforeUnsigned = si.Raw[start : len(si.Raw)-len(body)]
	if body.PeekASN1Tag(casn1.Tag(1).Constructed().ContextSpecific()) {
		var attrs cryptobyte.String
		body.ReadASN1(&attrs, casn1.Tag(1).Constructed().ContextSpecific())
		if si.UnsignedAttributes, si.rawUnsigned, err = parseAttributes(attrs); err != nil {
			return nil, fmt.Errorf("unsigned attributes: %w", err)
		}
	}
	if !body.Empty() {
		return nil, malformed("trailing data in SignerInfo")
	}
	return si, nil
}

func parseAttributes(in cryptobyte.String) ([]ParsedAttribute, [][]byte, error) {
	var out []ParsedAttribute
	var raws [][]byte
	for !in.Empty() {
		var elem, a, vals cryptobyte.String
		if !in.ReadASN1Element(&elem, casn1.SEQUENCE) || len(out) >= maxAttributes {
			return nil, nil, malformed("attribute")
		}
		raws = append(raws, []byte(elem))
		a = elem
		var seq cryptobyte.String
		a.ReadASN1(&seq, casn1.SEQUENCE)
		var pa ParsedAttribute
		if !seq.ReadASN1ObjectIdentifier(&pa.Type) || !seq.ReadASN1(&vals, casn1.SET) || !seq.Empty() {
			return nil, nil, malformed("attribute")
		}
		for !vals.Empty() {
			var v cryptobyte.String
			var tag casn1.Tag
			if !vals.ReadAnyASN1Element(&v, &tag) || len(pa.Values) >= maxAttributes {
				return nil, nil, malformed("attribute value")
			}
			pa.Values = append(pa.Values, []byte(v))
		}
		out = append(out, pa)
	}
	return out, raws, nil
}

// findSignerCert returns the certificate a SignerInfo identifies.
func findSignerCert(si *SignerInfo, certs []*x509.Certificate) *x509.Certificate {
	for _, c := range certs {
		if si.SerialNumber != nil {
			if c.SerialNumber != nil && c.SerialNumber.Cmp(si.SerialNumber) == 0 && bytes.Equal(c.RawIssuer, si.IssuerRaw) {
				return c
			}
		} else if len(si.SubjectKeyID) > 0 && bytes.Equal(c.SubjectKeyId, si.SubjectKeyID) {
			return c
		}
	}
	return nil
}

// ExtractContent returns the encapsulated content of an attached
// SignedData (without verifying it; use Verify for that).
func ExtractContent(data []byte) ([]byte, error) {
	sd, err := ParseSignedData(data)
	if err != nil {
		return nil, err
	}
	if !sd.HasContent {
		return nil, fmt.Errorf("cms: the signature is detached; it carries no content")
	}
	return sd.Content, nil
}
