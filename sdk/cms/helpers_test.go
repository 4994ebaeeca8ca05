package cms

import (
	"crypto/x509"
	"encoding/asn1"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Encoders that only the tests need, to build malformed or mismatched
// messages.

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

// essSigningCertificateV2 returns the DER SigningCertificateV2 value.
func essSigningCertificateV2(cert *x509.Certificate, dig *DigestAlgorithm) ([]byte, error) {
	var d derBuf
	d.ess(cert, dig, dig.newHash())
	return d.b, nil
}
