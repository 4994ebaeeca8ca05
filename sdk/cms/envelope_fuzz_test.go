package cms

import (
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDecrypt parses EnvelopedData (DER or BER) from arbitrary bytes and
// runs Decrypt with fixed RSA and EC recipients. It must never panic; any
// input that decrypts must have named one of the recipients.
func FuzzDecrypt(f *testing.F) {
	rs := envFixture(f)
	rsaR, ecR := rs["rsa2048"], rs["p256"]
	content := []byte("fuzz seed content")
	for _, opts := range []EncryptOptions{
		{},
		{RSAKeyTransport: RSAOAEPSHA256, ContentEncryption: AES128CBC},
		{UseSubjectKeyID: true},
		{ContentEncryption: AES256GCM},
	} {
		for _, certs := range [][]*x509.Certificate{
			{rsaR.cert}, {ecR.cert}, {rsaR.cert, ecR.cert},
		} {
			der, err := Encrypt(content, certs, opts)
			require.NoError(f, err)
			f.Add(der)
		}
	}
	// A BER (indefinite length) envelope: the ContentInfo and EnvelopedData
	// re-encoded with 0x80 lengths.
	if der, err := Encrypt(content, []*x509.Certificate{ecR.cert}, EncryptOptions{}); err == nil {
		f.Add(envIndefinite(der))
	}
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})

	f.Fuzz(func(t *testing.T, data []byte) {
		if list, err := EnvelopeRecipients(data); err == nil {
			for i := range list {
				list[i].Matches(rsaR.cert)
			}
		}
		if out, err := Decrypt(data, rsaR.cert, rsaR.key); err == nil {
			require.NotNil(t, out, "nil content without error")
		}
		if out, err := Decrypt(data, ecR.cert, ecR.key); err == nil {
			require.NotNil(t, out, "nil content without error")
		}
	})
}

// envIndefinite rewrites the outer two SEQUENCE levels of a DER ContentInfo
// (SEQUENCE { OID, [0] { SEQUENCE … } }) with indefinite lengths.
func envIndefinite(der []byte) []byte {
	hdr := func(b []byte) (int, int) { // header length, content length
		if b[1] < 0x80 {
			return 2, int(b[1])
		}
		n := int(b[1] & 0x7f)
		l := 0
		for i := 0; i < n; i++ {
			l = l<<8 | int(b[2+i])
		}
		return 2 + n, l
	}
	h0, _ := hdr(der)
	body := der[h0:]
	oidLen := 2 + int(body[1])
	oid := body[:oidLen]
	ctx := body[oidLen:]
	h1, _ := hdr(ctx)
	inner := ctx[h1:]
	h2, l2 := hdr(inner)
	ed := inner[h2 : h2+l2]
	out := []byte{0x30, 0x80}
	out = append(out, oid...)
	out = append(out, 0xa0, 0x80, 0x30, 0x80)
	out = append(out, ed...)
	return append(out, 0, 0, 0, 0, 0, 0)
}
