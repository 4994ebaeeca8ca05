package cms

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Low-level ASN.1 structures shared by SignedData and EnvelopedData.

// ErrMalformed is returned (wrapped) when input is not a well-formed CMS
// structure.
var ErrMalformed = errors.New("cms: malformed input")

// algorithmIdentifier is AlgorithmIdentifier (RFC 5280 §4.1.1.2).
type algorithmIdentifier = pkix.AlgorithmIdentifier

// issuerAndSerialNumber is IssuerAndSerialNumber (RFC 5652 §10.2.4).
// Issuer holds the issuer Name exactly as it appears in the certificate
// (cert.RawIssuer), so it compares byte for byte.
type issuerAndSerialNumber struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

// attribute is Attribute (RFC 5652 §5.3) with its values kept raw.
type attribute struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

// asn1NULL is the DER NULL used as AlgorithmIdentifier parameters.
var asn1NULL = asn1.RawValue{Tag: asn1.TagNull, FullBytes: []byte{0x05, 0x00}}

// marshalContentInfo wraps DER content in a ContentInfo (RFC 5652 §3):
// SEQUENCE { contentType OID, [0] EXPLICIT content }.
func marshalContentInfo(ct asn1.ObjectIdentifier, contentDER []byte) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(ct)
		b.AddASN1(casn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddBytes(contentDER)
		})
	})
	return b.Bytes()
}

// parseContentInfo parses a BER or DER ContentInfo and returns its content
// type and the DER of the [0] EXPLICIT content (the inner TLV).
func parseContentInfo(data []byte) (asn1.ObjectIdentifier, []byte, error) {
	der, err := normalizeBER(data)
	if err != nil {
		return nil, nil, err
	}
	in := cryptobyte.String(der)
	var seq, inner cryptobyte.String
	var ct asn1.ObjectIdentifier
	if !in.ReadASN1(&seq, casn1.SEQUENCE) || !in.Empty() {
		return nil, nil, fmt.Errorf("%w: ContentInfo is not a single SEQUENCE", ErrMalformed)
	}
	if !seq.ReadASN1ObjectIdentifier(&ct) {
		return nil, nil, fmt.Errorf("%w: ContentInfo contentType", ErrMalformed)
	}
	if !seq.ReadASN1(&inner, casn1.Tag(0).Constructed().ContextSpecific()) || !seq.Empty() {
		return nil, nil, fmt.Errorf("%w: ContentInfo content", ErrMalformed)
	}
	var elem cryptobyte.String
	var tag casn1.Tag
	if !inner.ReadAnyASN1Element(&elem, &tag) || !inner.Empty() {
		return nil, nil, fmt.Errorf("%w: ContentInfo content element", ErrMalformed)
	}
	return ct, []byte(elem), nil
}
