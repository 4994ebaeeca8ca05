package cms

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrContentMismatch: the content given to AttachContent is not the one the
// signatures cover.
var ErrContentMismatch = errors.New("cms: the content is not the signed content")

// AttachContent turns a detached SignedData into an attached one: content
// becomes the encapsulated content and every signer is kept byte for byte.
// Each signer must cover content (its messageDigest matches and its
// signature verifies), else ErrContentMismatch; a message that already
// carries content is refused.
func AttachContent(signedData, content []byte) ([]byte, error) {
	sd, err := ParseSignedData(signedData)
	if err != nil {
		return nil, err
	}
	if sd.HasContent {
		return nil, errors.New("cms: attach content: the signature already carries its content")
	}
	rep, err := Verify(signedData, bytes.NewReader(content), &VerifyOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrContentMismatch, err)
	}
	for _, s := range rep.Signers {
		if !s.SignatureOK || (sd.Signers[s.Index].HasSignedAttributes && !s.ContentDigestOK) {
			return nil, fmt.Errorf("%w (signer %d)", ErrContentMismatch, s.Index)
		}
	}
	sis := make([][]byte, len(sd.Signers))
	for i, s := range sd.Signers {
		sis[i] = s.Raw
	}
	sd.HasContent, sd.Content = true, content
	return sd.reencode(sd.rawDigestAlgs, sd.RawCertificates, sis)
}
