package cms

import (
	"encoding/asn1"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Low-level ASN.1 structures shared by SignedData and EnvelopedData.

// ErrMalformed is returned (wrapped) when input is not a well-formed CMS
// structure.
var ErrMalformed = errors.New("cms: malformed input")

// asn1NULL is the DER NULL used as AlgorithmIdentifier parameters.
var asn1NULL = asn1.RawValue{Tag: asn1.TagNull, FullBytes: []byte{0x05, 0x00}}

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
