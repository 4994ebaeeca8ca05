package cms

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
)

// toBER re-encodes DER the way Java streaming producers do: every
// constructed element with an indefinite length, and OCTET STRINGs longer
// than chunk as constructed strings of chunk-sized pieces.
//
// With java set, certificates and signed attributes stay DER, as real
// producers leave them (OpenSSL verifies those from their encoding). Without
// it everything is converted (our normaliser must undo it exactly).
func toBER(t testing.TB, der []byte, chunk int, java bool) []byte {
	t.Helper()
	var out []byte
	var walk func(in []byte) []byte
	walk = func(in []byte) []byte {
		for len(in) > 0 {
			tagLen := 1
			if in[0]&0x1f == 0x1f {
				for in[tagLen]&0x80 != 0 {
					tagLen++
				}
				tagLen++
			}
			l := int(in[tagLen])
			hdr := tagLen + 1
			if l&0x80 != 0 {
				n := l & 0x7f
				l = 0
				for i := 0; i < n; i++ {
					l = l<<8 | int(in[tagLen+1+i])
				}
				hdr += n
			}
			body := in[hdr : hdr+l]
			_, certErr := x509.ParseCertificate(in[:hdr+l])
			signedAttrs := in[0] == 0xa0 && bytes.HasPrefix(body, []byte{0x30}) &&
				bytes.Contains(body[:min(len(body), 16)], []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09})
			switch {
			case java && ((in[0] == 0x30 && certErr == nil) || signedAttrs):
				out = append(out, in[:hdr+l]...)
			case in[0]&0x20 != 0:
				out = append(out, in[:tagLen]...)
				out = append(out, 0x80)
				walk(body)
				out = append(out, 0, 0)
			case in[0] == 0x04 && l > chunk:
				out = append(out, 0x24, 0x80)
				for i := 0; i < l; i += chunk {
					end := min(i+chunk, l)
					out = append(out, 0x04)
					out = appendLength(out, end-i)
					out = append(out, body[i:end]...)
				}
				out = append(out, 0, 0)
			default:
				out = append(out, in[:hdr+l]...)
			}
			in = in[hdr+l:]
		}
		return out
	}
	return walk(der)
}

func TestBERRoundTrip(t *testing.T) {
	content := bytes.Repeat([]byte("java streaming "), 300) // 4500 bytes
	for _, v := range signVariants() {
		k := testKey(t, v.key)
		o := v.opts
		o.Chain = k.Chain
		der, err := Sign(content, k.Key, k.Certificate, &o)
		require.NoError(t, err)
		for _, chunk := range []int{1000, 7} {
			ber := toBER(t, der, chunk, false)
			require.False(t, bytes.Equal(ber, der), "toBER did nothing")
			norm, err := normalizeBER(ber)
			require.NoError(t, err, "%s", v.name)
			require.Equal(t, der, norm, "%s chunk %d: normalised BER differs from the original DER", v.name, chunk)
			rep, err := Verify(ber, nil, verifyOpts(t))
			require.NoError(t, err, "%s", v.name)
			require.Equal(t, content, rep.Content, "content")
		}
		if v.key != softhsmtest.Ed25519 {
			require.NoError(t, opensslVerify(t, toBER(t, der, 1000, true), nil, "-cades"), "%s: openssl on our BER", v.name)
		}
	}
	// DER input is returned as the same slice.
	k := testKey(t, softhsmtest.ECP256)
	der, _ := Sign([]byte("x"), k.Key, k.Certificate, nil)
	norm, err := normalizeBER(der)
	if assert.NoError(t, err, "DER input copied or rejected") {
		assert.Same(t, &der[0], &norm[0], "DER input copied or rejected")
	}
}

// TestBERCoSignAndTimestamp: co-signing and timestamping a BER message
// (E-IMZO style) keeps the existing signer and verifies.
func TestBERCoSign(t *testing.T) {
	a, b := testKey(t, softhsmtest.ECP256), testKey(t, softhsmtest.RSA2048)
	der, _ := Sign([]byte("eimzo-like"), a.Key, a.Certificate, &SignOptions{Chain: a.Chain})
	ber := toBER(t, der, 3, true)
	out, err := CoSign(ber, nil, b.Key, b.Certificate, &SignOptions{Digest: crypto.SHA256})
	require.NoError(t, err)
	sd0, _ := ParseSignedData(der)
	sd1, _ := ParseSignedData(out)
	assert.Equal(t, sd1.Signers[0].Raw, sd0.Signers[0].Raw, "existing signer changed")
	require.NoError(t, opensslVerify(t, out, nil, "-cades"))
}

func TestNormalizeBER(t *testing.T) {
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		require.NoError(t, err)
		return b
	}
	good := []struct{ name, in, want string }{
		{"der", "300302010a", "300302010a"},
		{"indefinite", "308002010a0000", "300302010a"},
		{"nested-indefinite", "30803080020101000002010200 00", "3008300302010102 0102"},
		{"chunked-octets", "2480040261620401630000", "0403616263"},
		{"nested-chunks", "24800402616224800401630000 0000", "0403616263"},
		{"empty-chunked", "24800000", "0400"},
		{"non-minimal-length", "04810261 62", "04026162"},
		{"non-minimal-long", "0482000261 62", "04026162"},
		{"bit-string-chunks", "2380030200ff03020780 0000", "030307ff80"},
		{"utf8-chunks", "2c800c01610c01620000", "0c026162"},
		{"context-constructed", "a080040161 0000", "a003040161"},
		{"high-tag", "bf8101800401610000", "bf8101030401 61"},
	}
	for _, g := range good {
		got, err := normalizeBER(h(stripSpaces(g.in)))
		if !assert.NoError(t, err, g.name) {
			continue
		}
		assert.Equal(t, h(stripSpaces(g.want)), got, "%s: got %x want %s", g.name, got, g.want)
	}
	deep := bytes.Repeat([]byte{0x30, 0x80}, maxBERDepth+2)
	bad := []struct{ name, in string }{
		{"empty", ""},
		{"truncated", "3005020101"},
		{"missing-eoc", "308002010a"},
		{"primitive-indefinite", "0480616200 00"},
		{"trailing", "3000ff"},
		{"foreign-chunk", "248002010100 00"},
		{"bitstring-unused-middle", "23800302018003020080 0000"},
		{"huge-length", "0485ffffffffff"},
		{"length-overflow", "0484ffffffff"},
		{"bad-high-tag", "1fffffffffffff0100"},
		{"deep", hex.EncodeToString(deep)},
	}
	for _, b := range bad {
		_, err := normalizeBER(h(stripSpaces(b.in)))
		assert.ErrorIs(t, err, ErrMalformed, "%s", b.name)
	}
}

func stripSpaces(s string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil))
}
