package cms

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/big"
	"time"
)

// Reasons a signer fails verification. SignerReport.Errors wraps them with
// details; test with errors.Is.
var (
	ErrNoSigners                  = errors.New("cms: the message has no signers")
	ErrContentMissing             = errors.New("cms: detached signature and no content given")
	ErrSignerCertificateNotFound  = errors.New("cms: signer certificate not found")
	ErrContentTypeMismatch        = errors.New("cms: contentType attribute does not match eContentType")
	ErrContentDigestMismatch      = errors.New("cms: content digest does not match messageDigest")
	ErrSignatureInvalid           = errors.New("cms: signature is invalid")
	ErrSigningCertificateMismatch = errors.New("cms: signingCertificate attribute does not match the signer certificate")
	ErrCertificateExpired         = errors.New("cms: certificate expired or not yet valid at the validation time")
	ErrChainUntrusted             = errors.New("cms: certificate does not chain to a trusted root")
	ErrChainInvalid               = errors.New("cms: certificate chain is invalid")
	ErrTimestampImprintMismatch   = errors.New("cms: timestamp is over a different value than the signature")
	ErrTimestampInvalid           = errors.New("cms: timestamp token is invalid")
)

// VerifyOptions are the per-call choices for verification.
type VerifyOptions struct {
	// Roots are the trusted roots. nil means the chain is not checked
	// (ChainNotChecked) and a signer is valid on its cryptography alone.
	Roots *x509.CertPool
	// Intermediates adds to the certificates found in the message.
	Intermediates *x509.CertPool
	// Certificates are candidate signer certificates for messages that do
	// not carry their own.
	Certificates []*x509.Certificate
	// KeyUsages for the signer certificate chain; nil means any.
	KeyUsages []x509.ExtKeyUsage
	// TSARoots are the roots for timestamp tokens; nil means Roots.
	TSARoots *x509.CertPool
	// Time is the validation time used when a signer has neither a valid
	// timestamp nor a signingTime; zero means now.
	Time time.Time
	// Registry is the algorithm table; nil means the built-in one.
	Registry *Registry
}

// ChainStatus summarises the certificate path check.
type ChainStatus string

const (
	ChainValid      ChainStatus = "valid"
	ChainNotChecked ChainStatus = "not-checked"
	ChainExpired    ChainStatus = "expired"
	ChainUntrusted  ChainStatus = "untrusted"
	ChainInvalid    ChainStatus = "invalid"
)

// Report is the result of Verify.
type Report struct {
	ContentType asn1.ObjectIdentifier
	Detached    bool
	// Content is the encapsulated content of an attached signature.
	Content    []byte
	Signers    []*SignerReport
	SignedData *SignedData
}

// Valid reports whether there is at least one signer and all are valid.
func (r *Report) Valid() bool {
	if r == nil || len(r.Signers) == 0 {
		return false
	}
	for _, s := range r.Signers {
		if !s.Valid() {
			return false
		}
	}
	return true
}

// SignerReport is the verification outcome for one SignerInfo.
type SignerReport struct {
	Index        int
	Subject      string
	Issuer       string
	SerialNumber *big.Int
	// SerialHex is the certificate serial in lowercase hex
	// (E-IMZO signer_serial_number).
	SerialHex   string
	Certificate *x509.Certificate
	// Chain is the verified path, signer first, when ChainStatus is valid.
	Chain []*x509.Certificate

	DigestAlgorithm    string
	DigestOID          asn1.ObjectIdentifier
	SignatureAlgorithm string
	SignatureOID       asn1.ObjectIdentifier
	// SignatureHex is hex(signature value) (E-IMZO signature_hex).
	SignatureHex string

	SigningTime    time.Time
	HasSigningTime bool
	Timestamp      *TimestampReport
	// ValidationTime is the time the chain was checked at: timestamp time,
	// else signingTime, else VerifyOptions.Time or now.
	ValidationTime time.Time

	ContentDigestOK bool
	SignatureOK     bool
	// SigningCertificatePresent is set when an ESS signingCertificate(V2)
	// attribute is present; SigningCertificateOK when it matches.
	SigningCertificatePresent bool
	SigningCertificateOK      bool
	ChainStatus               ChainStatus

	// Errors lists every failure, each wrapping one of the Err* reasons.
	Errors []error
}

// Valid reports whether the signer passed every check.
func (s *SignerReport) Valid() bool { return len(s.Errors) == 0 }

// Err returns the signer's failures joined, or nil.
func (s *SignerReport) Err() error { return errors.Join(s.Errors...) }

func (s *SignerReport) fail(reason error, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if msg == "" {
		s.Errors = append(s.Errors, reason)
		return
	}
	s.Errors = append(s.Errors, fmt.Errorf("%w: %s", reason, msg))
}

// TimestampReport describes a signatureTimeStampToken.
type TimestampReport struct {
	Time          time.Time
	TSA           string // subject of the TSA certificate
	Certificate   *x509.Certificate
	SerialNumber  *big.Int
	Policy        asn1.ObjectIdentifier
	HashAlgorithm asn1.ObjectIdentifier
	ChainStatus   ChainStatus
	Errors        []error
}

// Valid reports whether the token passed every check.
func (t *TimestampReport) Valid() bool { return t != nil && len(t.Errors) == 0 }

// Verify parses a DER or BER SignedData and verifies every signer.
// detached supplies the content of a detached signature (nil for attached).
// The error is non-nil when the message cannot be parsed, has no signers,
// or any signer fails; the report is returned whenever parsing succeeded.
func Verify(data []byte, detached io.Reader, opts *VerifyOptions) (*Report, error) {
	var o VerifyOptions
	if opts != nil {
		o = *opts
	}
	sd, err := ParseSignedData(data)
	if err != nil {
		return nil, err
	}
	rep := &Report{ContentType: sd.ContentType, Detached: !sd.HasContent, SignedData: sd}
	if sd.HasContent {
		rep.Content = sd.Content
	}
	if len(sd.Signers) == 0 {
		return rep, ErrNoSigners
	}
	digests, err := contentDigests(sd, detached, &o)
	if err != nil {
		return rep, err
	}
	for i := range sd.Signers {
		rep.Signers = append(rep.Signers, verifySigner(sd, i, digests, &o, false, nil))
	}
	var errs []error
	for _, s := range rep.Signers {
		if !s.Valid() {
			errs = append(errs, fmt.Errorf("signer %d (%s): %w", s.Index, s.Subject, s.Err()))
		}
	}
	return rep, errors.Join(errs...)
}

// VerifyDigest verifies a detached SignedData given only the content's
// digest under the digest algorithm digestOID (for a caller that hashed the
// document where it arrived). A signer that used another digest algorithm
// fails with ErrContentMissing.
func VerifyDigest(data []byte, digestOID asn1.ObjectIdentifier, digest []byte, opts *VerifyOptions) (*Report, error) {
	var o VerifyOptions
	if opts != nil {
		o = *opts
	}
	sd, err := ParseSignedData(data)
	if err != nil {
		return nil, err
	}
	rep := &Report{ContentType: sd.ContentType, Detached: !sd.HasContent, SignedData: sd, Content: sd.Content}
	if len(sd.Signers) == 0 {
		return rep, ErrNoSigners
	}
	digests := map[string][]byte{digestOID.String(): digest}
	var errs []error
	for i, si := range sd.Signers {
		var s *SignerReport
		if !si.DigestAlgorithm.Algorithm.Equal(digestOID) {
			s = &SignerReport{Index: i, SerialNumber: si.SerialNumber, SerialHex: si.SerialHex(), ChainStatus: ChainNotChecked,
				DigestOID: si.DigestAlgorithm.Algorithm, SignatureOID: si.SignatureAlgorithm.Algorithm, SignatureHex: si.SignatureHex()}
			s.fail(ErrContentMissing, "signer uses digest %v, the caller gave %v", si.DigestAlgorithm.Algorithm, digestOID)
		} else {
			s = verifySigner(sd, i, digests, &o, false, nil)
		}
		rep.Signers = append(rep.Signers, s)
		if !s.Valid() {
			errs = append(errs, fmt.Errorf("signer %d (%s): %w", s.Index, s.Subject, s.Err()))
		}
	}
	return rep, errors.Join(errs...)
}

// contentDigests hashes the content once for every digest algorithm the
// signers use. Unknown algorithms are skipped (the signer reports them).
func contentDigests(sd *SignedData, detached io.Reader, o *VerifyOptions) (map[string][]byte, error) {
	reg := registryOr(o.Registry)
	hashes := map[string]hash.Hash{}
	var ws []io.Writer
	for _, si := range sd.Signers {
		key := si.DigestAlgorithm.Algorithm.String()
		if _, ok := hashes[key]; ok {
			continue
		}
		d, err := reg.DigestByOID(si.DigestAlgorithm.Algorithm)
		if err != nil {
			continue
		}
		h := d.newHash()
		hashes[key] = h
		ws = append(ws, h)
	}
	out := map[string][]byte{}
	if len(ws) == 0 {
		return out, nil
	}
	switch {
	case sd.HasContent:
		for _, w := range ws {
			w.Write(sd.Content)
		}
	case detached != nil:
		if _, err := io.Copy(io.MultiWriter(ws...), detached); err != nil {
			return nil, fmt.Errorf("cms: verify: read content: %w", err)
		}
	default:
		return nil, ErrContentMissing
	}
	for k, h := range hashes {
		out[k] = h.Sum(nil)
	}
	return out, nil
}

func describeAlg(reg *Registry, alg pkix.AlgorithmIdentifier, sig bool) string {
	if sig {
		if e, err := reg.SignatureByIdentifier(alg); err == nil {
			return e.Name
		}
	} else if d, err := reg.DigestByOID(alg.Algorithm); err == nil {
		return d.Name
	}
	return alg.Algorithm.String()
}

// verifySigner checks one signer. tsa marks a timestamp token signer
// (no nested timestamp, timeStamping key usage, TSARoots); extra are
// further intermediates (a token's chain may be in the outer message).
// Every failure is recorded in the report, in the order of the checks.
func verifySigner(sd *SignedData, idx int, digests map[string][]byte, o *VerifyOptions, tsa bool, extra []*x509.Certificate) *SignerReport {
	reg := registryOr(o.Registry)
	si := sd.Signers[idx]
	r := newSignerReport(idx, si, reg)
	cert := si.Certificate
	if cert == nil {
		cert = findSignerCert(si, o.Certificates)
		si.Certificate = cert
	}
	if cert == nil {
		r.SerialHex = bigIntHex(si.SerialNumber)
		r.fail(ErrSignerCertificateNotFound, "serial %s", r.SerialHex)
		return r
	}
	r.Certificate = cert
	r.Subject = cert.Subject.String()
	r.Issuer = cert.Issuer.String()
	r.SerialNumber = cert.SerialNumber
	r.SerialHex = bigIntHex(cert.SerialNumber)
	r.SigningTime, r.HasSigningTime = si.SigningTime()

	d, err := reg.DigestByOID(si.DigestAlgorithm.Algorithm)
	if err != nil {
		r.fail(err, "")
		return r
	}
	sigAlg, err := reg.SignatureByIdentifier(si.SignatureAlgorithm)
	if err != nil {
		r.fail(err, "")
		return r
	}
	message, msgDigest, ok := signedMessage(sd, si, d, sigAlg, digests[si.DigestAlgorithm.Algorithm.String()], r)
	if !ok {
		return r
	}
	checkSignature(si, cert, sigAlg, d, message, msgDigest, r)
	checkSigningCertificate(si, cert, reg, r)
	r.ValidationTime = checkTimestamp(sd, si, o, tsa, r)
	checkChain(sd, cert, o, tsa, extra, r)
	return r
}

// newSignerReport is the report of signer idx before any check: what the
// SignerInfo itself says.
func newSignerReport(idx int, si *SignerInfo, reg *Registry) *SignerReport {
	return &SignerReport{
		Index:              idx,
		SerialNumber:       si.SerialNumber,
		DigestOID:          si.DigestAlgorithm.Algorithm,
		SignatureOID:       si.SignatureAlgorithm.Algorithm,
		DigestAlgorithm:    describeAlg(reg, si.DigestAlgorithm, false),
		SignatureAlgorithm: describeAlg(reg, si.SignatureAlgorithm, true),
		SignatureHex:       hex.EncodeToString(si.Signature),
		ChainStatus:        ChainNotChecked,
	}
}

// signedMessage returns the message the signature covers and its digest:
// the signed attributes (after checking them against the content's digest
// contentDigest) or, without them, the content itself. It reports false
// when the signature cannot be checked at all.
func signedMessage(sd *SignedData, si *SignerInfo, d *DigestAlgorithm, sigAlg *SignatureAlgorithm, contentDigest []byte, r *SignerReport) (message, msgDigest []byte, ok bool) {
	if !si.HasSignedAttributes {
		// No signed attributes: the signature is over the content itself.
		r.ContentDigestOK = true
		if sd.Content == nil && sigAlg.Name == "Ed25519" {
			r.fail(ErrUnsupportedAlgorithm, "Ed25519 over detached content without signed attributes")
			return nil, nil, false
		}
		return sd.Content, contentDigest, true
	}
	checkSignedAttributes(sd, si, d, contentDigest, r)
	message = append([]byte(nil), si.RawSignedAttributes...)
	message[0] = 0x31
	h := d.newHash()
	h.Write(message)
	return message, h.Sum(nil), true
}

// checkSignedAttributes checks that the attributes RFC 5652 §11 defines
// appear once, and that contentType and messageDigest match the content.
func checkSignedAttributes(sd *SignedData, si *SignerInfo, d *DigestAlgorithm, contentDigest []byte, r *SignerReport) {
	for _, oid := range []asn1.ObjectIdentifier{OIDAttributeContentType, OIDAttributeMessageDigest, OIDAttributeSigningTime, OIDAttributeSigningCertificateV2} {
		n := 0
		for _, a := range si.SignedAttributes {
			if a.Type.Equal(oid) {
				n++
			}
		}
		if n > 1 {
			r.fail(ErrMalformed, "signed attribute %v appears %d times", oid, n)
		}
	}
	ct := findAttr(si.SignedAttributes, OIDAttributeContentType)
	var ctOID asn1.ObjectIdentifier
	if ct == nil || len(ct.Values) != 1 {
		r.fail(ErrContentTypeMismatch, "contentType attribute missing")
	} else if rest, err := asn1.Unmarshal(ct.Values[0], &ctOID); err != nil || len(rest) > 0 || !ctOID.Equal(sd.ContentType) {
		r.fail(ErrContentTypeMismatch, "attribute %v, eContentType %v", ctOID, sd.ContentType)
	}
	md := findAttr(si.SignedAttributes, OIDAttributeMessageDigest)
	var mdVal []byte
	if md == nil || len(md.Values) != 1 {
		r.fail(ErrContentDigestMismatch, "messageDigest attribute missing")
	} else if rest, err := asn1.Unmarshal(md.Values[0], &mdVal); err != nil || len(rest) > 0 {
		r.fail(ErrContentDigestMismatch, "messageDigest attribute malformed")
	} else if !bytes.Equal(mdVal, contentDigest) {
		r.fail(ErrContentDigestMismatch, "%s of the content is %x, signed value %x", d.Name, contentDigest, mdVal)
	} else {
		r.ContentDigestOK = true
	}
}

// checkSignature verifies the signature value over message.
func checkSignature(si *SignerInfo, cert *x509.Certificate, sigAlg *SignatureAlgorithm, d *DigestAlgorithm, message, msgDigest []byte, r *SignerReport) {
	err := sigAlg.Verify(certPublicKey(cert), si.SignatureAlgorithm, d, message, msgDigest, si.Signature)
	switch {
	case err == nil:
		r.SignatureOK = true
	case errors.Is(err, errBadSignature):
		r.fail(ErrSignatureInvalid, "%s signature by %s", sigAlg.Name, r.Subject)
	default:
		r.fail(ErrSignatureInvalid, "%v", err)
	}
}

// checkTimestamp verifies the signer's signatureTimeStampToken (CAdES-T),
// when it has one and is not itself a token's signer, and returns the time
// the chain is checked at: the timestamp's, else the signingTime
// attribute's, else VerifyOptions.Time or now.
func checkTimestamp(sd *SignedData, si *SignerInfo, o *VerifyOptions, tsa bool, r *SignerReport) time.Time {
	validation := o.Time
	if validation.IsZero() {
		validation = time.Now()
	}
	if r.HasSigningTime && !tsa {
		// A token's chain is checked at its genTime (o.Time), not at
		// the signingTime attribute some TSAs add as well.
		validation = r.SigningTime
	}
	if tok, ok := si.TimestampToken(); ok && !tsa {
		r.Timestamp = verifyTimestampToken(tok, si.Signature, o, sd.Certificates)
		r.Errors = append(r.Errors, r.Timestamp.Errors...)
		if r.Timestamp.Valid() {
			validation = r.Timestamp.Time
		}
	}
	return validation
}

// checkChain builds the signer certificate's path to the roots (the TSA
// roots and the timeStamping usage for a token's signer) at
// r.ValidationTime, when there are roots to check against.
func checkChain(sd *SignedData, cert *x509.Certificate, o *VerifyOptions, tsa bool, extra []*x509.Certificate, r *SignerReport) {
	roots := o.Roots
	usages := o.KeyUsages
	if tsa {
		if o.TSARoots != nil {
			roots = o.TSARoots
		}
		usages = []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}
	}
	if usages == nil {
		usages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	}
	if roots == nil {
		return
	}
	inter := x509.NewCertPool()
	if o.Intermediates != nil {
		inter = o.Intermediates.Clone()
	}
	for _, c := range sd.Certificates {
		inter.AddCert(c)
	}
	for _, c := range extra {
		inter.AddCert(c)
	}
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   r.ValidationTime,
		KeyUsages:     usages,
	})
	var inv x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	switch {
	case err == nil:
		r.ChainStatus = ChainValid
		r.Chain = chains[0]
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		r.ChainStatus = ChainExpired
		r.fail(ErrCertificateExpired, "at %s: %v", r.ValidationTime.UTC().Format(time.RFC3339), err)
	case errors.As(err, &ua):
		r.ChainStatus = ChainUntrusted
		r.fail(ErrChainUntrusted, "%v", err)
	default:
		r.ChainStatus = ChainInvalid
		r.fail(ErrChainInvalid, "%v", err)
	}
}

// essCertID is ESSCertIDv2 / ESSCertID (the v1 form has no algorithm and
// uses SHA-1).
type essCertIDv2 struct {
	HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"`
	CertHash      []byte
	IssuerSerial  essIssuerSerial `asn1:"optional"`
}

type essCertIDv1 struct {
	CertHash     []byte
	IssuerSerial essIssuerSerial `asn1:"optional"`
}

type essIssuerSerial struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

type signingCertificateV2 struct {
	Certs    []essCertIDv2
	Policies asn1.RawValue `asn1:"optional"`
}

type signingCertificateV1 struct {
	Certs    []essCertIDv1
	Policies asn1.RawValue `asn1:"optional"`
}

// checkSigningCertificate checks ESS signingCertificateV2 (RFC 5035) or
// signingCertificate (RFC 2634) against the signer certificate.
func checkSigningCertificate(si *SignerInfo, cert *x509.Certificate, reg *Registry, r *SignerReport) {
	// Both attributes hold a list of certificate ids whose first entry names
	// the signer: a hash of the certificate (SHA-1 in v1, any digest in v2,
	// SHA-256 when absent) and an optional issuer and serial.
	var id essCertIDv2
	if a := findAttr(si.SignedAttributes, OIDAttributeSigningCertificateV2); a != nil {
		var v signingCertificateV2
		if !decodeSigningCertificate(a, &v, r) {
			return
		}
		if len(v.Certs) == 0 {
			r.fail(ErrSigningCertificateMismatch, "attribute malformed")
			return
		}
		id = v.Certs[0]
		if len(id.HashAlgorithm.Algorithm) == 0 {
			id.HashAlgorithm.Algorithm = OIDDigestSHA256
		}
	} else if a := findAttr(si.SignedAttributes, OIDAttributeSigningCertificate); a != nil {
		var v signingCertificateV1
		if !decodeSigningCertificate(a, &v, r) {
			return
		}
		if len(v.Certs) == 0 {
			r.fail(ErrSigningCertificateMismatch, "attribute malformed")
			return
		}
		id = essCertIDv2{
			HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: OIDDigestSHA1},
			CertHash:      v.Certs[0].CertHash,
			IssuerSerial:  v.Certs[0].IssuerSerial,
		}
	} else {
		return // neither attribute: nothing to check
	}

	d, err := reg.DigestByOID(id.HashAlgorithm.Algorithm)
	if err != nil {
		r.fail(ErrSigningCertificateMismatch, "hash %v: %v", id.HashAlgorithm.Algorithm, err)
		return
	}
	h := d.newHash()
	h.Write(cert.Raw)
	if !bytes.Equal(h.Sum(nil), id.CertHash) {
		r.fail(ErrSigningCertificateMismatch, "%s of the certificate differs from the signed hash", d.Name)
		return
	}
	if !issuerSerialMatches(id.IssuerSerial, cert) {
		r.fail(ErrSigningCertificateMismatch, "issuerSerial differs")
		return
	}
	r.SigningCertificateOK = true
}

// decodeSigningCertificate marks the attribute present and decodes its one
// value into v, recording a failure in r when it cannot.
func decodeSigningCertificate(a *ParsedAttribute, v any, r *SignerReport) bool {
	r.SigningCertificatePresent = true
	if len(a.Values) != 1 {
		r.fail(ErrSigningCertificateMismatch, "attribute has %d values", len(a.Values))
		return false
	}
	if rest, err := asn1.Unmarshal(a.Values[0], v); err != nil || len(rest) > 0 {
		r.fail(ErrSigningCertificateMismatch, "attribute malformed")
		return false
	}
	return true
}

// issuerSerialMatches compares an optional IssuerSerial with cert.
func issuerSerialMatches(is essIssuerSerial, cert *x509.Certificate) bool {
	if is.SerialNumber == nil {
		return true // absent
	}
	if is.SerialNumber.Cmp(cert.SerialNumber) != 0 {
		return false
	}
	// GeneralNames SEQUENCE { [4] EXPLICIT Name }: look for the issuer name.
	return bytes.Contains(is.Issuer.Bytes, cert.RawIssuer)
}
