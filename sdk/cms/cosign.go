package cms

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
)

// CoSign adds a signer to an existing SignedData (DER or BER) and returns
// the DER message. Existing SignerInfos are kept byte for byte (after BER
// normalisation, which leaves DER-encoded SignerInfos unchanged); only the
// SET wrappers are re-encoded. The signer's certificate and opts.Chain are
// merged into the certificates (no duplicates) and its digest algorithm into
// digestAlgorithms.
//
// For an attached message the content is taken from it and detached must
// be nil; for a detached message detached supplies the content (read once,
// hashed as read). CoSignDigest takes a precomputed digest instead.
func CoSign(signedData []byte, detached io.Reader, signer crypto.Signer, cert *x509.Certificate, opts *SignOptions) ([]byte, error) {
	sd, err := ParseSignedData(signedData)
	if err != nil {
		return nil, err
	}
	p, err := newSignPlan(signer, cert, coSignOpts(sd, opts))
	if err != nil {
		return nil, err
	}
	h := p.digest.newHash()
	switch {
	case sd.HasContent && detached != nil:
		return nil, fmt.Errorf("cms: co-sign: the message is attached; do not pass content")
	case sd.HasContent:
		h.Write(sd.Content)
	case detached == nil:
		return nil, fmt.Errorf("cms: co-sign: %w", ErrContentMissing)
	default:
		if _, err := io.Copy(h, detached); err != nil {
			return nil, fmt.Errorf("cms: co-sign: read content: %w", err)
		}
	}
	return coSign(sd, p, h.Sum(nil))
}

// CoSignDigest adds a signer to a detached SignedData given the content
// digest under the digest opts selects.
func CoSignDigest(signedData []byte, digest []byte, signer crypto.Signer, cert *x509.Certificate, opts *SignOptions) ([]byte, error) {
	sd, err := ParseSignedData(signedData)
	if err != nil {
		return nil, err
	}
	p, err := newSignPlan(signer, cert, coSignOpts(sd, opts))
	if err != nil {
		return nil, err
	}
	if len(digest) != p.digest.newHash().Size() {
		return nil, fmt.Errorf("cms: co-sign: digest is %d bytes, %s needs %d", len(digest), p.digest.Name, p.digest.newHash().Size())
	}
	return coSign(sd, p, digest)
}

// coSignOpts keeps the message's content type for the new signer.
func coSignOpts(sd *SignedData, opts *SignOptions) *SignOptions {
	var o SignOptions
	if opts != nil {
		o = *opts
	}
	o.ContentType = sd.ContentType
	o.Detached = !sd.HasContent
	return &o
}

func coSign(sd *SignedData, p *signPlan, contentDigest []byte) ([]byte, error) {
	si, err := p.signerInfo(contentDigest)
	if err != nil {
		return nil, err
	}
	digestAlgs := append([][]byte(nil), sd.rawDigestAlgs...)
	known := false
	for _, a := range sd.DigestAlgorithms {
		if a.Algorithm.Equal(p.digest.OID) {
			known = true
		}
	}
	if !known {
		da, err := p.digestAlgDER()
		if err != nil {
			return nil, err
		}
		digestAlgs = append(digestAlgs, da)
	}
	certs := append([][]byte(nil), sd.RawCertificates...)
	for _, c := range p.certificates() {
		dup := false
		for _, e := range certs {
			if bytes.Equal(e, c) {
				dup = true
				break
			}
		}
		if !dup {
			certs = append(certs, c)
		}
	}
	sis := make([][]byte, 0, len(sd.Signers)+1)
	for _, s := range sd.Signers {
		sis = append(sis, s.Raw)
	}
	sis = append(sis, si)
	return sd.reencode(digestAlgs, certs, sis)
}
