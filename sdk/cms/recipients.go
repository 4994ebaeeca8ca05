package cms

// Recipient identification: RecipientIdentifier (issuer and serial, or
// subject key identifier) in both directions, and EnvelopeRecipients.

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// envAddRecipientID writes a RecipientIdentifier (key transport) or
// KeyAgreeRecipientIdentifier (key agreement) for cert.
func envAddRecipientID(b *cryptobyte.Builder, cert *x509.Certificate, useSKI, agree bool) {
	switch {
	case !useSKI:
		b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { // IssuerAndSerialNumber
			b.AddBytes(cert.RawIssuer)
			b.AddASN1BigInt(cert.SerialNumber)
		})
	case agree:
		b.AddASN1(envTagCtx0Cons, func(b *cryptobyte.Builder) { // rKeyId RecipientKeyIdentifier
			b.AddASN1OctetString(cert.SubjectKeyId)
		})
	default:
		b.AddASN1(envTagCtx0Prim, func(b *cryptobyte.Builder) { // subjectKeyIdentifier
			b.AddBytes(cert.SubjectKeyId)
		})
	}
}

func envCheckSKI(cert *x509.Certificate, opts EncryptOptions) error {
	if opts.UseSubjectKeyID && len(cert.SubjectKeyId) == 0 {
		return errors.New("certificate has no subject key identifier")
	}
	return nil
}

// envRecipientEntry is one recipient named in the message: a
// KeyTransRecipientInfo, one RecipientEncryptedKey of a
// KeyAgreeRecipientInfo, or a recipient kind this package cannot use.
type envRecipientEntry struct {
	kind string
	kt   *envKeyTrans
	ka   *envKeyAgree
	rek  *envRecipientEncryptedKey
}

func (e *envRecipientEntry) rid() *envRecipientID {
	switch {
	case e.kt != nil:
		return &e.kt.rid
	case e.rek != nil:
		return &e.rek.rid
	}
	return nil
}

// Names of RecipientInfo kinds (RFC 5652 §6.2), as EnvelopeRecipient.Kind.
const (
	RecipientKeyTransport = "KeyTransRecipientInfo"
	RecipientKeyAgreement = "KeyAgreeRecipientInfo"
	RecipientKEK          = "KEKRecipientInfo"
	RecipientPassword     = "PasswordRecipientInfo"
	RecipientOther        = "OtherRecipientInfo"
)

// entries parses every RecipientInfo.
func (env *envelopedData) entries() ([]envRecipientEntry, error) {
	var out []envRecipientEntry
	for i, raw := range env.recipients {
		s := cryptobyte.String(raw)
		var tag casn1.Tag
		var body cryptobyte.String
		if !s.ReadAnyASN1(&body, &tag) {
			return nil, envMalformed("RecipientInfo %d", i)
		}
		switch tag {
		case casn1.SEQUENCE:
			kt, err := envParseKeyTrans(body)
			if err != nil {
				return nil, fmt.Errorf("RecipientInfo %d: %w", i, err)
			}
			out = append(out, envRecipientEntry{kind: RecipientKeyTransport, kt: kt})
		case envTagCtx1Cons:
			ka, err := envParseKeyAgree(body)
			if err != nil {
				return nil, fmt.Errorf("RecipientInfo %d: %w", i, err)
			}
			for k := range ka.keys {
				out = append(out, envRecipientEntry{kind: RecipientKeyAgreement, ka: ka, rek: &ka.keys[k]})
			}
		case envTagCtx2Cons:
			out = append(out, envRecipientEntry{kind: RecipientKEK})
		case casn1.Tag(3).ContextSpecific().Constructed():
			out = append(out, envRecipientEntry{kind: RecipientPassword})
		case casn1.Tag(4).ContextSpecific().Constructed():
			out = append(out, envRecipientEntry{kind: RecipientOther})
		default:
			return nil, envMalformed("RecipientInfo %d (unknown tag %#x)", i, uint8(tag))
		}
	}
	return out, nil
}

// EnvelopeRecipient is one recipient as named in an EnvelopedData or
// AuthEnvelopedData: what a caller needs to pick the certificate and key to
// decrypt with.
type EnvelopeRecipient struct {
	// Kind is RecipientKeyTransport, RecipientKeyAgreement, or a kind
	// Decrypt does not handle (RecipientKEK, RecipientPassword,
	// RecipientOther), for which the other fields are empty.
	Kind string
	// KeyEncryptionAlgorithm is rsaEncryption or id-RSAES-OAEP for key
	// transport, the ECDH KDF scheme for key agreement.
	KeyEncryptionAlgorithm asn1.ObjectIdentifier
	// RawIssuer (DER Name) and SerialNumber are set when the recipient is
	// named by issuer and serial number; SubjectKeyID otherwise.
	RawIssuer    []byte
	SerialNumber *big.Int
	SubjectKeyID []byte
}

// Matches reports whether cert is the certificate this recipient names.
func (r *EnvelopeRecipient) Matches(cert *x509.Certificate) bool {
	if r.SubjectKeyID == nil && r.SerialNumber == nil {
		return false
	}
	id := envRecipientID{issuer: r.RawIssuer, serial: r.SerialNumber, ski: r.SubjectKeyID}
	return id.matches(cert)
}

// EnvelopeRecipients lists the recipients of an EnvelopedData or
// AuthEnvelopedData (DER or BER) without decrypting anything, so that a
// caller holding several keys can find the one to use.
func EnvelopeRecipients(der []byte) ([]EnvelopeRecipient, error) {
	if len(der) > MaxEnvelopeSize {
		return nil, fmt.Errorf("cms: recipients: input of %d bytes exceeds the %d byte limit", len(der), MaxEnvelopeSize)
	}
	norm, err := normalizeBER(der)
	if err != nil {
		return nil, err
	}
	env, err := parseEnvelopedData(norm)
	if err != nil {
		return nil, fmt.Errorf("cms: recipients: %w", err)
	}
	entries, err := env.entries()
	if err != nil {
		return nil, fmt.Errorf("cms: recipients: %w", err)
	}
	out := make([]EnvelopeRecipient, 0, len(entries))
	for _, e := range entries {
		r := EnvelopeRecipient{Kind: e.kind}
		if rid := e.rid(); rid != nil {
			r.RawIssuer = bytes.Clone(rid.issuer)
			r.SerialNumber = rid.serial
			r.SubjectKeyID = bytes.Clone(rid.ski)
		}
		switch {
		case e.kt != nil:
			r.KeyEncryptionAlgorithm = e.kt.alg
		case e.ka != nil:
			r.KeyEncryptionAlgorithm = e.ka.kdfOID
		}
		out = append(out, r)
	}
	return out, nil
}

// envRecipientID is a parsed IssuerAndSerialNumber or subject key identifier.
type envRecipientID struct {
	issuer []byte // raw Name
	serial *big.Int
	ski    []byte
}

func (r *envRecipientID) matches(cert *x509.Certificate) bool {
	if r.ski != nil {
		return len(cert.SubjectKeyId) > 0 && bytes.Equal(r.ski, cert.SubjectKeyId)
	}
	return r.serial != nil && cert.SerialNumber != nil &&
		r.serial.Cmp(cert.SerialNumber) == 0 && envNamesEqual(r.issuer, cert.RawIssuer)
}

// envNamesEqual compares two DER Names: byte for byte, or else attribute
// by attribute ignoring the string type and letter case (a producer may
// re-encode the issuer, say PrintableString as UTF8String), roughly as
// OpenSSL's canonical X509_NAME_cmp does.
func envNamesEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var na, nb pkix.RDNSequence
	if rest, err := asn1.Unmarshal(a, &na); err != nil || len(rest) != 0 {
		return false
	}
	if rest, err := asn1.Unmarshal(b, &nb); err != nil || len(rest) != 0 {
		return false
	}
	if len(na) != len(nb) {
		return false
	}
	for i := range na {
		if len(na[i]) != len(nb[i]) {
			return false
		}
		for j := range na[i] {
			x, y := na[i][j], nb[i][j]
			if !x.Type.Equal(y.Type) {
				return false
			}
			xs, ok1 := x.Value.(string)
			ys, ok2 := y.Value.(string)
			if !ok1 || !ok2 || !strings.EqualFold(strings.Join(strings.Fields(xs), " "), strings.Join(strings.Fields(ys), " ")) {
				return false
			}
		}
	}
	return true
}

// envParseIssuerAndSerial reads IssuerAndSerialNumber ::= SEQUENCE { issuer
// Name, serialNumber INTEGER }.
func envParseIssuerAndSerial(s *cryptobyte.String) (envRecipientID, bool) {
	var ias cryptobyte.String
	var issuer cryptobyte.String
	serial := new(big.Int)
	if !s.ReadASN1(&ias, casn1.SEQUENCE) ||
		!ias.ReadASN1Element(&issuer, casn1.SEQUENCE) ||
		!ias.ReadASN1Integer(serial) || !ias.Empty() {
		return envRecipientID{}, false
	}
	return envRecipientID{issuer: issuer, serial: serial}, true
}
